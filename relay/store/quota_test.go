package store

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// Every test envelope here has a 3-byte ttl (256 ≤ ttl < 65536) and a
// 60-byte body, so all have the same encoded size.
var unit = int64(len(newEnv(codec.Tag{}, 0, 1000).Encode()))

func TestQuotaEvictionOrder(t *testing.T) {
	var logs bytes.Buffer
	s := openTest(t, Options{MaxTotalBytes: 5 * unit, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	put := func(tag byte, p codec.Prio, ttl uint32) codec.ID {
		return mustPut(t, s, newEnv(tagOf(tag), p, ttl), LinkLocal)
	}
	b1 := put(1, codec.PrioBulk, 3000)
	b2 := put(2, codec.PrioBulk, 1000)
	n1 := put(3, codec.PrioNormal, 500)
	n2 := put(4, codec.PrioNormal, 2000)
	u1 := put(5, codec.PrioUrgent, 300)

	alive := func(id codec.ID) bool { _, ok, _ := s.Get(id); return ok }
	x := put(6, codec.PrioNormal, 1000)
	if alive(b2) || !alive(b1) {
		t.Fatal("first eviction was not the bulk envelope with least life")
	}
	y := put(7, codec.PrioNormal, 1500)
	if alive(b1) {
		t.Fatal("second eviction was not the other bulk envelope")
	}
	put(8, codec.PrioNormal, 1000)
	if alive(n1) || !alive(x) || !alive(y) || !alive(n2) {
		t.Fatal("with no bulk left, the normal envelope with least life was not evicted")
	}

	before := s.Stats()
	var tagsBefore [][]codec.ID
	for tag := range byte(9) {
		tagsBefore = append(tagsBefore, scanIDs(t, s, tagOf(tag)))
	}
	w := newEnv(tagOf(9), codec.PrioBulk, 1000)
	if _, err := s.Put(w, LinkLocal); !errors.Is(err, ErrQuota) {
		t.Fatalf("Put(bulk) into a store of normal and urgent = %v, want ErrQuota", err)
	}
	after := s.Stats()
	if after.Count != before.Count || after.Bytes != before.Bytes || after.Evicted != before.Evicted || after.Refused != before.Refused+1 {
		t.Errorf("ErrQuota changed the store: %+v → %+v", before, after)
	}
	for tag := range byte(9) {
		if got := scanIDs(t, s, tagOf(tag)); !slices.Equal(got, tagsBefore[tag]) {
			t.Errorf("ErrQuota changed tag %d: %v → %v", tag, tagsBefore[tag], got)
		}
	}
	if seen, _ := s.Seen(w.ID()); seen {
		t.Error("refused envelope is marked seen")
	}

	put(10, codec.PrioUrgent, 1000)
	if alive(x) || !alive(u1) {
		t.Error("urgent envelope did not evict the normal one with least life")
	}
	if st := s.Stats(); st.Evicted != 4 || st.Count != 5 || st.Bytes != 5*unit {
		t.Errorf("Stats = %+v, want Evicted 4, Count 5, Bytes %d", st, 5*unit)
	}
	if n := strings.Count(logs.String(), `level=DEBUG msg="envelope evicted"`); n != 4 {
		t.Errorf("logged %d evictions at Debug, want 4:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "reason=quota_total") || !strings.Contains(logs.String(), "id="+b2.String()) {
		t.Errorf("eviction log lacks reason or id:\n%s", logs.String())
	}
	// At Info: the first eviction at once, the other three in one line
	// when the store closes (all within floodLogInterval).
	s.Close()
	if got, want := infoLines(logs.String(), "envelopes evicted"), []string{
		"reason=quota_total count=1 last_id=" + b2.String(),
		"reason=quota_total count=3 last_id=" + x.String(),
	}; !slices.EqualFunc(got, want, strings.HasPrefix) {
		t.Errorf("Info lines %q, want prefixes %q", got, want)
	}
}

// infoLines returns the attributes after msg of each Info line with msg.
func infoLines(logs, msg string) []string {
	var out []string
	for line := range strings.Lines(logs) {
		if rest, ok := strings.CutPrefix(line[strings.Index(line, "level="):], `level=INFO msg="`+msg+`" `); ok {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

func TestTagQuota(t *testing.T) {
	var logs bytes.Buffer
	s := openTest(t, Options{MaxTagBytes: 3 * unit, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	a, b := tagOf(1), tagOf(2)
	other := mustPut(t, s, newEnv(b, codec.PrioBulk, 300), LinkLocal) // least life in the store
	a1 := mustPut(t, s, newEnv(a, codec.PrioBulk, 1000), LinkLocal)
	a2 := mustPut(t, s, newEnv(a, codec.PrioNormal, 400), LinkLocal)
	a3 := mustPut(t, s, newEnv(a, codec.PrioBulk, 500), LinkLocal)

	a4 := mustPut(t, s, newEnv(a, codec.PrioNormal, 1000), LinkLocal)
	if got, want := scanIDs(t, s, a), []codec.ID{a2, a4, a1}; !slices.Equal(got, want) {
		t.Errorf("tag a = %v, want %v (a3 evicted)", got, want)
	}
	if got := scanIDs(t, s, b); !slices.Equal(got, []codec.ID{other}) {
		t.Error("the tag quota evicted from another tag")
	}
	if !strings.Contains(logs.String(), "reason=quota_tag") || !strings.Contains(logs.String(), "id="+a3.String()) {
		t.Errorf("eviction log lacks reason or id:\n%s", logs.String())
	}
	// Only bulk envelopes of tag a fit no more: a bulk one cannot evict normal ones.
	mustPut(t, s, newEnv(a, codec.PrioBulk, 700), LinkLocal) // evicts a1
	if _, err := s.Put(newEnv(a, codec.PrioBulk, 700), LinkLocal); err != nil {
		t.Fatalf("bulk replacing bulk: %v", err)
	}
	if _, err := s.Put(newEnv(a, codec.PrioBulk, 700), LinkLocal); err != nil {
		t.Fatalf("bulk replacing bulk: %v", err)
	}
	mustPut(t, s, newEnv(a, codec.PrioNormal, 700), LinkLocal) // evicts the last bulk
	if _, err := s.Put(newEnv(a, codec.PrioBulk, 700), LinkLocal); !errors.Is(err, ErrQuota) {
		t.Errorf("bulk into a tag full of normal = %v, want ErrQuota", err)
	}
	if st := s.Stats(); st.Count != 4 || st.Evicted != 5 {
		t.Errorf("Stats = %+v, want Count 4, Evicted 5", st)
	}
}

// An envelope that would not fit an empty store is refused outright.
func TestQuotaTooBigForQuota(t *testing.T) {
	s := openTest(t, Options{MaxTagBytes: unit - 1})
	if _, err := s.Put(newEnv(tagOf(1), codec.PrioUrgent, 1000), LinkLocal); !errors.Is(err, ErrQuota) {
		t.Errorf("Put = %v, want ErrQuota", err)
	}
}

// In a tag holding more than tagWindow envelopes of the lowest priority,
// the tag quota evicts the one with least life among the oldest tagWindow
// (docs/store.md "Quota eviction"): the work per Put is bounded however
// full the tag is.
func TestTagQuotaWindow(t *testing.T) {
	const n = 2*tagWindow + 5
	s := openTest(t, Options{MaxTagBytes: n * unit})
	tag := tagOf(1)
	ids := make([]codec.ID, n)
	for i := range ids {
		// Each younger envelope has less life left: the exact order would
		// evict the youngest.
		ids[i] = mustPut(t, s, newEnv(tag, codec.PrioBulk, uint32(10_000-i)), LinkLocal)
	}
	alive := func(id codec.ID) bool { _, ok, _ := s.Get(id); return ok }
	mustPut(t, s, newEnv(tag, codec.PrioBulk, 5000), LinkLocal)
	if alive(ids[tagWindow-1]) || !alive(ids[tagWindow-2]) || !alive(ids[tagWindow]) || !alive(ids[n-1]) {
		t.Error("the victim was not the envelope with least life among the oldest window")
	}
	// The window is the oldest tagWindow still stored: it now reaches one
	// further, to an envelope with less life than all before it.
	mustPut(t, s, newEnv(tag, codec.PrioBulk, 5000), LinkLocal)
	if alive(ids[tagWindow]) || !alive(ids[tagWindow-2]) || !alive(ids[tagWindow+1]) {
		t.Error("the second victim was not the one with least life among the oldest window")
	}
	if st := s.Stats(); st.Evicted != 2 || st.Count != n {
		t.Errorf("Stats = %+v, want Evicted 2, Count %d", st, n)
	}
}

// Puts into a full tag in one transaction evict what the same Puts would in
// transactions of their own: the window kept through the transaction
// (tagCursor) slides as a fresh read would, also over envelopes the
// transaction itself added.
func TestTagQuotaWindowInOneCommit(t *testing.T) {
	for _, c := range []struct {
		name              string
		quota, held, puts int
	}{
		{"beyond one window", 2*tagWindow + 5, 2*tagWindow + 5, tagWindow + 40},
		{"window not full", 100, 90, 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			tag := tagOf(1)
			var held, puts []*codec.Envelope
			for i := range c.held {
				// Each younger envelope has less life left.
				held = append(held, newEnv(tag, codec.PrioBulk, uint32(10_000-i)))
			}
			for i := range c.puts {
				puts = append(puts, newEnv(tag, codec.PrioBulk, uint32(5_000-i)))
			}
			survivors := func(oneCommit bool) []codec.ID {
				s := openTest(t, Options{MaxTagBytes: int64(c.quota) * unit})
				for _, e := range held {
					mustPut(t, s, e, LinkLocal)
				}
				if oneCommit {
					err := s.submit(func(w *writer) error {
						for _, e := range puts {
							if err := w.store(e.ID(), e, len(e.Encode()), LinkLocal, true); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				} else {
					for _, e := range puts {
						mustPut(t, s, e, LinkLocal)
					}
				}
				var ids []codec.ID
				s.Scan(tag, func(it Item) bool { ids = append(ids, it.ID); return true })
				if st := s.Stats(); st.Count != c.quota {
					t.Errorf("one commit %v: %d stored, want the quota's %d", oneCommit, st.Count, c.quota)
				}
				return ids
			}
			if apart, together := survivors(false), survivors(true); !slices.Equal(apart, together) {
				t.Errorf("one commit kept a different set than one commit per Put")
			}
		})
	}
}
