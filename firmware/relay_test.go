package firmware

import (
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/radio/radiotest"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// relaySF is the spreading factor of TestRelaysOverModems: at SF7/125 kHz
// a 62-byte envelope is about 0.1 s on the air, which keeps the test within
// seconds; every delay of the radio link scales with airtime.
const relaySF = 7

// startRelay runs a relay whose one [[radio]] is the host-built modem at
// port, and closes it before the modem and the air go.
func startRelay(t *testing.T, name string, port string, addr uint16, seed uint64) *relay.Relay {
	t.Helper()
	cfg := relaytest.Config(t)
	cfg.Radios = []radio.Config{{
		Port: port, Region: "EU868", FrequencyHz: 869525000,
		SpreadingFactor: relaySF, DutyCyclePercent: 1,
	}}
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t).With("relay", name),
		RadioTuning: func(_ int, o *radiolink.Options) {
			// Short, so that a first beacon sent before the other relay's
			// modem listens is repeated within seconds.
			o.BeaconInterval = 5 * time.Second
			o.Address = addr
			o.Seed = seed
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("closing relay %s: %v", name, err)
		}
	})
	return r
}

// TestRelaysOverModems: two relays, each with its own host-built modem as
// its [[radio]], find each other by beacons over the simulated air; an
// envelope a client hands relay A reaches its recipient at relay B; the
// recipient's receipt comes back over the air and purges A's copy. The
// delivery time and the airtime are logged (go test -v -run
// TestRelaysOverModems ./firmware).
func TestRelaysOverModems(t *testing.T) {
	air, err := radiotest.NewAir(3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { air.Close() })
	air.Connect(1, 2, radiotest.Link{RSSIDBm: -110, SNRQuarter: -20})
	portA, portB := startModem(t, air, 1), startModem(t, air, 2)

	start := time.Now()
	a := startRelay(t, "A", portA, 0xA0, 11)
	b := startRelay(t, "B", portB, 0xB0, 12)
	relays := []*relay.Relay{a, b}
	relaytest.WaitFor(t, 20*time.Second, "each relay to hear the other's beacon", func() bool {
		return len(a.Radios()[0].Neighbours()) == 1 && len(b.Radios()[0].Neighbours()) == 1
	})
	neighbours := time.Since(start)

	bob := relaytest.NewIdentity()
	sub := relaytest.Client(t, b, bob, "bob")
	got := relaytest.Inbox(t, sub, bob)
	alice := relaytest.Client(t, a, nil, "alice")

	e := relaytest.Message(bob.Tag, codec.PrioNormal, 41) // 62-byte envelope, DESIGN's 20-byte text
	e.TTL = 86400
	id := e.ID()
	sent := time.Now()
	relaytest.Publish(t, alice, e)
	select {
	case in := <-got:
		if in.ID() != id {
			t.Fatalf("got envelope %s, want %s", in.ID(), id)
		}
		if in.Hops != 1 {
			t.Errorf("arrived with %d hops, want 1", in.Hops)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("envelope not delivered within 20 s")
	}
	delivered := time.Since(sent)

	relaytest.Publish(t, sub, codec.SignReceipt(bob.Key, []codec.ID{id}).Envelope(86400, codec.PrioNormal))
	relaytest.WaitFor(t, 20*time.Second, "the receipt to purge A's and B's copies", func() bool {
		for _, r := range relays {
			if _, ok, _ := r.Store().Get(id); ok {
				return false
			}
		}
		return true
	})
	purged := time.Since(sent)
	// Let the flood settle before reading the counters: neither link
	// has anything left owed (the receipt A heard is owed back to the air
	// until flooding suppresses it).
	relaytest.WaitFor(t, 20*time.Second, "links to settle", func() bool {
		for _, r := range relays {
			if n, _, _ := r.Store().Owed(r.Radios()[0].Name()); n != 0 {
				return false
			}
		}
		return true
	})

	var total time.Duration
	for i, r := range relays {
		lk := r.Radios()[0]
		s := lk.Stats()
		onAir := air.Airtime(uint16(i + 1))
		total += onAir
		if onAir > lk.Ledger().Used() {
			t.Errorf("relay %c: %v on air but only %v booked in its ledger", 'A'+i, onAir, lk.Ledger().Used())
		}
		if budget := lk.Ledger().Budget(); lk.Ledger().Used() > budget {
			t.Errorf("relay %c: %v booked, budget %v", 'A'+i, lk.Ledger().Used(), budget)
		}
		t.Logf("relay %c: on air %v (ledger %v of %v); frames %d, envelopes %d (%d repeats), acks %d, beacons %d, rx %d/%d dup/%d bad",
			'A'+i, onAir, lk.Ledger().Used(), lk.Ledger().Budget(), s.FramesSent, s.EnvelopesSent, s.Retransmissions,
			s.AcksSent, s.BeaconsSent, s.Received, s.Duplicates, s.BadFrames)
	}
	as := air.Stats()
	t.Logf("SF%d/125 kHz: neighbours after %v; envelope delivered A→B in %v, receipt purged A and B at %v; air: %d transmissions, %d delivered, %d collided; total airtime %v",
		relaySF, neighbours.Round(time.Millisecond), delivered.Round(time.Millisecond), purged.Round(time.Millisecond),
		as.Transmissions, as.Delivered, as.Collided, total)
	if as.BadDatagrams != 0 {
		t.Errorf("air stats %+v", as)
	}
}
