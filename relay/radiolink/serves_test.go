package radiolink_test

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
)

// TestServesFrames, against a fake modem: a relay without an uplink
// follows each beacon with a serves frame listing its tags, 31 at most,
// continuing with the next ones after the next beacon, so 40 tags are all
// announced within two beacons; a relay whose uplink works sends none; a
// serves frame heard reaches OnNeighbourTags with the neighbour timeout.
func TestServesFrames(t *testing.T) {
	t.Parallel()
	tags := make([]codec.Tag, 40)
	for i := range tags {
		tags[i] = relaytest.NewIdentity().Tag
	}
	type heard struct {
		tags []codec.Tag
		ttl  time.Duration
	}
	start := func(t *testing.T, uplinked *atomic.Bool, onTags func([]codec.Tag, time.Duration), ledger *radio.Ledger) (*radiolink.Link, *fakeDriver) {
		if ledger == nil {
			var err error
			if ledger, err = radio.NewLedger(10, 0, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		drv := newFakeDriver()
		l, err := radiolink.New(radiolink.Options{
			Name: "radio:0", Driver: drv, Modulation: fastMod, Ledger: ledger, Store: newMemStore(),
			Ingest: func(_ []byte, from string, done func(codec.ID, error)) {
				t.Errorf("ingest from %s", from)
				done(codec.ID{}, store.ErrClosed)
			},
			Tags:            func() []codec.Tag { return slices.Clone(tags) },
			Uplinked:        uplinked.Load,
			OnNeighbourTags: onTags,
			Address:         0x0a, BeaconInterval: 300 * time.Millisecond, NeighbourTimeout: 42 * time.Second,
			PollInterval: 10 * time.Millisecond, AntiEntropyInterval: -1, Seed: 1, Logger: relaytest.Logger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		l.Start()
		t.Cleanup(func() { l.Close() })
		return l, drv
	}
	// control returns the next control frame the link sends.
	control := func(t *testing.T, drv *fakeDriver) radio.LinkFrame {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case b := <-drv.sent:
				f, err := radio.DecodeLinkFrame(b)
				if err != nil {
					t.Fatalf("bad frame %x: %v", b, err)
				}
				if f.Type == radio.LinkControl {
					f.Data = slices.Clone(f.Data)
					return f
				}
			case <-timeout:
				t.Fatal("no control frame within 10 s")
			}
		}
	}

	t.Run("without uplink", func(t *testing.T) {
		t.Parallel()
		var up atomic.Bool
		l, drv := start(t, &up, nil, nil)
		announced := map[codec.Tag]int{}
		for round := range 2 {
			if f := control(t, drv); f.Control != radio.ControlBeacon {
				t.Fatalf("round %d: control %d first, want a beacon", round, f.Control)
			}
			f := control(t, drv)
			if f.Control != radio.ControlServes {
				t.Fatalf("round %d: control %d after the beacon, want serves", round, f.Control)
			}
			got := radio.ServedTags(f)
			if want := []int{31, 31}[round]; len(got) != want || f.Sender != 0x0a {
				t.Fatalf("round %d: serves from %04x with %d tags, want %d", round, f.Sender, len(got), want)
			}
			for _, tg := range got {
				announced[tg]++
			}
		}
		for _, tg := range tags {
			if announced[tg] == 0 {
				t.Errorf("tag %s not announced in two serves frames", tg)
			}
		}
		// The counter moves once the driver's Send has returned.
		relaytest.WaitFor(t, 10*time.Second, "two serves frames counted", func() bool { return l.Stats().ServesSent >= 2 })
	})

	// A serves frame skipped while the duty cycle is past half spent (bulk
	// waits) costs its tags nothing: the first one sent begins with the
	// first tag.
	t.Run("skipped", func(t *testing.T) {
		t.Parallel()
		var elapsed atomic.Int64
		base := time.Now()
		ledger, err := radio.NewLedger(10, time.Minute, 0, func() time.Time { return base.Add(time.Duration(elapsed.Load())) })
		if err != nil {
			t.Fatal(err)
		}
		if wait, err := ledger.Reserve(3500*time.Millisecond, codec.PrioNormal); wait != 0 || err != nil { // of 6 s; bulk stops at 3 s
			t.Fatalf("reserving: wait %v, %v", wait, err)
		}
		var up atomic.Bool
		l, drv := start(t, &up, nil, ledger)
		relaytest.WaitFor(t, 10*time.Second, "two beacons", func() bool { return l.Stats().BeaconsSent >= 2 })
		if n := l.Stats().ServesSent; n != 0 {
			t.Fatalf("%d serves frames sent at bulk past half the budget", n)
		}
		elapsed.Store(int64(2 * time.Minute)) // the window has moved on: room again
		f := control(t, drv)
		for f.Control != radio.ControlServes {
			f = control(t, drv)
		}
		sorted := slices.SortedFunc(slices.Values(tags), func(a, b codec.Tag) int { return bytes.Compare(a[:], b[:]) })
		if got := radio.ServedTags(f); !slices.Equal(got, sorted[:radio.MaxServesTags]) {
			t.Errorf("the first serves frame sent begins with tag %d of the sorted 40, want 0", slices.Index(sorted, got[0]))
		}
	})

	t.Run("with uplink", func(t *testing.T) {
		t.Parallel()
		var up atomic.Bool
		up.Store(true)
		l, drv := start(t, &up, nil, nil)
		for range 3 {
			if f := control(t, drv); f.Control != radio.ControlBeacon {
				t.Fatalf("control %d, want only beacons", f.Control)
			}
		}
		if s := l.Stats(); s.ServesSent != 0 {
			t.Fatalf("%d serves sent with a working uplink", s.ServesSent)
		}
	})

	t.Run("heard", func(t *testing.T) {
		t.Parallel()
		var up atomic.Bool
		up.Store(true)
		got := make(chan heard, 4)
		l, drv := start(t, &up, func(tags []codec.Tag, ttl time.Duration) { got <- heard{tags, ttl} }, nil)
		frame, _ := radio.AppendServes(nil, 0x0b, tags[:3])
		drv.rx <- radio.Packet{Data: frame, SNRdB: 5}
		select {
		case h := <-got:
			if !slices.Equal(h.tags, tags[:3]) || h.ttl != 42*time.Second {
				t.Fatalf("OnNeighbourTags(%v, %v), want the 3 tags for 42s", h.tags, h.ttl)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("OnNeighbourTags not called")
		}
		if s := l.Stats(); s.ServesReceived != 1 || !slices.Contains(l.Neighbours(), 0x0b) {
			t.Fatalf("%d serves received, neighbours %v", s.ServesReceived, l.Neighbours())
		}
	})
}
