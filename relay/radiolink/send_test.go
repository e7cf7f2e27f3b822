package radiolink_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
)

// fastMod is a channel on which a 64-byte packet takes 31 ms, so that the
// link's airtime-scaled delays (ack slots, the gap left for acks) stay
// short in tests.
var fastMod = radio.Modulation{BandwidthHz: 500000, SF: 7, CR: 5}

// TestUrgentFirstUnderShortBudget: bulk, normal and urgent envelopes are
// owed at once (bulk stored first) when the ledger's budget is short. The
// link sends urgent first, then normal if its share still allows it, and
// bulk waits — unsent, still owed — until the budget frees up; then the
// rest goes in priority order. The ledger runs on a fake clock, so what
// fits is exact.
func TestUrgentFirstUnderShortBudget(t *testing.T) {
	t.Parallel()
	const window = 1000 * time.Second // 1 % of it: a budget of 10 s
	for _, tc := range []struct {
		name      string
		used      time.Duration // booked before the envelopes are due
		first     []codec.Prio  // sent while the budget is short, in order
		afterward []codec.Prio  // sent once the window has passed, in order
	}{
		// 6 s of 10: bulk's share (50 %) is spent, normal's (80 %) is not.
		{"bulk waits", 6 * time.Second, []codec.Prio{codec.PrioUrgent, codec.PrioNormal}, []codec.Prio{codec.PrioBulk}},
		// 8.5 s of 10: only urgent (100 %) still fits.
		{"normal and bulk wait", 8500 * time.Millisecond, []codec.Prio{codec.PrioUrgent}, []codec.Prio{codec.PrioNormal, codec.PrioBulk}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: time.Unix(1_000_000, 0)}
			ledger, err := radio.NewLedger(1, window, 0, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			if w, err := ledger.Reserve(tc.used, codec.PrioUrgent); w != 0 || err != nil {
				t.Fatalf("booking %v: wait %v, %v", tc.used, w, err)
			}

			st := newMemStore()
			byPrio := map[codec.ID]codec.Prio{}
			for _, p := range []codec.Prio{codec.PrioBulk, codec.PrioNormal, codec.PrioUrgent} { // Seq order is no help
				byPrio[st.put(relaytest.Message(relaytest.NewIdentity().Tag, p, 41))] = p
			}
			drv := newFakeDriver()
			l, err := radiolink.New(radiolink.Options{
				Name: "radio:0", Driver: drv, Modulation: fastMod, Ledger: ledger, Store: st,
				Ingest: func(raw []byte, from string, done func(codec.ID, error)) {
					t.Errorf("ingest from %s: nothing is sent to this link", from)
					done(codec.ID{}, store.ErrClosed)
				},
				Address:             0x0a,
				AckWait:             time.Hour, // no retransmission muddles the order
				PollInterval:        10 * time.Millisecond,
				AntiEntropyInterval: -1,
				Seed:                1,
				Logger:              relaytest.Logger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			l.Start()
			t.Cleanup(func() { l.Close() })

			// With no neighbour nothing goes; a neighbour's beacon makes all
			// three due at the same moment.
			beacon, _ := radio.AppendBeacon(nil, 0x0b, nil)
			drv.rx <- radio.Packet{Data: beacon, SNRdB: 5}

			next := func() codec.Prio {
				t.Helper()
				e := drv.nextEnvelope(t, 10*time.Second)
				p, ok := byPrio[e.ID()]
				if !ok {
					t.Fatalf("sent an envelope that was not owed: %s", e.ID())
				}
				return p
			}
			for i, want := range tc.first {
				if got := next(); got != want {
					t.Fatalf("envelope %d sent was %v, want %v", i+1, got, want)
				}
			}
			// The rest cannot fit while the fake clock stands still: the link
			// asks the ledger every PollInterval and gets a wait. Look for a
			// while (50 polls) to see that it does not send them anyway.
			if e, ok := drv.maybeEnvelope(500 * time.Millisecond); ok {
				t.Fatalf("sent %v while the budget was short (ledger %v used of %v)", byPrio[e.ID()], ledger.Used(), ledger.Budget())
			}
			if s := l.Stats(); s.EnvelopesSent != uint64(len(tc.first)) {
				t.Fatalf("stats say %d envelopes sent, want %d", s.EnvelopesSent, len(tc.first))
			}
			if n := st.owed(); n != 3 {
				t.Fatalf("%d owed, want all 3 (none acked)", n)
			}
			if used, budget := ledger.Used(), ledger.Budget(); used > budget {
				t.Fatalf("ledger used %v of %v", used, budget)
			}

			clk.advance(window) // everything booked so far leaves the window
			for i, want := range tc.afterward {
				if got := next(); got != want {
					t.Fatalf("envelope %d sent after the window was %v, want %v", len(tc.first)+i+1, got, want)
				}
			}
		})
	}
}

// TestIdleLinkSleeps: a link with nothing to send looks at the store about
// once per PollInterval, also with anti-entropy off (a negative
// AntiEntropyInterval once made the sender spin).
func TestIdleLinkSleeps(t *testing.T) {
	t.Parallel()
	for _, ae := range []time.Duration{-1, 0} {
		t.Run(fmt.Sprintf("AntiEntropyInterval=%v", ae), func(t *testing.T) {
			t.Parallel()
			ledger, err := radio.NewLedger(1, 0, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			st := newMemStore()
			drv := newFakeDriver()
			const poll = 50 * time.Millisecond
			l, err := radiolink.New(radiolink.Options{
				Name: "radio:0", Driver: drv, Modulation: fastMod, Ledger: ledger, Store: st,
				Ingest:              func(_ []byte, _ string, done func(codec.ID, error)) { done(codec.ID{}, store.ErrClosed) },
				PollInterval:        poll,
				AntiEntropyInterval: ae,
				Seed:                1,
				Logger:              relaytest.Logger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			l.Start()
			t.Cleanup(func() { l.Close() })
			// A neighbour, so that the link has someone to send to.
			beacon, _ := radio.AppendBeacon(nil, 0x0b, nil)
			drv.rx <- radio.Packet{Data: beacon, SNRdB: 5}
			time.Sleep(200 * time.Millisecond) // its beacon answer and the first look at the store
			before := st.calls.Load()
			const idle = time.Second
			time.Sleep(idle)
			// Each look is PendingPrio for three priorities and Pending: allow
			// four times as many looks as polls, for pokes and timers.
			n, most := st.calls.Load()-before, 4*4*int64(idle/poll)
			if n > most {
				t.Fatalf("%d store calls in %v idle, want at most %d", n, idle, most)
			}
			t.Logf("%d store calls in %v idle", n, idle)
		})
	}
}

// clock is a settable time source for a Ledger, safe for concurrent use.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeDriver is a modem that takes every frame at once and delivers what
// the test puts in rx.
type fakeDriver struct {
	sent chan []byte
	rx   chan radio.Packet
}

func newFakeDriver() *fakeDriver {
	return &fakeDriver{sent: make(chan []byte, 1024), rx: make(chan radio.Packet, 64)}
}

func (d *fakeDriver) Send(ctx context.Context, frame []byte) error {
	select {
	case d.sent <- append([]byte(nil), frame...):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *fakeDriver) Receive() <-chan radio.Packet { return d.rx }

// maybeEnvelope returns the next envelope the link sent within d, skipping
// beacons, acks and other control frames.
func (d *fakeDriver) maybeEnvelope(within time.Duration) (*codec.Envelope, bool) {
	timeout := time.After(within)
	for {
		select {
		case frame := <-d.sent:
			f, err := radio.DecodeLinkFrame(frame)
			if err != nil {
				panic(fmt.Sprintf("link sent a bad frame %x: %v", frame, err))
			}
			if f.Type != radio.LinkWhole {
				continue
			}
			e, err := codec.DecodeEnvelope(f.Data)
			if err != nil {
				panic(fmt.Sprintf("link sent a bad envelope %x: %v", f.Data, err))
			}
			return e, true
		case <-timeout:
			return nil, false
		}
	}
}

func (d *fakeDriver) nextEnvelope(t *testing.T, within time.Duration) *codec.Envelope {
	t.Helper()
	e, ok := d.maybeEnvelope(within)
	if !ok {
		t.Fatalf("no envelope sent within %v", within)
	}
	return e
}

// memStore is an in-memory radiolink.Store of one link: envelopes in Seq
// order, each owed until MarkSent. Safe for concurrent use.
type memStore struct {
	calls atomic.Int64 // Pending, PendingPrio and Get calls

	mu    sync.Mutex // guards items and sent
	items []store.Item
	sent  map[codec.ID]bool
}

func newMemStore() *memStore { return &memStore{sent: map[codec.ID]bool{}} }

func (s *memStore) put(e *codec.Envelope) codec.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := e.Encode()
	s.items = append(s.items, store.Item{ID: e.ID(), Seq: uint64(len(s.items) + 1), Envelope: e, Size: len(raw)})
	return e.ID()
}

func (s *memStore) owed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items) - len(s.sent)
}

func (s *memStore) Pending(link string, afterSeq uint64, limit int) ([]store.Item, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Item
	for _, it := range s.items {
		if it.Seq > afterSeq && !s.sent[it.ID] && len(out) < limit {
			out = append(out, it)
		}
	}
	return out, nil
}

func (s *memStore) PendingPrio(link string, prio codec.Prio, afterSeq uint64, limit int) ([]store.Item, uint64, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Item
	through := afterSeq
	for _, it := range s.items {
		if it.Seq <= afterSeq || s.sent[it.ID] {
			continue
		}
		through = it.Seq
		if it.Envelope.Prio == prio {
			if out = append(out, it); len(out) == limit {
				break
			}
		}
	}
	return out, through, nil
}

func (s *memStore) Get(id codec.ID) (store.Item, bool, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		if it.ID == id && !s.sent[id] {
			return it, true, nil
		}
	}
	return store.Item{}, false, nil
}

func (s *memStore) MarkSent(link string, ids ...codec.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.sent[id] = true
	}
	return nil
}
