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
	if !s.hasLink(link) {
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
		log := tx.Bucket(bucketLog).Cursor()
		now := s.age()
		examined := 0
		return eachOwed(tx.Bucket(bucketOwed).Bucket([]byte(link)), afterSeq, func(seq uint64) (bool, error) {
			examined++
			through = seq
			r, found, err := recordAt(log, seq)
			if err != nil {
				return false, err
			}
			if found && r.prio == prio {
				if it, ok := r.item(now); ok {
					items = append(items, it)
				}
			}
			return len(items) < limit && examined < 16*maxPendingLimit, nil
		})
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
	if !s.hasLink(link) {
		return 0, 0, fmt.Errorf("owed by link %q: not in Options.Links", link)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog).Cursor()
		now := s.age()
		return eachOwed(tx.Bucket(bucketOwed).Bucket([]byte(link)), 0, func(seq uint64) (bool, error) {
			r, found, err := recordAt(log, seq)
			if found && r.stored() && r.expiry > now {
				count++
				bytes += int64(r.size)
			}
			return err == nil, err
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("owed by link %s: %w", link, err)
	}
	return count, bytes, nil
}
