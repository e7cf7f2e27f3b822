package relay

import (
	"bufio"
	"errors"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Metrics are written by hand in the Prometheus text exposition format
// (version 0.0.4, prometheus.io/docs/instrumenting/exposition_formats):
// every value already lives in a counter or a status snapshot somewhere in
// the relay, so a scrape only reads them. prometheus/client_golang would
// add a registry that mirrors them, a dozen modules and about 2 MB to a
// binary that must fit a Pi Zero; this file is the whole cost. Tests parse
// the output with prometheus/common/expfmt. docs/operations.md lists every
// metric.

// expo writes metric families. A family's samples must be written together,
// right after its header.
type expo struct{ w *bufio.Writer }

// family writes the HELP and TYPE lines.
func (e expo) family(name, typ, help string) {
	e.w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

// sample writes one sample; labels are name, value pairs.
func (e expo) sample(name string, v float64, labels ...string) {
	e.w.WriteString(name)
	if len(labels) > 0 {
		e.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.w.WriteByte(',')
			}
			e.w.WriteString(labels[i] + `="` + labelEscaper.Replace(labels[i+1]) + `"`)
		}
		e.w.WriteByte('}')
	}
	e.w.WriteByte(' ')
	e.w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	e.w.WriteByte('\n')
}

// one writes a family with a single unlabelled sample.
func (e expo) one(name, typ, help string, v float64) {
	e.family(name, typ, help)
	e.sample(name, v)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (r *Relay) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	r.writeMetrics(expo{bw})
}

