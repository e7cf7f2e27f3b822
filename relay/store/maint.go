package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Maintenance: checking a store file, compacting it and reading every live
// envelope out of it (`cairn store check|compact|export`; docs/operations.md).
// Check and Each work on an open Store too. A file a relay has open is
// locked (bbolt takes an exclusive flock), so the functions that open a
// file themselves fail with ErrInUse rather than wait for it.

// ErrInUse is returned when a store file is locked by a process that has it
// open, such as a running relay.
var ErrInUse = errors.New("store file in use by another process (is a relay running?)")

// Implementation limits of maintenance.
const (
	maxProblems    = 100     // problems listed in a Report; more are only counted
	eachRecords    = 4096    // log records one Each read transaction visits at most
	compactTxBytes = 8 << 20 // bytes copied per transaction by Compact
)

// Report is what Check found. The counts come from the records themselves,
// not from the counters kept beside them; Problems lists every way the two,
// or the indexes, disagree.
type Report struct {
	Format    uint64         // the file's format version
	FileBytes int64          // size of the file as bbolt sees it
	Envelopes int            // stored envelopes
	Bytes     int64          // their encoded bytes, as counted against the quotas
	Expired   int            // of the envelopes, those past their expiry but not swept yet
	Seen      int            // ids remembered without an envelope (tombstones)
	Tags      int            // recipient tags with stored envelopes
	Owed      map[string]int // per link: envelopes it still owes
	AuthKeys  int            // keys with a remembered auth stamp

	Problems     []string // inconsistencies found, at most maxProblems; none in a sound file
	MoreProblems int      // problems found beyond those listed
}

// OK reports whether Check found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) == maxProblems {
		r.MoreProblems++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Check checks the store file: bbolt's own consistency check (pages,
// freelist) and the store's (every index entry points at a record that
// agrees with it, every record is indexed, the counters match the
// records). It holds one read transaction over the whole file, which makes
// writers wait to grow the file meanwhile: it is for maintenance, not for
// every minute. The error is for a check that could not run; what it found
// is in the Report.
func (s *Store) Check() (Report, error) {
	if err := s.enter(); err != nil {
		return Report{}, err
	}
	defer s.leave()
	var rep Report
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		rep, err = check(tx, s.age())
		return err
	})
	return rep, err
}

// Each calls fn with every live envelope in the store, for any link or
// LinkLocal, in arrival order (by Seq), until fn returns false. It reads in
// chunks, one read transaction each, and calls fn outside any transaction,
// as Scan does; envelopes stored or removed during Each may or may not be
// seen by it.
func (s *Store) Each(fn func(Item) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return each(s.db, s.age, fn)
}

// Snapshot is a store file opened read-only, for maintenance while no relay
// runs: nothing can write the file while it is open, so it does not change.
// Its store age is the one checkpointed in the file (time while no relay
// runs does not count), so ttls read as the relay left them. Safe for
// concurrent use; Close it when done.
type Snapshot struct {
	db  *bbolt.DB
	age time.Duration
}

// OpenSnapshot opens the store file at path read-only. It fails with
// ErrInUse while another process (a relay) has the file open, and with
// ErrFormat on a file of another format version.
func OpenSnapshot(path string) (*Snapshot, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: openLockTimeout, ReadOnly: true})
	if err != nil {
		return nil, openError(path, err)
	}
	snap := &Snapshot{db: db}
	err = db.View(func(tx *bbolt.Tx) error {
		meta, _, err := checkFormat(tx)
		if err == nil {
			snap.age = time.Duration(getU64(meta, metaAge))
		}
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	return snap, nil
}

// Check is Store.Check on the file.
func (s *Snapshot) Check() (Report, error) {
	var rep Report
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		rep, err = check(tx, s.age)
		return err
	})
	return rep, err
}

// Each is Store.Each on the file.
func (s *Snapshot) Each(fn func(Item) bool) error {
	return each(s.db, func() time.Duration { return s.age }, fn)
}

// Close closes the file.
func (s *Snapshot) Close() error { return s.db.Close() }

func openError(path string, err error) error {
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("opening store %s: %w", path, ErrInUse)
	}
	return fmt.Errorf("opening store %s: %w", path, err)
}

// checkFormat returns the meta bucket and format version of a file this
// build reads: its own format, or format 3, whose records and buckets are
// this format's plus an id index that Open deletes (and that Check and
// Each ignore).
func checkFormat(tx *bbolt.Tx) (*bbolt.Bucket, uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return nil, 0, fmt.Errorf("%w: file has no format version", ErrFormat)
	}
	v := getU64(meta, metaSchema)
	if v != schemaVersion && v != migratableVersion {
		return nil, v, fmt.Errorf("%w: file has format version %d, this build reads only %d (see docs/store.md)",
			ErrFormat, v, schemaVersion)
	}
	return meta, v, nil
}

