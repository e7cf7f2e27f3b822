package relay

import (
	"time"

	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/radiolink"
)

// RadioStatus is one radio's state at one moment, for status and metrics.
type RadioStatus struct {
	Link        string `json:"link"`  // store link, "radio:0"
	Port        string `json:"port"`  // serial device
	State       string `json:"state"` // of the modem driver: detecting, configuring, ready, lost, closed
	LastError   string `json:"last_error,omitempty"`
	Queued      int    `json:"queued"`       // envelopes the store owes this radio; -1 if unknown
	QueuedBytes int64  `json:"queued_bytes"` // their encoded bytes
	Neighbours  int    `json:"neighbours"`   // relays heard within the neighbour timeout

	AirtimeUsed   time.Duration `json:"airtime_used"`   // in the rolling duty-cycle window
	AirtimeBudget time.Duration `json:"airtime_budget"` // allowed per window

	Counters   radiolink.Stats `json:"counters"`   // the link's counters
	Dropped    uint64          `json:"rx_dropped"` // frames the driver dropped: its receive queue was full
	Reconnects uint64          `json:"reconnects"` // modem reconnections
	Signal     bool            `json:"heard"`      // a frame was heard; the next three are set
	RSSIDBm    int             `json:"last_rssi_dbm"`
	SNRdB      float64         `json:"last_snr_db"`
	LastRxAt   time.Time       `json:"last_rx_at"`
}

// radioView is what status reads of one running radio. Serve publishes the
// views once every radio has started, Reload once it has changed them, and
// Close withdraws them before it stops any, so that status readers never
// touch r.radios, which Serve, Reload (holding reloadMu) and Close write.
// A reader may still hold views of radios that Reload stopped: the objects
// stay safe to read after they are closed.
type radioView struct {
	port string
	link *radiolink.Link
	drv  *radio.RNode
	tap  *signalTap
}

// publishRadios makes the started radios visible to RadioStatus.
func (r *Relay) publishRadios() {
	views := make([]radioView, len(r.radios.links))
	for i, l := range r.radios.links {
		views[i] = radioView{port: r.radios.cfgs[i].Port, link: l, drv: r.radios.drivers[i], tap: r.radios.taps[i]}
	}
	r.radioViews.Store(&views)
}

// RadioStatus returns the state of each configured radio, in [[radio]]
// order; none before Serve or after Close.
func (r *Relay) RadioStatus() []RadioStatus {
	var views []radioView
	if p := r.radioViews.Load(); p != nil {
		views = *p
	}
	out := make([]RadioStatus, 0, len(views))
	for _, v := range views {
		l := v.link
		s := RadioStatus{
			Link:          l.Name(),
			Port:          v.port,
			AirtimeUsed:   l.Ledger().Used(),
			AirtimeBudget: l.Ledger().Budget(),
			Counters:      l.Stats(),
		}
		s.Neighbours = s.Counters.Neighbours
		drv := v.drv
		st, err := drv.Status()
		s.State = st.String()
		if err != nil {
			s.LastError = err.Error()
		}
		ds := drv.Stats()
		s.Dropped, s.Reconnects = ds.RxDropped, ds.Reconnects
		if sig := v.tap.lastSignal(); sig != nil {
			s.Signal, s.RSSIDBm, s.SNRdB, s.LastRxAt = true, sig.RSSIDBm, sig.SNRdB, sig.At
		}
		var qerr error
		if s.Queued, s.QueuedBytes, qerr = r.store.Owed(l.Name()); qerr != nil {
			s.Queued = -1
		}
		out = append(out, s)
	}
	return out
}
