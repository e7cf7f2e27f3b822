package relay

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnmesh/cairn/radio"
)

// signalTap stands between a modem and its link: it passes every packet on
// unchanged and remembers the signal of the last one, for metrics and the
// status page. The link package keeps per-neighbour SNR to itself; this
// sees every frame, neighbour or not. It adds one packet of buffering to
// the driver's receive queue; its policy at that bound is the driver's
// (newer frames are dropped and counted).
type signalTap struct {
	*radio.RNode
	rx   chan radio.Packet
	last atomic.Pointer[signal]
	stop chan struct{}
	wg   sync.WaitGroup
}

// signal is what one received packet said about the channel.
type signal struct {
	RSSIDBm int
	SNRdB   float64
	At      time.Time
}

func newSignalTap(drv *radio.RNode) *signalTap {
	t := &signalTap{RNode: drv, rx: make(chan radio.Packet), stop: make(chan struct{})}
	t.wg.Add(1)
	go t.run()
	return t
}

// Receive is the link's side of the tap.
func (t *signalTap) Receive() <-chan radio.Packet { return t.rx }

func (t *signalTap) run() {
	defer t.wg.Done()
	for {
		select {
		case p := <-t.RNode.Receive():
			t.last.Store(&signal{RSSIDBm: p.RSSIDBm, SNRdB: p.SNRdB, At: time.Now()})
			select {
			case t.rx <- p:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

// close stops the tap; call it after the link has stopped reading.
func (t *signalTap) close() {
	close(t.stop)
	t.wg.Wait()
}

// lastSignal is the last packet's signal, nil if none was heard.
func (t *signalTap) lastSignal() *signal { return t.last.Load() }