func (r *Relay) writeMetrics(e expo) {
	st := r.Stats()
	ss := r.store.Stats()
	ups := r.Uplinks()
	rads := r.RadioStatus()

	e.family("cairn_build_info", "gauge", "Always 1; the version label is the build's git describe.")
	e.sample("cairn_build_info", 1, "version", r.version)
	e.one("cairn_uptime_seconds", "gauge", "Seconds since the relay started, on the monotonic clock.", r.Uptime().Seconds())
	e.one("cairn_ready", "gauge", "1 while /readyz answers 200: serving, with a store that answers.", b2f(r.Ready() == nil))
	e.one("cairn_mqtt_clients_connected", "gauge", "MQTT clients connected now.",
		float64(atomic.LoadInt64(&r.broker.Info.ClientsConnected)))
	// Connection caps (connlimit.go).
	e.one("cairn_mqtt_connections", "gauge", "MQTT connections open now on every listener, /mqtt included, before and after CONNECT.",
		float64(r.mqttConns.open.Load()))
	e.one("cairn_mqtt_connections_max", "gauge", "mqtt.max_clients: MQTT connections allowed open at once.", float64(r.mqttConns.max))
	e.one("cairn_mqtt_connections_refused_total", "counter", "MQTT connections refused because mqtt.max_clients were open.",
		float64(r.mqttConns.refused.Load()))
	e.one("cairn_http_connections", "gauge", "HTTP listener connections open now, those being sniffed for TLS included, /mqtt upgrades not.",
		float64(r.httpConns.open.Load()))
	e.one("cairn_http_connections_max", "gauge", "http.max_connections: HTTP connections allowed open at once.", float64(r.httpConns.max))
	e.one("cairn_http_connections_refused_total", "counter", "HTTP connections closed unanswered because http.max_connections were open.",
		float64(r.httpConns.refused.Load()))

	e.one("cairn_envelopes_accepted_total", "counter", "Envelopes newly stored, from any source.", float64(st.Accepted))
	e.one("cairn_envelopes_duplicate_total", "counter", "Envelopes acknowledged without storing: already seen.", float64(st.Duplicates))
	e.family("cairn_envelopes_refused_total", "counter", "Envelopes refused, by reason (the reason in the log line).")
	for _, k := range slices.Sorted(maps.Keys(st.Refused)) {
		e.sample("cairn_envelopes_refused_total", float64(st.Refused[k]), "reason", k)
	}
	e.one("cairn_envelopes_delivered_total", "counter", "Envelopes acknowledged by a local inbox subscriber.", float64(st.Delivered))
	e.one("cairn_receipts_applied_total", "counter", "Valid receipts applied.", float64(st.Receipts))
	e.one("cairn_envelopes_deleted_total", "counter", "Envelopes removed from the store by receipts.", float64(ss.Deleted))
	e.one("cairn_envelopes_evicted_total", "counter", "Envelopes removed from the store by the quota policy.", float64(ss.Evicted))
	e.one("cairn_envelopes_expired_total", "counter", "Envelopes removed from the store because their life ended.", float64(ss.Expired))
	e.family("cairn_auth_refused_total", "counter", "MQTT connections refused, by reason.")
	for _, k := range slices.Sorted(maps.Keys(st.AuthFailed)) {
		e.sample("cairn_auth_refused_total", float64(st.AuthFailed[k]), "reason", k)
	}

	e.one("cairn_store_envelopes", "gauge", "Envelopes in the store.", float64(ss.Count))
	e.one("cairn_store_bytes", "gauge", "Encoded bytes of the envelopes in the store.", float64(ss.Bytes))
	e.one("cairn_store_quota_bytes", "gauge", "store.max_total_bytes.", float64(r.cfg.Store.MaxTotalBytes))
	e.one("cairn_store_commits_total", "counter",
		"Store transactions committed, each fsync'd: about one per envelope on a quiet relay, each writing ~12 pages of the store file.",
		float64(ss.Commits))
	if n, err := writtenBytes(); err == nil {
		e.one("cairn_disk_written_bytes_total", "counter",
			"Bytes the relay process has had written to storage (write_bytes of /proc/self/io): the wear it puts on an SD card.", float64(n))
	}

	// Every outbound link's queue: what the store still owes it.
	type queue struct {
		link  string
		n     int
		bytes int64
	}
	var qs []queue
	for _, u := range ups {
		qs = append(qs, queue{u.Link, u.Queued, u.QueuedBytes})
	}
	for _, rs := range rads {
		qs = append(qs, queue{rs.Link, rs.Queued, rs.QueuedBytes})
	}
	e.family("cairn_link_queue_envelopes", "gauge", "Envelopes the store owes each outbound link (uplink:N, radio:N); -1 if unreadable.")
	for _, q := range qs {
		e.sample("cairn_link_queue_envelopes", float64(q.n), "link", q.link)
	}
	e.family("cairn_link_queue_bytes", "gauge", "Encoded bytes the store owes each outbound link.")
	for _, q := range qs {
		e.sample("cairn_link_queue_bytes", float64(q.bytes), "link", q.link)
	}

	e.family("cairn_uplink_connected", "gauge", "1 while the uplink's broker connection is up.")
	for _, u := range ups {
		e.sample("cairn_uplink_connected", b2f(u.Connected), "link", u.Link, "url", u.URL)
	}
	e.family("cairn_uplink_published_total", "counter", "Envelopes the uplink's broker acknowledged.")
	for _, u := range ups {
		e.sample("cairn_uplink_published_total", float64(u.Published), "link", u.Link)
	}
	e.family("cairn_uplink_received_total", "counter", "Envelopes taken in from the uplink's broker.")
	for _, u := range ups {
		e.sample("cairn_uplink_received_total", float64(u.Received), "link", u.Link)
	}
	e.family("cairn_uplink_last_success_seconds", "gauge", "Seconds since the uplink's last PUBACK or arrival; -1 if none.")
	for _, u := range ups {
		e.sample("cairn_uplink_last_success_seconds", since(u.LastSuccess), "link", u.Link)
	}

	radioFamily := func(name, typ, help string, v func(RadioStatus) float64) {
		e.family(name, typ, help)
		for _, rs := range rads {
			e.sample(name, v(rs), "link", rs.Link)
		}
	}
	e.family("cairn_radio_up", "gauge", "1 while the modem is configured and ready; the state label says where it is.")
	for _, rs := range rads {
		e.sample("cairn_radio_up", b2f(rs.State == "ready"), "link", rs.Link, "port", rs.Port, "state", rs.State)
	}
	radioFamily("cairn_radio_airtime_used_seconds", "gauge", "Airtime spent in the rolling duty-cycle window (one hour).",
		func(s RadioStatus) float64 { return s.AirtimeUsed.Seconds() })
	radioFamily("cairn_radio_airtime_budget_seconds", "gauge", "Airtime allowed per duty-cycle window.",
		func(s RadioStatus) float64 { return s.AirtimeBudget.Seconds() })
	radioFamily("cairn_radio_airtime_seconds_total", "counter", "Airtime of every frame sent.",
		func(s RadioStatus) float64 { return s.Counters.Airtime.Seconds() })
	radioFamily("cairn_radio_frames_sent_total", "counter", "Frames sent on air.",
		func(s RadioStatus) float64 { return float64(s.Counters.FramesSent) })
	radioFamily("cairn_radio_frames_received_total", "counter", "Frames received from the air.",
		func(s RadioStatus) float64 { return float64(s.Counters.FramesReceived) })
	radioFamily("cairn_radio_frames_bad_total", "counter", "Frames received that did not decode.",
		func(s RadioStatus) float64 { return float64(s.Counters.BadFrames) })
	radioFamily("cairn_radio_frames_dropped_total", "counter", "Frames lost on this host: the driver's receive queue was full.",
		func(s RadioStatus) float64 { return float64(s.Dropped) })
	radioFamily("cairn_radio_retransmissions_total", "counter", "Envelope transmissions that repeated one no neighbour acknowledged: frames lost on air.",
		func(s RadioStatus) float64 { return float64(s.Counters.Retransmissions) })
	radioFamily("cairn_radio_envelopes_sent_total", "counter", "Envelope transmissions, repeats included.",
		func(s RadioStatus) float64 { return float64(s.Counters.EnvelopesSent) })
	radioFamily("cairn_radio_directed_total", "counter", "Envelope transmissions directed to the one neighbour whose beacon claims the recipient's tag.",
		func(s RadioStatus) float64 { return float64(s.Counters.Directed) })
	radioFamily("cairn_radio_flooded_total", "counter", "Envelope transmissions to every neighbour (no claimant, a receipt, fragmented, or directed forwarding failed).",
		func(s RadioStatus) float64 { return float64(s.Counters.Flooded) })
	radioFamily("cairn_radio_directed_failed_total", "counter", "Envelopes flooded after their directed transmissions went unacknowledged.",
		func(s RadioStatus) float64 { return float64(s.Counters.DirectedFailed) })
	radioFamily("cairn_radio_neighbours", "gauge", "Relays heard within the neighbour timeout.",
		func(s RadioStatus) float64 { return float64(s.Neighbours) })
	radioFamily("cairn_radio_reconnects_total", "counter", "Times the modem was reconnected and reconfigured.",
		func(s RadioStatus) float64 { return float64(s.Reconnects) })
	// Signal: only for radios that heard something, so that a graph is
	// empty rather than a misleading 0 dBm.
	e.family("cairn_radio_rssi_dbm", "gauge", "RSSI of the last frame received.")
	for _, rs := range rads {
		if rs.Signal {
			e.sample("cairn_radio_rssi_dbm", float64(rs.RSSIDBm), "link", rs.Link)
		}
	}
	e.family("cairn_radio_snr_db", "gauge", "SNR of the last frame received.")
	for _, rs := range rads {
		if rs.Signal {
			e.sample("cairn_radio_snr_db", rs.SNRdB, "link", rs.Link)
		}
	}
}

// since is the seconds since t, or -1 for the zero time.
func since(t time.Time) float64 {
	if t.IsZero() {
		return -1
	}
	return time.Since(t).Seconds()
}

// writtenBytes reads write_bytes from /proc/self/io: bytes this process
// caused to be sent to the storage layer. Linux only; an error elsewhere.
func writtenBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("/proc/self/io: no write_bytes")
}
