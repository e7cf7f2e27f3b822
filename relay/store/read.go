package store

import (
	"bytes"
	"fmt"
	"time"

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
		r, found, err := lookup(s.ids, tx.Bucket(bucketLog).Cursor(), id, false)
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
		r, found, err := lookup(s.ids, tx.Bucket(bucketLog).Cursor(), id, false)
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

// Marks are where a deliverer stands in a tag: per priority (indexed by
// codec.Prio), the highest Seq it has sent.
type Marks [codec.PrioUrgent + 1]uint64

// Unsent returns up to max live envelopes for tag that are delivered to
// LinkLocal and lie past sent: urgent first, then normal, then bulk, oldest
// first within a priority. It reads at most scanChunk (64) items, in one
// read transaction, with one cursor seek per priority, so its cost follows
// what is new, not what the tag holds: a deliverer that keeps the Marks of
// what it sent calls it again for more.
func (s *Store) Unsent(tag codec.Tag, sent Marks, max int) ([]Item, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	max = min(max, scanChunk)
	var items []Item
	err := s.db.View(func(tx *bbolt.Tx) error {
		now := s.age()
		log := tx.Bucket(bucketLog).Cursor()
		c := tx.Bucket(bucketTag).Cursor()
		for p := codec.PrioUrgent; ; p-- {
			if sent[p] != ^uint64(0) {
				from := tagKey(tag, p, sent[p]+1)
				prefix := from[:codec.TagSize+1]
				for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(items) < max; k, v = c.Next() {
					it, ok, err := liveItem(log, k, v, now)
					if err != nil {
						return err
					}
					if ok {
						items = append(items, it)
					}
				}
			}
			if p == codec.PrioBulk || len(items) == max {
				return nil
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("reading tag %s: %w", tag, err)
	}
	return items, nil
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
		log := tx.Bucket(bucketLog).Cursor()
		now := s.age()
		c := tx.Bucket(bucketTag).Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(items) == scanChunk {
				next = bytes.Clone(k)
				return nil
			}
			it, ok, err := liveItem(log, k, v, now)
			if err != nil {
				return err
			}
			if ok {
				items = append(items, it)
			}
		}
		return nil
	})
	return items, next, err
}

// liveItem reads the envelope of the tag index entry k, v through the log
// cursor. ok is false when it is dead (not yet swept) or a copy kept only
// for links.
func liveItem(log *bbolt.Cursor, k, v []byte, now time.Duration) (it Item, ok bool, err error) {
	seq, expiry := parseTagEntry(k, v)
	if expiry <= now {
		return Item{}, false, nil // no need to read the record
	}
	r, found, err := recordAt(log, seq)
	if err != nil || !found || !r.local() {
		return Item{}, false, err
	}
	it, ok = r.item(now)
	return it, ok, nil
}
