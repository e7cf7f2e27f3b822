package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// The id index, in memory.
//
// Every record in the log — envelope or tombstone — carries its id, and an
// id has at most one record. Put, PutReceipt, Get and Seen find that record
// through this index: the first idPrefixBytes of the id → the record's seq.
// It is not in the file (format 4): ids are random, so as a bbolt bucket
// every Put dirtied a 4 KiB page of its own, about half of what a commit
// wrote (docs/store.md "The id index lives in memory"). Open rebuilds it
// from the log, which it reads once.
//
// Ids that share a prefix (2^32 tries find a pair; an attacker gains one
// more record read per lookup) are told apart by the id in their records.

// idIndex maps an id's prefix to the seqs of the records with that prefix.
// Only the committer changes it, during a transaction, and undoes what a
// failed transaction changed (writer.undoIDs). Readers may therefore see an
// entry whose record is not committed yet, or miss one whose removal is not
// committed yet; they read the record in their own transaction and take
// what is there, as if they had looked a moment earlier or later.
type idIndex struct {
	mu    sync.RWMutex        // guards first and more
	first map[uint64]uint64   // prefix → seq of one record with that prefix
	more  map[uint64][]uint64 // prefix → seqs of further records with it; almost always empty
}

func newIDIndex() *idIndex {
	return &idIndex{first: map[uint64]uint64{}, more: map[uint64][]uint64{}}
}

func idPrefix(id codec.ID) uint64 { return binary.BigEndian.Uint64(id[:idPrefixBytes]) }

func (x *idIndex) add(p, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, taken := x.first[p]; !taken {
		x.first[p] = seq
		return
	}
	x.more[p] = append(x.more[p], seq)
}

func (x *idIndex) remove(p, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	extra := x.more[p]
	if x.first[p] == seq {
		if len(extra) == 0 {
			delete(x.first, p)
			return
		}
		x.first[p], extra = extra[len(extra)-1], extra[:len(extra)-1]
	} else if i := slices.Index(extra, seq); i >= 0 {
		extra = slices.Delete(extra, i, i+1)
	}
	if len(extra) == 0 {
		delete(x.more, p)
	} else {
		x.more[p] = extra
	}
}

// seqs appends to buf the seqs of the records whose id has prefix p.
func (x *idIndex) seqs(p uint64, buf []uint64) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if seq, ok := x.first[p]; ok {
		buf = append(buf, seq)
		buf = append(buf, x.more[p]...)
	}
	return buf
}

// len is the number of records indexed.
func (x *idIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.first)
	for _, extra := range x.more {
		n += len(extra)
	}
	return n
}

// loadIDIndex indexes every record of log.
func loadIDIndex(log *bbolt.Bucket) (*idIndex, error) {
	x := newIDIndex()
	c := log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != seqBytes || len(v) < tombstoneBytes {
			return nil, fmt.Errorf("log entry %x: %d-byte record", k, len(v))
		}
		x.add(binary.BigEndian.Uint64(v[recordIDOffset:]), getU64Key(k))
	}
	return x, nil
}

// lookup finds id's record: through ids, read from log. A reader's log
// may not have a record the index names (see idIndex); the writer's
// always has, so strict makes that an error there.
func lookup(ids *idIndex, log *bbolt.Bucket, id codec.ID, strict bool) (record, bool, error) {
	var buf [2]uint64
	for _, seq := range ids.seqs(idPrefix(id), buf[:0]) {
		r, found, err := recordAt(log, seq)
		if err == nil && !found && strict {
			err = fmt.Errorf("id %s: indexed at %d, no record there", id, seq)
		}
		if err != nil {
			return record{}, false, err
		}
		if found && r.id == id {
			return r, true, nil
		}
	}
	return record{}, false, nil
}
