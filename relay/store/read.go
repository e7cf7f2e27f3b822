package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Reads use bbolt read transactions and never wait for the committer.
// They hold a transaction only while copying items out: a long read
// transaction would stop the committer from growing the file's mapping.

// Get returns the live stored envelope with id. ok is false if there is
// none (never stored, deleted, evicted or expired).
func (s *Store) Get(id codec.ID) (it Item, ok bool, err error) {
	if err := s.enter(); err != nil {
		return Item{}, false, err
	}
	defer s.leave()
	err = s.db.View(func(tx *bbolt.Tx) error {
		r, found, err := lookup(s.ids, tx.Bucket(bucketLog), id, false)
		if found {
			it, ok = r.item(s.age())
		}
		return err
	})
	if err != nil {
		return Item{}, false, fmt.Errorf("getting envelope: %w", err)
	}
	return it, ok, nil
}

// Seen reports whether id was seen within SeenRetention, stored or not.
func (s *Store) Seen(id codec.ID) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	var seen bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		r, found, err := lookup(s.ids, tx.Bucket(bucketLog), id, false)
		seen = found && r.seenExp > s.age()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("looking up id: %w", err)
	}
	return seen, nil
}

// Scan calls fn with each live envelope for tag that is delivered to
// LinkLocal, urgent first, then oldest first (by Seq), until fn returns
// false. It reads scanChunk items per read transaction and calls fn
// outside any transaction, so fn may take its time and may call Put; it
// must not call Close. Envelopes stored or removed during a Scan may or may
// not be seen by it.
func (s *Store) Scan(tag codec.Tag, fn func(Item) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.scan(tag[:], tag[:], fn); err != nil {
		return fmt.Errorf("scanning tag %s: %w", tag, err)
	}
	return nil
}

// ScanPrio calls fn for live envelopes for tag with priority prio and Seq >
// afterSeq, oldest first, until fn returns false. It is Scan of one
// priority resumed after a Seq: a cursor seek, so its cost does not grow
// with what was already read. A deliverer that keeps, per priority, the
// highest Seq it sent reads only what is new. Reading happens as in Scan.
func (s *Store) ScanPrio(tag codec.Tag, prio codec.Prio, afterSeq uint64, fn func(Item) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if prio > codec.PrioUrgent {
		return fmt.Errorf("scanning tag %s: %w: %d", tag, codec.ErrPrio, prio)
	}
	if afterSeq == ^uint64(0) {
		return nil
	}
	from := tagKey(tag, prio, afterSeq+1)
	if err := s.scan(from[:codec.TagSize+1], from, fn); err != nil {
		return fmt.Errorf("scanning tag %s prio %s: %w", tag, prio, err)
	}
	return nil
}

// scan calls fn for the live items of the tag index keys with prefix, from
// key from on, reading scanChunk items per read transaction.
func (s *Store) scan(prefix, from []byte, fn func(Item) bool) error {
	for from != nil {
		var items []Item
		var err error
		items, from, err = s.scanChunk(prefix, from)
		if err != nil {
			return err
		}
		for _, it := range items {
			if !fn(it) {
				return nil
			}
		}
	}
	return nil
}

// scanChunk reads up to scanChunk live items with key prefix from key from
// on. next is where the following chunk starts, nil at the end.
func (s *Store) scanChunk(prefix, from []byte) (items []Item, next []byte, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketLog)
		now := s.age()
		c := tx.Bucket(bucketTag).Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(items) == scanChunk {
				next = bytes.Clone(k)
				return nil
			}
			seq, expiry := parseTagEntry(k, v)
			if expiry <= now {
				continue // dead, not yet swept: no need to read the record
			}
			r, found, err := recordAt(log, seq)
			if err != nil {
				return err
			}
			if !found || !r.local() {
				continue // a copy kept only for links
			}
			if it, ok := r.item(now); ok {
				items = append(items, it)
			}
		}
		return nil
	})
	return items, next, err
}
