package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
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
// It is not kept in the file as it changes (format 4): ids are random, so
// as a bbolt bucket every Put dirtied a 4 KiB page of its own, about half
// of what a commit wrote (docs/store.md "The id index lives in memory").
// Close writes it whole into bucketIDSnap, and Open reads it from there and
// deletes it in the same transaction, so a snapshot is only ever read by
// the Open after the Close that wrote it; after a crash there is none, and
// Open rebuilds the index from the log, which it then reads once.
//
// Ids that share a prefix (2^32 tries find a pair; an attacker gains one
// more record read per lookup) are told apart by the id in their records.

// idIndex maps an id's prefix to the seqs of the records with that prefix.
// Only the committer changes it, during a transaction, and undoes what a
// failed transaction changed (writer.undoIDs). Readers may therefore see an
// entry whose record is not committed yet, or miss one whose removal is not
// committed yet; they read the record in their own transaction and take
// what is there, as if they had looked a moment earlier or later.
//
// Most entries are in base, a sorted array of 16 bytes an entry with no
// pointers (a Go map of the same entries takes 38 MB per million, and its
// growth leaves as much again for the garbage collector). Changes since
// the last merge are in added and removed; the committer merges them into
// a new base after a commit once they reach 1/mergeFraction of it, so a
// change costs O(mergeFraction) entries copied, amortized.
type idIndex struct {
	mu        sync.RWMutex        // guards base, added, addedMore, removed, nAdded
	base      []idEntry           // sorted by prefix, then seq; never changed in place
	added     map[uint64]uint64   // prefix → seq of a record indexed since the merge
	addedMore map[uint64][]uint64 // prefix → seqs of further such records; almost always empty
	removed   map[uint64]uint64   // seq → prefix of base entries removed since the merge
	nAdded    int                 // entries in added and addedMore
}

type idEntry struct{ prefix, seq uint64 }

const (
	mergeFraction = 16   // merge when changes reach 1/mergeFraction of base…
	mergeMin      = 4096 // …and at least this many
)

func newIDIndex(base []idEntry) *idIndex {
	x := &idIndex{base: base}
	x.clearChanges()
	return x
}

func (x *idIndex) clearChanges() {
	x.added, x.addedMore, x.removed = map[uint64]uint64{}, map[uint64][]uint64{}, map[uint64]uint64{}
	x.nAdded = 0
}

func idPrefix(id codec.ID) uint64 { return binary.BigEndian.Uint64(id[:idPrefixBytes]) }

func (x *idIndex) add(p, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nAdded++
	if _, taken := x.added[p]; taken {
		x.addedMore[p] = append(x.addedMore[p], seq)
	} else {
		x.added[p] = seq
	}
}

func (x *idIndex) remove(p, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if first, ok := x.added[p]; ok && (first == seq || slices.Contains(x.addedMore[p], seq)) {
		x.nAdded--
		more := x.addedMore[p]
		if first == seq {
			if len(more) == 0 {
				delete(x.added, p)
				return
			}
			x.added[p], more = more[len(more)-1], more[:len(more)-1]
		} else {
			more = slices.DeleteFunc(more, func(s uint64) bool { return s == seq })
		}
		if len(more) == 0 {
			delete(x.addedMore, p)
		} else {
			x.addedMore[p] = more
		}
		return
	}
	if _, found := slices.BinarySearchFunc(x.base, idEntry{p, seq}, cmpIDEntry); found {
		x.removed[seq] = p
	}
}

// seqs appends to buf the seqs of the records whose id has prefix p.
func (x *idIndex) seqs(p uint64, buf []uint64) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(x.base, idEntry{p, 0}, cmpIDEntry)
	for ; i < len(x.base) && x.base[i].prefix == p; i++ {
		if _, gone := x.removed[x.base[i].seq]; !gone {
			buf = append(buf, x.base[i].seq)
		}
	}
	if seq, ok := x.added[p]; ok {
		buf = append(buf, seq)
		buf = append(buf, x.addedMore[p]...)
	}
	return buf
}

// len is the number of records indexed.
func (x *idIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.base) - len(x.removed) + x.nAdded
}

// maybeMerge folds the changes into a new base once there are enough of
// them. Only the committer calls it, between transactions: no one else
// changes added and removed, so it reads them without the lock while
// readers go on, and takes the lock only to swap.
func (x *idIndex) maybeMerge() {
	changes := x.nAdded + len(x.removed)
	if changes < mergeMin || changes < len(x.base)/mergeFraction {
		return
	}
	x.merge()
}

// merge folds the changes into a new base. As maybeMerge, committer only.
func (x *idIndex) merge() {
	fresh := make([]idEntry, 0, x.nAdded)
	for p, seq := range x.added {
		fresh = append(fresh, idEntry{p, seq})
		for _, seq := range x.addedMore[p] {
			fresh = append(fresh, idEntry{p, seq})
		}
	}
	slices.SortFunc(fresh, cmpIDEntry)
	gone := make([]idEntry, 0, len(x.removed))
	for seq, p := range x.removed {
		gone = append(gone, idEntry{p, seq})
	}
	slices.SortFunc(gone, cmpIDEntry)
	// One pass over base, copying the runs between changes whole.
	merged := make([]idEntry, 0, len(x.base)-len(gone)+len(fresh))
	old, i := x.base, 0
	for len(fresh) > 0 || len(gone) > 0 {
		removal := len(fresh) == 0 || len(gone) > 0 && cmpIDEntry(gone[0], fresh[0]) < 0
		next := fresh
		if removal {
			next = gone
		}
		j := i
		for j < len(old) && cmpIDEntry(old[j], next[0]) < 0 {
			j++
		}
		merged, i = append(merged, old[i:j]...), j
		if removal {
			if i < len(old) && old[i] == gone[0] {
				i++
			}
			gone = gone[1:]
		} else {
			merged = append(merged, fresh[0])
			fresh = fresh[1:]
		}
	}
	merged = append(merged, old[i:]...)
	x.mu.Lock()
	x.base = merged
	x.clearChanges()
	x.mu.Unlock()
}

