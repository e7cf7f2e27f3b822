package store

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Each link in Options.Links has an owed list, a set of seqs (owedset.go):
// the envelopes it has yet to carry, in arrival order. Put adds to every list but the one of
// the link the envelope came from; MarkSent removes; removing an envelope
// from the store removes it from every list. A link added to Options.Links
// owes only envelopes stored after; a link left out at Open loses its list.

// Pending returns up to limit live envelopes that link still owes with Seq
// greater than afterSeq, in Seq order. limit <= 0 or above 4096 means 4096.
func (s *Store) Pending(link string, afterSeq uint64, limit int) ([]Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if !s.links[link] {
		return nil, fmt.Errorf("pending for link %q: not in Options.Links", link)
	}
	if limit <= 0 || limit > maxPendingLimit {
		limit = maxPendingLimit
	}
	var items []Item
	if afterSeq == ^uint64(0) {
		return nil, nil
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		now := s.age()
		return eachOwed(tx.Bucket(bucketOwed).Bucket([]byte(link)), afterSeq, func(seq uint64) (bool, error) {
			r, found, err := recordAt(log, seq)
			if err != nil {
				return false, err
			}
			if found {
				if it, ok := r.item(now); ok {
					items = append(items, it)
				}
			}
			return len(items) < limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("pending for link %s: %w", link, err)
	}
	return items, nil
}

// MarkSent records durably that link no longer owes ids. Ids that are not
// stored or not owed are ignored. A copy kept only for links (a receipt)
// is dropped once no link owes it (counted in Stats.Forwarded); its id
// stays seen.
func (s *Store) MarkSent(link string, ids ...codec.ID) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if !s.links[link] {
		return fmt.Errorf("marking sent on link %q: not in Options.Links", link)
	}
	err := s.submit(func(w *writer) error {
		for _, id := range ids {
			r, found := w.lookup(id)
			if !found || !r.stored() {
				continue
			}
			w.owedRemove(w.owed[link], r.seq)
			if r.local() {
				continue
			}
			owed := false
			for _, b := range w.owed {
				owed = owed || owes(b, r.seq)
			}
			if !owed {
				w.expunge(r.seq)
				w.fx.forwarded++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking sent on link %s: %w", link, err)
	}
	return nil
}
