package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Group commit.
//
// Every write (Put, PutReceipt, MarkSent, Sweep, CheckAuthStamp, the age
// checkpoint) is a request to one committer goroutine, the only writer of
// the file. The committer takes the first waiting request, drains whatever
// else is already queued (up to maxBatch), runs them all in one bbolt
// Update and so pays one fsync for the lot. It never waits for more: when
// the store is idle a lone request commits at once.
//
// A request function either refuses (returns an error after changing
// nothing) or applies its writes. It must decide everything before its
// first write; the writer helpers only fail on bbolt errors, which abort
// the whole transaction. If that happens in a batch of several, each
// request is retried alone so that one bad request does not fail the rest.
// Because of that retry, request functions must be pure functions of the
// transaction: results go into variables they overwrite and into effects,
// which are reset before each run.
//
// Callers may queue without waiting (PutAsync): each request's done runs
// on the committer goroutine after its outcome is final — after the
// retry, if any — and in queue order, so every done is called exactly
// once and one caller sees its outcomes in call order. A refusal decided
// before queueing travels through the queue too (request.refusal), so it
// does not overtake earlier requests; a batch of refusals alone commits
// nothing.

type request struct {
	fn      func(w *writer) error
	refusal error   // decided before queueing: fn is not run and the request commits nothing
	err     error   // fn's verdict (or the refusal), or the transaction's error
	fx      effects // what to count, log and announce once the commit is durable
	// done is called exactly once, on the committer goroutine, after the
	// request's transaction committed (or failed), in queue order.
	done func(err error)
}

// effects of one request, applied only after its transaction committed.
type effects struct {
	stored, duplicates, evicted, expired, deleted, refused, authForgotten, forwarded uint64

	newItems  []Item   // for Options.OnStored
	evictions []victim // logged through Store.floods
	forgotten [][]byte // auth keys forgotten, logged through Store.floods
	notKept   []codec.ID
}

// submit queues fn for the committer and waits until it is durable.
// Callers hold an ops registration (or are Close itself).
func (s *Store) submit(fn func(w *writer) error) error {
	errc := make(chan error, 1)
	s.reqs <- &request{fn: fn, done: func(err error) { errc <- err }}
	return <-errc
}

// enqueue queues r for the committer and returns at once, unless the queue
// holds maxBatch requests already: then it blocks until the committer takes
// some (back-pressure). Callers hold an ops registration, released in
// r.done.
func (s *Store) enqueue(r *request) { s.reqs <- r }

