package store

import (
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// PendingPrio read urgent first, resumed per priority at through, returns
// every owed envelope exactly once in priority order and Seq order within
// a priority; Owed counts what is left.
func TestPendingPrio(t *testing.T) {
	clock := &fakeClock{}
	s := openTest(t, Options{Links: []string{"uplink:0"}, Now: clock.Now})
	want := map[codec.Prio][]codec.ID{}
	var total int64
	for i := range 300 {
		p := codec.Prio(i * 7 % 3)
		e := newEnv(tagOf(byte(i%5)), p, 3600)
		want[p] = append(want[p], mustPut(t, s, e, LinkLocal))
		total += int64(len(e.Encode()))
	}
	mustPut(t, s, newEnv(tagOf(9), codec.PrioUrgent, 3600), "uplink:0") // not owed to its source
	short := mustPut(t, s, newEnv(tagOf(9), codec.PrioUrgent, 1), LinkLocal)
	clock.Advance(2 * time.Second) // short is dead, not yet swept

	if n, b, err := s.Owed("uplink:0"); err != nil || n != 300 || b != total {
		t.Fatalf("Owed = %d, %d, %v; want 300, %d", n, b, err, total)
	}

	var got []Item
	var after [codec.PrioUrgent + 1]uint64
	for p := codec.PrioUrgent; ; p-- {
		for {
			items, through, err := s.PendingPrio("uplink:0", p, after[p], 7)
			if err != nil {
				t.Fatal(err)
			}
			if through < after[p] || (len(items) > 0 && through < items[len(items)-1].Seq) {
				t.Fatalf("through %d after %d", through, after[p])
			}
			got = append(got, items...)
			if through == after[p] {
				break
			}
			after[p] = through
		}
		if p == codec.PrioBulk {
			break
		}
	}
	i := 0
	for p := codec.PrioUrgent; ; p-- {
		for _, id := range want[p] {
			if got[i].ID != id || got[i].Envelope.Prio != p {
				t.Fatalf("item %d: %s prio %s, want %s prio %s", i, got[i].ID, got[i].Envelope.Prio, id, p)
			}
			i++
		}
		if p == codec.PrioBulk {
			break
		}
	}
	if i != len(got) {
		t.Fatalf("got %d items, want %d", len(got), i)
	}
	for _, it := range got {
		if it.ID == short {
			t.Fatal("dead envelope returned")
		}
	}

	if err := s.MarkSent("uplink:0", want[codec.PrioUrgent]...); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Owed("uplink:0"); n != 200 {
		t.Errorf("Owed after MarkSent = %d, want 200", n)
	}
	if items, _, _ := s.PendingPrio("uplink:0", codec.PrioUrgent, 0, 0); len(items) != 0 {
		t.Errorf("urgent still pending: %d", len(items))
	}
	if _, _, err := s.PendingPrio("nowhere", codec.PrioUrgent, 0, 0); err == nil {
		t.Error("PendingPrio on an unknown link succeeded")
	}
	if _, _, err := s.PendingPrio("uplink:0", 3, 0, 0); err == nil {
		t.Error("PendingPrio of priority 3 succeeded")
	}
	if _, _, err := s.Owed(LinkLocal); err == nil {
		t.Error("Owed(LinkLocal) succeeded")
	}
}

// The owed set (bitmap chunks of 256 seqs) agrees with a plain model
// across chunk boundaries, whatever order envelopes are sent in, and
// leaves nothing behind once everything is sent.
func TestOwedSet(t *testing.T) {
	s := openTest(t, Options{Links: []string{"uplink:0", "radio:0"}})
	const n = 3*owedChunkSeqs + 17
	owed := map[uint64]codec.ID{}
	var seqs []uint64
	for i := range n {
		from := LinkLocal
		if i%7 == 0 {
			from = "uplink:0" // owed to radio:0 only
		}
		id := mustPut(t, s, newEnv(tagOf(byte(i%5)), codec.Prio(i%3), 3600), from)
		it, _, _ := s.Get(id)
		if from == LinkLocal {
			owed[it.Seq] = id
		}
		seqs = append(seqs, it.Seq)
	}
	check := func() {
		t.Helper()
		for _, after := range []uint64{0, seqs[0], seqs[owedChunkSeqs-1], seqs[owedChunkSeqs], seqs[n/2], seqs[n-1]} {
			var want []codec.ID
			for _, q := range seqs {
				if id, ok := owed[q]; ok && q > after {
					want = append(want, id)
				}
			}
			var got []codec.ID
			for a := after; ; {
				items, err := s.Pending("uplink:0", a, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) == 0 {
					break
				}
				for _, it := range items {
					got = append(got, it.ID)
				}
				a = items[len(items)-1].Seq
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Pending after %d: %d items, want %d", after, len(got), len(want))
			}
		}
		if c, _, _ := s.Owed("uplink:0"); c != len(owed) {
			t.Fatalf("Owed = %d, want %d", c, len(owed))
		}
	}
	check()
	// Send every third, then the rest, in reverse.
	var sent []codec.ID
	for i := len(seqs) - 1; i >= 0; i -= 3 {
		if id, ok := owed[seqs[i]]; ok {
			sent = append(sent, id)
			delete(owed, seqs[i])
		}
	}
	if err := s.MarkSent("uplink:0", sent...); err != nil {
		t.Fatal(err)
	}
	check()
	var rest []codec.ID
	for _, id := range owed {
		rest = append(rest, id)
	}
	clear(owed)
	if err := s.MarkSent("uplink:0", rest...); err != nil {
		t.Fatal(err)
	}
	check()
	if n := countOwedChunks(t, s, "uplink:0"); n != 0 {
		t.Errorf("%d owed chunks left for a link that owes nothing", n)
	}
	if n := countOwedChunks(t, s, "radio:0"); n != 4 {
		t.Errorf("radio:0 has %d owed chunks, want 4", n)
	}
}

func countOwedChunks(t *testing.T, s *Store, link string) int {
	t.Helper()
	n := 0
	s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketOwed).Bucket([]byte(link)).ForEach(func(k, v []byte) error { n++; return nil })
	})
	return n
}
