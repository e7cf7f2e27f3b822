package store

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// PendingPrio is Pending of one priority: up to limit live envelopes of
// priority prio that link still owes, with Seq greater than afterSeq, in Seq
// order. through is the highest Seq it examined (afterSeq if none): a caller
// that keeps, per priority, the through of its last call reads each owed
// entry about once per priority, however the priorities are mixed. An
// uplink reads urgent first this way. limit <= 0 or above 4096 means 4096;
// at most 16 × 4096 entries are examined per call.
func (s *Store) PendingPrio(link string, prio codec.Prio, afterSeq uint64, limit int) (items []Item, through uint64, err error) {
	if err := s.enter(); err != nil {
		return nil, afterSeq, err
	}
	defer s.leave()
	if !s.links[link] {
		return nil, afterSeq, fmt.Errorf("pending for link %q: not in Options.Links", link)
	}
	if prio > codec.PrioUrgent {
		return nil, afterSeq, fmt.Errorf("pending for link %s: %w: %d", link, codec.ErrPrio, prio)
	}
	if limit <= 0 || limit > maxPendingLimit {
		limit = maxPendingLimit
	}
	through = afterSeq
	if afterSeq == ^uint64(0) {
		return nil, through, nil
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		now := s.age()
		c := tx.Bucket(bucketOwed).Bucket([]byte(link)).Cursor()
		examined := 0
		for k, _ := c.Seek(u64(afterSeq + 1)); k != nil && len(items) < limit && examined < 16*maxPendingLimit; k, _ = c.Next() {
			examined++
			through = getU64Key(k)
			r, found, err := recordAt(log, through)
			if err != nil {
				return err
			}
			if !found || r.prio != prio {
				continue
			}
			if it, ok := r.item(now); ok {
				items = append(items, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, afterSeq, fmt.Errorf("pending for link %s: %w", link, err)
	}
	return items, through, nil
}

// Owed returns how many live envelopes link still owes and their encoded
// bytes. It reads the whole owed list (about a millisecond per 10,000
// entries): for status, not for a hot path.
func (s *Store) Owed(link string) (count int, bytes int64, err error) {
	if err := s.enter(); err != nil {
		return 0, 0, err
	}
	defer s.leave()
	if !s.links[link] {
		return 0, 0, fmt.Errorf("owed by link %q: not in Options.Links", link)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		now := s.age()
		return tx.Bucket(bucketOwed).Bucket([]byte(link)).ForEach(func(k, _ []byte) error {
			r, found, err := recordAt(log, getU64Key(k))
			if err != nil || !found {
				return err
			}
			if r.stored() && r.expiry > now {
				count++
				bytes += int64(r.size)
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("owed by link %s: %w", link, err)
	}
	return count, bytes, nil
}