func (s *Store) commitLoop() {
	defer close(s.committerDone)
	batch := make([]*request, 0, maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	drain:
		for !s.opts.NoGroupCommit && len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*request) {
	if allRefused(batch) {
		// Refusals queued to keep their callers' order: nothing to commit.
		for _, r := range batch {
			r.err = r.refusal
			r.done(r.err)
		}
		return
	}
	m, err := s.runTx(batch)
	if err != nil && len(batch) > 1 {
		s.log.Warn("group commit failed; retrying requests alone", "requests", len(batch), "err", err)
		for _, r := range batch {
			one := []*request{r}
			m, err := s.runTx(one)
			s.finish(one, m, err)
		}
		return
	}
	s.finish(batch, m, err)
}

func allRefused(batch []*request) bool {
	for _, r := range batch {
		if r.refusal == nil {
			return false
		}
	}
	return true
}

// runTx runs batch in one read-write transaction and returns the counters
// as committed.
func (s *Store) runTx(batch []*request) (meta, error) {
	var m meta
	var w *writer
	err := s.db.Update(func(tx *bbolt.Tx) error {
		w = newWriter(tx, s.age(), s)
		for _, r := range batch {
			r.fx = effects{}
			if r.refusal != nil {
				r.err = r.refusal
				continue
			}
			w.fx = &r.fx
			r.err = r.fn(w)
			if w.err != nil {
				return w.err
			}
		}
		w.flushTagBytes()
		w.flushMeta()
		m = w.meta
		return w.err
	})
	if err != nil {
		if w != nil { // nil when the transaction could not even begin
			w.undoIDs()
		}
		return m, err
	}
	s.commits.Add(1)
	s.ids.maybeMerge()
	return m, nil
}

// finish publishes a transaction's outcome: counters, logs, OnStored, and
// finally wakes the callers.
func (s *Store) finish(batch []*request, m meta, err error) {
	if err != nil {
		s.log.Error("store commit failed", "requests", len(batch), "err", err)
		for _, r := range batch {
			r.err = r.refusal
			if r.err == nil {
				r.err = fmt.Errorf("committing: %w", err)
			}
			r.fx = effects{}
			r.done(r.err)
		}
		return
	}
	s.statsMu.Lock()
	st := &s.stats
	st.Count, st.Bytes = int(m.count), int64(m.bytes)
	for _, r := range batch {
		st.Stored += r.fx.stored
		st.Duplicates += r.fx.duplicates
		st.Evicted += r.fx.evicted
		st.Expired += r.fx.expired
		st.Deleted += r.fx.deleted
		st.Refused += r.fx.refused
		st.AuthForgotten += r.fx.authForgotten
		st.Forwarded += r.fx.forwarded
	}
	s.statsMu.Unlock()
	for _, r := range batch {
		for _, v := range r.fx.evictions {
			s.floods.Event(slog.LevelInfo, "envelope evicted", "envelopes evicted", v.reason,
				slog.Any("id", v.id), slog.Any("tag", v.tag), slog.Any("prio", v.prio))
		}
		for _, k := range r.fx.forgotten {
			s.floods.Event(slog.LevelInfo, "auth key forgotten", "auth keys forgotten", "max_auth_keys",
				slog.String("key", codec.FormatDIDKey(k)))
		}
		for _, id := range r.fx.notKept {
			s.floods.Event(slog.LevelWarn, "receipt not kept for links", "receipts not kept for links", "quota",
				slog.Any("id", id))
		}
		if s.opts.OnStored != nil {
			for _, it := range r.fx.newItems {
				s.opts.OnStored(it)
			}
		}
		r.done(r.err)
	}
}

// meta holds the counters of bucketMeta during a transaction.
type meta struct {
	seq, count, bytes, authSeq, authCount uint64
}

// writer is one read-write transaction as seen by request functions. Its
// helpers record the first bbolt error in err and then do nothing.
type writer struct {
	s   *Store
	tx  *bbolt.Tx
	age time.Duration // store age for the whole transaction
	fx  *effects      // of the request being run
	err error

	meta, meta0                              meta
	log, tag, evict, tagBytes, auth, authAge *bbolt.Bucket
	logCursor                                *bbolt.Cursor // for reads by seq; repositioned by every read
	owed                                     map[string]*bbolt.Bucket
	idUndo                                   []idChange            // changes to s.ids, undone if the transaction fails
	tagCursors                               map[string]*tagCursor // eviction windows read so far, by tag ‖ 255−prio
	tagBytesNow                              map[codec.Tag]int64   // byte counts changed in this transaction, written by flushTagBytes
}

// idChange is one change the writer made to the id index.
type idChange struct {
	added       bool // else removed
	prefix, seq uint64
}

func newWriter(tx *bbolt.Tx, age time.Duration, s *Store) *writer {
	w := &writer{s: s, tx: tx, age: age,
		log:      tx.Bucket(bucketLog),
		tag:      tx.Bucket(bucketTag),
		evict:    tx.Bucket(bucketEvict),
		tagBytes: tx.Bucket(bucketTagBytes),
		auth:     tx.Bucket(bucketAuth),
		authAge:  tx.Bucket(bucketAuthAge),
		owed:     map[string]*bbolt.Bucket{},
	}
	w.logCursor = w.log.Cursor()
	// Keys that only grow (seq, accepted number) fill pages fully when
	// split; eviction keys mostly grow (by prio, expiry); the rest (tag,
	// auth) keep bbolt's default of half, which suits keys inserted in the
	// middle (a higher fill there leaves many near-empty pages).
	w.log.FillPercent = fillAppend
	w.evict.FillPercent = fillEvict
	w.authAge.FillPercent = fillAppend
	owed := tx.Bucket(bucketOwed)
	for _, l := range s.linkNames() {
		b := owed.Bucket([]byte(l))
		b.FillPercent = fillAppend
		w.owed[l] = b
	}
	m := tx.Bucket(bucketMeta)
	w.meta = meta{
		seq:       getU64(m, metaSeq),
		count:     getU64(m, metaCount),
		bytes:     getU64(m, metaBytes),
		authSeq:   getU64(m, metaAuthSeq),
		authCount: getU64(m, metaAuthCount),
	}
	w.meta0 = w.meta
	return w
}

// flushMeta writes the counters that changed and the age checkpoint. Every
// commit checkpoints the age, so a crash loses at most the time since the
// last commit, and the sweeper commits at least every SweepInterval.
func (w *writer) flushMeta() {
	m := w.tx.Bucket(bucketMeta)
	w.put(m, metaAge, u64(uint64(w.age)))
	for _, c := range []struct {
		key      []byte
		now, was uint64
	}{
		{metaSeq, w.meta.seq, w.meta0.seq},
		{metaCount, w.meta.count, w.meta0.count},
		{metaBytes, w.meta.bytes, w.meta0.bytes},
		{metaAuthSeq, w.meta.authSeq, w.meta0.authSeq},
		{metaAuthCount, w.meta.authCount, w.meta0.authCount},
	} {
		if c.now != c.was {
			w.put(m, c.key, u64(c.now))
		}
	}
}

func (w *writer) put(b *bbolt.Bucket, k, v []byte) {
	if w.err == nil {
		w.err = b.Put(k, v)
	}
}

func (w *writer) del(b *bbolt.Bucket, k []byte) {
	if w.err == nil {
		w.err = b.Delete(k)
	}
}

// indexID enters the record of id under seq in the id index.
func (w *writer) indexID(id codec.ID, seq uint64) {
	w.s.ids.add(idPrefix(id), seq)
	w.idUndo = append(w.idUndo, idChange{added: true, prefix: idPrefix(id), seq: seq})
}

// unindexID takes the record of id under seq out of the id index.
func (w *writer) unindexID(id codec.ID, seq uint64) {
	w.s.ids.remove(idPrefix(id), seq)
	w.idUndo = append(w.idUndo, idChange{prefix: idPrefix(id), seq: seq})
}

// undoIDs reverts the id index to what it was before the transaction,
// which did not commit.
func (w *writer) undoIDs() {
	for _, c := range slices.Backward(w.idUndo) {
		if c.added {
			w.s.ids.remove(c.prefix, c.seq)
		} else {
			w.s.ids.add(c.prefix, c.seq)
		}
	}
	w.idUndo = nil
}

// lookup reads the record of id: its envelope or its tombstone. A corrupt
// record or an index entry without one is a bbolt-level error: it aborts
// the transaction.
func (w *writer) lookup(id codec.ID) (record, bool) {
	r, found, err := lookup(w.s.ids, w.logCursor, id, true)
	if err != nil && w.err == nil {
		w.err = err
	}
	return r, found
}

// recordAt reads the record under seq.
func (w *writer) recordAt(seq uint64) (record, bool) {
	r, found, err := recordAt(w.logCursor, seq)
	if err != nil && w.err == nil {
		w.err = err
	}
	return r, found
}

// tagBytesOf is the bytes stored for tag as of this point in the
// transaction.
func (w *writer) tagBytesOf(tag codec.Tag) int64 {
	if n, ok := w.tagBytesNow[tag]; ok {
		return n
	}
	return int64(getU64(w.tagBytes, tag[:]))
}

// addTagBytes changes a tag's byte count. The counts are written once per
// transaction (flushTagBytes), not once per Put: a commit of dozens of
// envelopes for one tag would otherwise rewrite its entry dozens of times.
func (w *writer) addTagBytes(tag codec.Tag, delta int64) {
	if w.tagBytesNow == nil {
		w.tagBytesNow = map[codec.Tag]int64{}
	}
	w.tagBytesNow[tag] = w.tagBytesOf(tag) + delta
}

// flushTagBytes writes the byte counts that changed; a tag with none left
// loses its entry.
func (w *writer) flushTagBytes() {
	for tag, n := range w.tagBytesNow {
		if n <= 0 {
			w.del(w.tagBytes, tag[:])
		} else {
			w.put(w.tagBytes, tag[:], u64(uint64(n)))
		}
	}
}

// recordAt reads the log record under seq.
//
// It reads through a cursor of the log bucket, not Bucket.Get: Get makes a
// cursor per call, which allocates as it descends; a cursor kept for many
// reads allocates once.
func recordAt(log *bbolt.Cursor, seq uint64) (record, bool, error) {
	key := u64(seq)
	k, v := log.Seek(key)
	if !bytes.Equal(k, key) || v == nil {
		return record{}, false, nil
	}
	r, err := unmarshalRecord(seq, v)
	if err != nil {
		return record{}, false, err
	}
	return r, true, nil
}
