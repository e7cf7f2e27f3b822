package store

import (
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Each link in Options.Links has an owed list, a set of seqs (owedset.go):
// the envelopes it has yet to carry, in arrival order. Put adds to every list but the one of
// the link the envelope came from; MarkSent removes; removing an envelope
// from the store removes it from every list. A link added to Options.Links
// owes only envelopes stored after; a link left out at Open or SetLinks
// loses its list.

// Pending returns up to limit live envelopes that link still owes with Seq
// greater than afterSeq, in Seq order. limit <= 0 or above 4096 means 4096.
func (s *Store) Pending(link string, afterSeq uint64, limit int) ([]Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if !s.hasLink(link) {
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
		log := tx.Bucket(bucketLog).Cursor()
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
	if !s.hasLink(link) {
		return fmt.Errorf("marking sent on link %q: not in Options.Links", link)
	}
	err := s.submit(func(w *writer) error {
		b := w.owed[link]
		if b == nil {
			return fmt.Errorf("link %q dropped by SetLinks", link)
		}
		for _, id := range ids {
			r, found := w.lookup(id)
			if !found || !r.stored() {
				continue
			}
			w.owedRemove(b, r.seq)
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

// SetLinks replaces the outbound links while the store is open, as Open
// with links as Options.Links would: a new link owes only envelopes stored
// from now on, a link left out loses its owed list (logged at Info), and
// the others keep theirs. It returns once the change is durable. Callers
// stop using a link before they drop it: Pending, PendingPrio and Owed of a
// dropped link find nothing, and MarkSent fails.
func (s *Store) SetLinks(links []string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	seen := map[string]bool{}
	for _, l := range links {
		switch {
		case l == "" || l == LinkLocal:
			return fmt.Errorf("setting links: invalid link name %q", l)
		case seen[l]:
			return fmt.Errorf("setting links: %q listed twice", l)
		}
		seen[l] = true
	}
	var added, dropped []string
	fn := func(w *writer) error {
		// Pure in the transaction (it may run twice, see commit.go): the
		// set in memory changes only once it is durable, below.
		added, dropped = nil, nil
		owed := w.tx.Bucket(bucketOwed)
		for l := range w.owed {
			if !seen[l] {
				dropped = append(dropped, l)
			}
		}
		for _, l := range links {
			if w.owed[l] == nil {
				added = append(added, l)
			}
		}
		for _, l := range dropped {
			if err := owed.DeleteBucket([]byte(l)); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
				w.err = fmt.Errorf("dropping link %s: %w", l, err)
				return w.err
			}
			delete(w.owed, l)
		}
		for _, l := range added {
			b, err := owed.CreateBucketIfNotExists([]byte(l))
			if err != nil {
				w.err = fmt.Errorf("creating link %s: %w", l, err)
				return w.err
			}
			b.FillPercent = fillAppend
			w.owed[l] = b
		}
		return nil
	}
	errc := make(chan error, 1)
	s.reqs <- &request{fn: fn, done: func(err error) {
		// On the committer goroutine once the change is durable, so
		// before the next transaction's writer reads the set.
		if err == nil {
			s.linksMu.Lock()
			s.opts.Links = slices.Clone(links)
			s.links = seen
			s.linksMu.Unlock()
		}
		errc <- err
	}}
	if err := <-errc; err != nil {
		return fmt.Errorf("setting links: %w", err)
	}
	for _, l := range dropped {
		s.log.Info("link dropped", "link", l, "reason", "not configured")
	}
	for _, l := range added {
		s.log.Info("link added", "link", l)
	}
	return nil
}

// hasLink reports whether link is one of the store's links now.
func (s *Store) hasLink(link string) bool {
	s.linksMu.RLock()
	defer s.linksMu.RUnlock()
	return s.links[link]
}

// linkNames returns the store's links now, in Options.Links order.
func (s *Store) linkNames() []string {
	s.linksMu.RLock()
	defer s.linksMu.RUnlock()
	return s.opts.Links
}
