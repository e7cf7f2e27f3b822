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
		env := tx.Bucket(bucketEnv)
		now := s.age()
		c := tx.Bucket(bucketOwed).Bucket([]byte(link)).Cursor()
		examined := 0
		for k, v := c.Seek(u64(afterSeq + 1)); k != nil && len(items) < limit && examined < 16*maxPendingLimit; k, v = c.Next() {
			examined++
			through = getU64Key(k)
			var id codec.ID
			copy(id[:], v)
			rv := env.Get(id[:])
			if rv == nil {
				continue
			}
			r, err := unmarshalRecord(rv)
			if err != nil {
				return fmt.Errorf("record %s: %w", id, err)
			}
			if r.prio != prio {
				continue
			}
			if it, ok := r.item(id, now); ok {
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
		env := tx.Bucket(bucketEnv)
		now := s.age()
		return tx.Bucket(bucketOwed).Bucket([]byte(link)).ForEach(func(_, v []byte) error {
			rv := env.Get(v)
			if rv == nil {
				return nil
			}
			r, err := unmarshalRecord(rv)
			if err != nil {
				return fmt.Errorf("record %x: %w", v, err)
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

func getU64Key(k []byte) uint64 {
	var v uint64
	for _, b := range k[:8] {
		v = v<<8 | uint64(b)
	}
	return v
}