func cmpIDEntry(a, b idEntry) int {
	if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// In bucketIDSnap an entry is prefix ‖ seq, and a value holds
// idSnapChunk of them: 4,000 bytes, so that a value and its key fill one
// 4 KiB page.
const (
	idEntryBytes = 16
	idSnapChunk  = 250
)

// openIDIndex builds the id index for Open: from the snapshot the last
// Close wrote, if there is a valid one, else from the log. Either way it
// deletes the snapshot, in Open's transaction, so that no later Open
// takes it after writes it does not hold. fromSnapshot says which.
func openIDIndex(tx *bbolt.Tx, log *slog.Logger) (x *idIndex, fromSnapshot bool, err error) {
	meta := tx.Bucket(bucketMeta)
	if tx.Bucket(bucketIDSnap) != nil {
		base, readErr := readIDSnapshot(tx)
		if err := tx.DeleteBucket(bucketIDSnap); err != nil {
			return nil, false, fmt.Errorf("dropping the id snapshot: %w", err)
		}
		if readErr == nil {
			x = newIDIndex(base)
		} else {
			log.Warn("id snapshot not used; indexing the log", "err", readErr)
		}
	}
	if meta.Get(metaIDSnap) != nil {
		if err := meta.Delete(metaIDSnap); err != nil {
			return nil, false, err
		}
	}
	if x != nil {
		return x, true, nil
	}
	x, err = loadIDIndex(tx.Bucket(bucketLog))
	return x, false, err
}

// readIDSnapshot reads the entries of bucketIDSnap, which must be as many
// as meta's count says, in increasing order; without the count the
// snapshot was not completed.
func readIDSnapshot(tx *bbolt.Tx) ([]idEntry, error) {
	snap, meta := tx.Bucket(bucketIDSnap), tx.Bucket(bucketMeta)
	if meta.Get(metaIDSnap) == nil {
		return nil, errors.New("snapshot incomplete")
	}
	n := getU64(meta, metaIDSnap)
	if n > uint64(tx.Size())/idEntryBytes {
		return nil, fmt.Errorf("snapshot of %d entries in a file of %d bytes", n, tx.Size())
	}
	base := make([]idEntry, 0, n)
	c := snap.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v)%idEntryBytes != 0 || len(v) > idSnapChunk*idEntryBytes || uint64(len(base)+len(v)/idEntryBytes) > n {
			return nil, fmt.Errorf("snapshot chunk %x of %d bytes", k, len(v))
		}
		for ; len(v) > 0; v = v[idEntryBytes:] {
			e := idEntry{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}
			if len(base) > 0 && cmpIDEntry(base[len(base)-1], e) >= 0 {
				return nil, fmt.Errorf("snapshot out of order at entry %d", len(base))
			}
			base = append(base, e)
		}
	}
	if uint64(len(base)) != n {
		return nil, fmt.Errorf("snapshot holds %d entries, meta says %d", len(base), n)
	}
	return base, nil
}

// saveIDSnapshot writes the whole id index into bucketIDSnap for the next
// Open. Close calls it in its last transaction.
func (w *writer) saveIDSnapshot() {
	x := w.s.ids
	x.merge()
	if w.tx.Bucket(bucketIDSnap) != nil { // Open deleted it; only a second Close could find one
		if w.err = w.tx.DeleteBucket(bucketIDSnap); w.err != nil {
			return
		}
	}
	snap, err := w.tx.CreateBucket(bucketIDSnap)
	if err != nil {
		w.err = err
		return
	}
	snap.FillPercent = fillAppend
	buf := make([]byte, 0, idSnapChunk*idEntryBytes)
	for i, chunk := 0, uint32(0); i < len(x.base); i, chunk = i+idSnapChunk, chunk+1 {
		buf = buf[:0]
		for _, e := range x.base[i:min(i+idSnapChunk, len(x.base))] {
			buf = binary.BigEndian.AppendUint64(buf, e.prefix)
			buf = binary.BigEndian.AppendUint64(buf, e.seq)
		}
		w.put(snap, binary.BigEndian.AppendUint32(nil, chunk), bytes.Clone(buf))
	}
	w.put(w.tx.Bucket(bucketMeta), metaIDSnap, u64(uint64(len(x.base))))
}

// loadIDIndex indexes every record of log.
func loadIDIndex(log *bbolt.Bucket) (*idIndex, error) {
	var base []idEntry
	c := log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != seqBytes || len(v) < tombstoneBytes {
			return nil, fmt.Errorf("log entry %x: %d-byte record", k, len(v))
		}
		base = append(base, idEntry{binary.BigEndian.Uint64(v[recordIDOffset:]), getU64Key(k)})
	}
	slices.SortFunc(base, cmpIDEntry)
	if cap(base) > len(base)+len(base)/8 {
		base = slices.Clone(base) // append's spare capacity: up to as much again
	}
	return newIDIndex(base), nil
}

// lookup finds id's record: through ids, read from log. A reader's log
// may not have a record the index names (see idIndex); the writer's
// always has, so strict makes that an error there.
func lookup(ids *idIndex, log *bbolt.Cursor, id codec.ID, strict bool) (record, bool, error) {
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