// each reads the log from its start, eachRecords records or scanChunk live
// items per read transaction, and calls fn outside the transactions.
func each(db *bbolt.DB, age func() time.Duration, fn func(Item) bool) error {
	var from uint64
	for more := true; more; {
		var items []Item
		more = false
		err := db.View(func(tx *bbolt.Tx) error {
			now := age()
			c := tx.Bucket(bucketLog).Cursor()
			visited := 0
			for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
				if len(k) != seqBytes {
					return fmt.Errorf("log key %x", k)
				}
				if len(items) == scanChunk || visited == eachRecords {
					from, more = getU64Key(k), true
					return nil
				}
				visited++
				r, err := unmarshalRecord(getU64Key(k), v)
				if err != nil {
					return err
				}
				if it, ok := r.item(now); ok {
					items = append(items, it)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading envelopes: %w", err)
		}
		for _, it := range items {
			if !fn(it) {
				return nil
			}
		}
	}
	return nil
}

// has reports whether b holds key (whatever its value, empty included).
func has(b *bbolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}

// check is Check inside a read transaction at store age now. Each index is
// checked in both directions: every stored record has its entries, and
// every entry points at a record that agrees with it.
func check(tx *bbolt.Tx, now time.Duration) (Report, error) {
	rep := Report{FileBytes: tx.Size(), Owed: map[string]int{}}
	meta, version, err := checkFormat(tx)
	if err != nil {
		return rep, err
	}
	rep.Format = version
	for err := range tx.Check() {
		rep.problem("bbolt: %v", err)
	}
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			rep.problem("bucket %q missing", name)
		}
	}
	if !rep.OK() {
		return rep, nil // the rest would only find what these explain
	}
	log, tag, evict := tx.Bucket(bucketLog), tx.Bucket(bucketTag), tx.Bucket(bucketEvict)
	logc := log.Cursor() // for reads by seq

	// The log: the records, and from them the true counts.
	lastSeq := getU64(meta, metaSeq)
	tagBytes := map[codec.Tag]int64{}
	idSeqs := map[codec.ID]uint64{} // the id index's invariant: an id has one record
	c := log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != seqBytes {
			rep.problem("log key %x is not a seq", k)
			continue
		}
		r, err := unmarshalRecord(getU64Key(k), v)
		if err != nil {
			rep.problem("log: %v", err)
			continue
		}
		if r.seq > lastSeq {
			rep.problem("record %d is past the last seq handed out, %d", r.seq, lastSeq)
		}
		if other, dup := idSeqs[r.id]; dup {
			rep.problem("records %d and %d have one id, %s", other, r.seq, r.id)
		}
		idSeqs[r.id] = r.seq
		if !r.stored() {
			rep.Seen++
			continue
		}
		rep.Envelopes++
		rep.Bytes += int64(r.size)
		tagBytes[r.to] += int64(r.size)
		if r.expiry <= now {
			rep.Expired++
		}
		if r.prio > codec.PrioUrgent {
			rep.problem("record %d has prio %d", r.seq, r.prio)
			continue
		}
		if r.expiry > r.seenExp {
			rep.problem("record %d: envelope expires after its id is forgotten", r.seq)
		}
		if v := tag.Get(tagKey(r.to, r.prio, r.seq)); v == nil {
			rep.problem("record %d (id %s) missing from the tag index", r.seq, r.id)
		} else if len(v) != ageBytes || readAge(v) != r.expiry {
			rep.problem("record %d: tag index holds expiry %x, record %v", r.seq, v, r.expiry)
		}
		if !has(evict, evictKey(r.prio, r.expiry, r.seq)) {
			rep.problem("record %d (id %s) missing from the eviction index", r.seq, r.id)
		}
	}

	// The id snapshot a clean Close leaves: what the log says, exactly.
	if tx.Bucket(bucketIDSnap) != nil {
		got, err := readIDSnapshot(tx)
		if err != nil {
			rep.problem("id snapshot: %v", err)
		} else if want, err := loadIDIndex(log); err == nil && !slices.Equal(got, want.base) { // (a log it cannot read is reported above)
			rep.problem("id snapshot of %d entries differs from the log's %d records", len(got), len(want.base))
		}
	}

	// The indexes, back to the log.
	n := 0
	c = tag.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n++
		if len(k) != codec.TagSize+1+seqBytes || len(v) != ageBytes {
			rep.problem("tag index entry %x of %d-byte value", k, len(v))
			continue
		}
		seq, _ := parseTagEntry(k, v)
		r, found, err := recordAt(logc, seq)
		if err == nil && (!found || !r.stored() || !bytes.Equal(r.to[:], k[:codec.TagSize]) || 255-byte(r.prio) != k[codec.TagSize]) {
			rep.problem("tag index entry %x points at no envelope of that tag and prio", k)
		}
	}
	if n != rep.Envelopes {
		rep.problem("tag index has %d entries for %d envelopes", n, rep.Envelopes)
	}
	n = 0
	c = evict.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
		if len(k) != 1+ageBytes+seqBytes {
			rep.problem("eviction index key %x", k)
			continue
		}
		prio, expiry, seq := parseEvictKey(k)
		r, found, err := recordAt(logc, seq)
		if err == nil && (!found || !r.stored() || r.prio != prio || r.expiry != expiry) {
			rep.problem("eviction index entry %x points at no envelope of that prio and expiry", k)
		}
	}
	if n != rep.Envelopes {
		rep.problem("eviction index has %d entries for %d envelopes", n, rep.Envelopes)
	}

	// The counters.
	rep.Tags = len(tagBytes)
	tb := tx.Bucket(bucketTagBytes)
	c = tb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != codec.TagSize || len(v) != 8 {
			rep.problem("tag bytes entry %x: %x", k, v)
			continue
		}
		if want := tagBytes[codec.Tag(k)]; int64(getU64Key(v)) != want {
			rep.problem("tag %x: counted %d bytes, envelopes hold %d", k, getU64Key(v), want)
		}
	}
	for t, want := range tagBytes {
		if tb.Get(t[:]) == nil {
			rep.problem("tag %s: no byte count, envelopes hold %d", t, want)
		}
	}
	if got := getU64(meta, metaCount); got != uint64(rep.Envelopes) {
		rep.problem("count is %d, the log holds %d envelopes", got, rep.Envelopes)
	}
	if got := getU64(meta, metaBytes); got != uint64(rep.Bytes) {
		rep.problem("bytes total is %d, the log's envelopes hold %d", got, rep.Bytes)
	}

	// Owed lists: each owes only stored envelopes.
	owed := tx.Bucket(bucketOwed)
	var links []string
	owed.ForEachBucket(func(name []byte) error {
		links = append(links, string(name))
		return nil
	})
	slices.Sort(links)
	for _, l := range links {
		count := 0
		err := eachOwed(owed.Bucket([]byte(l)), 0, func(seq uint64) (bool, error) {
			count++
			if r, found, err := recordAt(logc, seq); err == nil && (!found || !r.stored()) {
				rep.problem("link %s owes seq %d, which holds no envelope", l, seq)
			}
			return true, nil
		})
		if err != nil {
			rep.problem("link %s: %v", l, err)
		}
		rep.Owed[l] = count
	}

	// Auth stamps: each key and its accepted number point at each other.
	auth, authAge := tx.Bucket(bucketAuth), tx.Bucket(bucketAuthAge)
	c = auth.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rep.AuthKeys++
		if len(v) != 16 || !bytes.Equal(authAge.Get(v[8:]), k) {
			rep.problem("auth key %x: stamp %x not in the accepted order", k, v)
		}
	}
	if got := authAge.Stats().KeyN; got != rep.AuthKeys {
		rep.problem("auth order has %d entries for %d keys", got, rep.AuthKeys)
	}
	if got := getU64(meta, metaAuthCount); got != uint64(rep.AuthKeys) {
		rep.problem("auth key count is %d, %d keys are remembered", got, rep.AuthKeys)
	}
	return rep, nil
}

