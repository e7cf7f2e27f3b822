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
	var read Marks
	for {
		items, err := s.unsent(tag, read, scanChunk)
		if err != nil {
			return fmt.Errorf("scanning tag %s: %w", tag, err)
		}
		for _, it := range items {
			if !fn(it) {
				return nil
			}
			read[it.Envelope.Prio] = it.Seq
		}
		if len(items) < scanChunk {
			return nil
		}
	}
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
	items, err := s.unsent(tag, sent, max)
	if err != nil {
		return nil, fmt.Errorf("reading tag %s: %w", tag, err)
	}
	return items, nil
}

// unsent is Unsent for callers that have entered.
func (s *Store) unsent(tag codec.Tag, sent Marks, max int) (items []Item, err error) {
	max = min(max, scanChunk)
	err = s.db.View(func(tx *bbolt.Tx) error {
		now := s.age()
		log := tx.Bucket(bucketLog).Cursor()
		c := tx.Bucket(bucketTag).Cursor()
		for p := codec.PrioUrgent; ; p-- {
			if sent[p] != ^uint64(0) {
				from := tagKey(tag, p, sent[p]+1)
				prefix := from[:codec.TagSize+1]
				for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(items) < max; k, v = c.Next() {
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
			}
			if p == codec.PrioBulk || len(items) == max {
				return nil
			}
		}
	})
	return items, err
}
