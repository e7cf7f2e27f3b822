package store

import (
	"bytes"
	"encoding/binary"
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

// sweep removes up to limit expired envelopes and seen entries. more says
// the limit was reached.
func (w *writer) sweep(limit int) (expired int, more bool) {
	var dead []codec.ID
	c := w.evict.Cursor()
	for p := codec.PrioBulk; p <= codec.PrioUrgent; p++ {
		prefix := []byte{byte(p)}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(dead) < limit; k, v = c.Next() {
			if _, exp := parseEvictKey(k); exp > w.age {
				break
			}
			dead = append(dead, codec.ID(v))
		}
	}
	for _, id := range dead {
		w.expunge(id)
	}
	expired = len(dead)

	type seen struct {
		key []byte
		exp time.Duration
		id  codec.ID
	}
	var forgotten []seen
	c = w.seenExp.Cursor()
	for k, v := c.First(); k != nil && len(dead)+len(forgotten) < limit; k, v = c.Next() {
		exp := readAge(k)
		if exp > w.age {
			break
		}
		f := seen{key: bytes.Clone(k), exp: exp, id: codec.ID(v)}
		forgotten = append(forgotten, f)
	}
	for _, f := range forgotten {
		// The record may be a newer one of the same id (the old seen entry
		// expired, was not swept yet, and the id came again): then only
		// the stale key goes.
		if r, found := w.record(f.id); found && r.seq == binary.BigEndian.Uint64(f.key[ageBytes:]) {
			if r.stored() { // cannot happen: expiry never passes seen expiry
				w.expunge(f.id)
				expired++
			}
			w.del(w.env, f.id[:])
		}
		w.del(w.seenExp, f.key)
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
