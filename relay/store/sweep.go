package store

import (
	"bytes"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// Sweep removes envelopes whose life has ended and forgets ids seen longer
// than SeenRetention ago. It returns how many envelopes expired. It runs in
// transactions of at most 4096 removals each, so a backlog does not become
// one huge commit. The store also sweeps every SweepInterval by itself.
func (s *Store) Sweep() (expired int, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	for {
		var n int
		var more bool
		err := s.submit(func(w *writer) error {
			n, more = w.sweep(sweepChunk)
			return nil
		})
		if err != nil {
			return expired, err
		}
		expired += n
		if !more {
			return expired, nil
		}
	}
}

// sweep removes up to limit expired envelopes and seen ids. more says the
// limit was reached.
//
// Expired envelopes are found in the eviction index (per prio, by expiry).
// Seen ids are forgotten from the head of the log: a record's seen expiry
// is its store age plus SeenRetention, so log order is seen-expiry order
// and the sweep stops at the first record still seen. (If SeenRetention
// was lowered at an Open, records after the head may expire before it;
// they are forgotten late, never early: Seen and Put compare the seen
// expiry itself.)
func (w *writer) sweep(limit int) (expired int, more bool) {
	var dead []uint64
	c := w.evict.Cursor()
	for p := codec.PrioBulk; p <= codec.PrioUrgent; p++ {
		prefix := []byte{byte(p)}
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(dead) < limit; k, _ = c.Next() {
			_, exp, seq := parseEvictKey(k)
			if exp > w.age {
				break
			}
			dead = append(dead, seq)
		}
	}
	for _, seq := range dead {
		w.expunge(seq)
	}
	expired = len(dead)

	type seen struct {
		seq    uint64
		id     codec.ID
		stored bool
	}
	var forgotten []seen
	c = w.log.Cursor()
	for k, v := c.First(); k != nil && len(dead)+len(forgotten) < limit; k, v = c.Next() {
		r, err := unmarshalRecord(getU64Key(k), v)
		if err != nil {
			if w.err == nil {
				w.err = err
			}
			return expired, false
		}
		if r.seenExp > w.age {
			break
		}
		forgotten = append(forgotten, seen{r.seq, r.id, r.stored()})
	}
	for _, f := range forgotten {
		if f.stored { // cannot happen: expiry never passes seen expiry
			w.expunge(f.seq)
			expired++
		}
		w.unindexID(f.id, f.seq)
		w.del(w.log, u64(f.seq))
	}
	w.fx.expired += uint64(expired)
	return expired, len(dead)+len(forgotten) >= limit
}

// sweepLoop sweeps every SweepInterval until Close. Each sweep commits,
// which also checkpoints the store age.
func (s *Store) sweepLoop() {
	defer close(s.sweeperDone)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopSweeper:
			return
		case <-t.C:
			n, err := s.Sweep()
			if err != nil {
				s.log.Warn("sweep failed", "err", err)
				continue
			}
			if n > 0 {
				s.log.Debug("envelopes expired", "count", n)
			}
		}
	}
}