// Compaction is what Compact did: the file's size before and after.
type Compaction struct {
	Before, After int64
}

// Compact rewrites the store file at path without its free pages: bbolt
// reuses freed pages but never shrinks its file, so a store that was once
// full keeps its size. The copy is written beside the file (free space for
// it is needed there), synced, checked against the original, renamed over
// it and the directory synced, so a crash at any point leaves either file
// whole; a failure removes the copy. The copy keeps the original's mode and
// owner. Compact holds the file's lock throughout and fails with ErrInUse
// while a relay has it open.
func Compact(path string) (Compaction, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	src, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: openLockTimeout})
	if err != nil {
		return Compaction{}, openError(path, err)
	}
	defer src.Close()

	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".compact-*")
	if err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(name)
		}
	}()
	if err := compactInto(name, src); err != nil {
		return Compaction{}, fmt.Errorf("compacting store %s: %w", path, err)
	}
	if err := os.Chmod(name, fi.Mode().Perm()); err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	if err := sameOwner(name, fi); err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	after, err := os.Stat(name)
	if err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	ok = true
	if err := syncDir(filepath.Dir(path)); err != nil {
		return Compaction{}, fmt.Errorf("compacting store: %w", err)
	}
	return Compaction{Before: fi.Size(), After: after.Size()}, nil
}

// compactInto copies src into a new bbolt file at name, syncs it and checks
// that it holds what src holds.
func compactInto(name string, src *bbolt.DB) error {
	dst, err := bbolt.Open(name, 0o600, &bbolt.Options{Timeout: openLockTimeout, NoSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := bbolt.Compact(dst, src, compactTxBytes); err != nil {
		return err
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	var want, got map[string]int
	if err := src.View(func(tx *bbolt.Tx) error { want = keyCounts(tx); return nil }); err != nil {
		return err
	}
	return dst.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() { // drained: Check's goroutine sends until done
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("checking the copy: %w", errors.Join(errs...))
		}
		got = keyCounts(tx)
		if !maps.Equal(want, got) {
			return fmt.Errorf("the copy holds %v keys per bucket, the original %v", got, want)
		}
		return nil
	})
}

// keyCounts returns the number of keys in each top-level bucket, nested
// buckets' keys included.
func keyCounts(tx *bbolt.Tx) map[string]int {
	n := map[string]int{}
	tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		n[string(name)] = b.Stats().KeyN
		return nil
	})
	return n
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
