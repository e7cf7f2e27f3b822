package store

import (
	"testing"
	"time"

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
