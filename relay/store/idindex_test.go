package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Records whose ids share a prefix are all found, whichever goes first.
func TestIDIndexSharedPrefix(t *testing.T) {
	x := newIDIndex([]idEntry{{7, 1}, {7, 2}, {9, 3}})
	x.add(7, 4)
	x.add(7, 5)
	if got := sortedSeqs(x, 7); !slices.Equal(got, []uint64{1, 2, 4, 5}) {
		t.Fatalf("seqs(7) = %v, want 1 2 4 5", got)
	}
	x.remove(7, 4) // the first added: another takes its place
	x.remove(7, 1)
	if got := sortedSeqs(x, 7); !slices.Equal(got, []uint64{2, 5}) {
		t.Errorf("seqs(7) after removing 1 and 4 = %v, want 2 5", got)
	}
	x.remove(7, 2)
	x.remove(7, 5)
	x.remove(7, 8) // not there: nothing changes
	if got := x.seqs(7, nil); len(got) != 0 || x.len() != 1 || len(x.addedMore) != 0 {
		t.Errorf("seqs(7) = %v, len %d, addedMore %v; want only 9's record left", got, x.len(), x.addedMore)
	}
}

// The index answers as a map of prefix → seqs would, through adds,
// removals, undone removals and merges, with prefixes shared often.
func TestIDIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := newIDIndex(nil)
	want := map[uint64][]uint64{}
	seqOf := map[uint64]uint64{} // live seq → prefix
	var seq uint64
	check := func(step int) {
		t.Helper()
		for p := range uint64(64) {
			if got, w := sortedSeqs(x, p), slices.Sorted(slices.Values(want[p])); !slices.Equal(got, w) {
				t.Fatalf("step %d: seqs(%d) = %v, want %v", step, p, got, w)
			}
		}
		if x.len() != len(seqOf) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(seqOf))
		}
	}
	for step := range 50_000 {
		switch r := rng.IntN(10); {
		case r < 6 || len(seqOf) == 0:
			seq++
			p := rng.Uint64N(64)
			x.add(p, seq)
			want[p] = append(want[p], seq)
			seqOf[seq] = p
		default:
			var victim uint64
			for s := range seqOf { // a random live seq
				victim = s
				break
			}
			p := seqOf[victim]
			x.remove(p, victim)
			if r == 9 { // a failed commit's undo adds it again
				x.add(p, victim)
				break
			}
			want[p] = slices.DeleteFunc(want[p], func(s uint64) bool { return s == victim })
			delete(seqOf, victim)
		}
		if step%97 == 0 {
			x.maybeMerge()
		}
		if step%1000 == 0 {
			check(step)
		}
	}
	check(-1)
	if len(x.base) == 0 {
		t.Error("nothing was ever merged: the test exercised too little")
	}
}

func sortedSeqs(x *idIndex, p uint64) []uint64 { return slices.Sorted(slices.Values(x.seqs(p, nil))) }

// A transaction that fails leaves the id index as it was, as it leaves the
// file: a Put that did not commit is not a duplicate later.
func TestFailedCommitLeavesIDIndex(t *testing.T) {
	s := openTest(t, Options{})
	kept := mustPut(t, s, newEnv(tagOf(1), codec.PrioNormal, 100), LinkLocal)
	e := newEnv(tagOf(1), codec.PrioNormal, 100)
	injected := errors.New("injected")
	err := s.submit(func(w *writer) error {
		w.unindexID(kept, 1)
		if err := w.store(e.ID(), e, len(e.Encode()), LinkLocal, true); err != nil {
			return err
		}
		w.err = injected
		return nil
	})
	if !errors.Is(err, injected) {
		t.Fatalf("submit = %v, want the injected error", err)
	}
	if n := s.ids.len(); n != 1 {
		t.Errorf("id index holds %d entries, want 1", n)
	}
	if _, ok, err := s.Get(kept); err != nil || !ok {
		t.Errorf("Get(kept) = %v, %v after the failed commit took it out", ok, err)
	}
	if _, err := s.Put(e, LinkLocal); err != nil {
		t.Errorf("Put of the envelope whose commit failed = %v", err)
	}
}

// Open turns a format 3 file into format 4: the id index bucket goes, and
// every id is found as before.
func TestOpenConvertsFormat3(t *testing.T) {
	path, live := busyStore(t)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gone codec.ID // an id whose envelope a receipt deleted: only seen
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := dropIDSnapshot(tx); err != nil { // format 3 had none
			return err
		}
		ids, err := tx.CreateBucket(bucketFormat3ID)
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			r, err := unmarshalRecord(getU64Key(k), v)
			if err != nil {
				return err
			}
			if !r.stored() && gone == (codec.ID{}) {
				gone = r.id
			}
			return ids.Put(binary.BigEndian.AppendUint64(r.id[:idPrefixBytes:idPrefixBytes], r.seq), nil)
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaSchema, u64(migratableVersion))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := OpenSnapshot(path); err != nil {
		t.Errorf("OpenSnapshot of a format 3 file: %v", err)
	} else {
		if rep, err := snap.Check(); err != nil || !rep.OK() || rep.Format != migratableVersion {
			t.Errorf("Check of a format 3 file = %+v, %v", rep, err)
		}
		snap.Close()
	}

	s := openTest(t, Options{Path: path, Links: []string{"uplink:0", "radio:0"}})
	err = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketFormat3ID) != nil {
			t.Error("format 3's id bucket is still there")
		}
		if v := getU64(tx.Bucket(bucketMeta), metaSchema); v != schemaVersion {
			t.Errorf("format version %d after Open, want %d", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Check(); err != nil || !rep.OK() {
		t.Errorf("Check after the conversion = %+v, %v", rep, err)
	}
	for _, id := range live {
		if _, ok, err := s.Get(id); err != nil || !ok {
			t.Errorf("Get(%s) = %v, %v after the conversion", id, ok, err)
		}
	}
	if seen, err := s.Seen(gone); err != nil || !seen || gone == (codec.ID{}) {
		t.Errorf("Seen(%s), deleted by a receipt = %v, %v; want true", gone, seen, err)
	}
	it, _, _ := s.Get(live[0])
	if _, err := s.Put(it.Envelope, LinkLocal); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Put of a stored envelope after the conversion = %v, want ErrDuplicate", err)
	}
}

// dropIDSnapshot removes Close's id snapshot from a closed store's file, as
// a crash would have left it.
func dropIDSnapshot(tx *bbolt.Tx) error {
	if err := tx.DeleteBucket(bucketIDSnap); err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Delete(metaIDSnap)
}

// After a clean Close, Open reads the id index from the snapshot Close
// wrote (not from the log), gets what the log would give, and deletes the
// snapshot; Check verifies a snapshot against the log and finds one that
// is wrong.
func TestIDSnapshot(t *testing.T) {
	path, live := busyStore(t)
	snap, err := OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := snap.Check(); err != nil || !rep.OK() {
		t.Errorf("Check of a cleanly closed store = %+v, %v", rep, err)
	}
	snap.Close()

	s := openTest(t, Options{Path: path, Links: []string{"uplink:0", "radio:0"}})
	if !s.idsFromSnapshot {
		t.Error("Open indexed the log although Close left a snapshot")
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketIDSnap) != nil || tx.Bucket(bucketMeta).Get(metaIDSnap) != nil {
			t.Error("the snapshot is still in the file after Open")
		}
		fromLog, err := loadIDIndex(tx.Bucket(bucketLog))
		if err != nil {
			return err
		}
		if !slices.Equal(s.ids.base, fromLog.base) || s.ids.len() != fromLog.len() {
			t.Errorf("index from the snapshot (%d entries) differs from the log's (%d)", s.ids.len(), fromLog.len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range live {
		if _, ok, err := s.Get(id); err != nil || !ok {
			t.Errorf("Get(%s) = %v, %v", id, ok, err)
		}
	}
	s.Close()

	// A snapshot that names a seq the log does not have.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketIDSnap)
		k, v := b.Cursor().First()
		v = bytes.Clone(v)
		v[15] ^= 1
		return b.Put(bytes.Clone(k), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if snap, err = OpenSnapshot(path); err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if rep, err := snap.Check(); err != nil || rep.OK() {
		t.Errorf("Check of a store with a wrong id snapshot = %+v, %v; want a problem", rep, err)
	}
}

// The snapshot is deleted by the Open that reads it: a crash after more
// writes leaves none, and the next Open indexes the log, which holds
// them. (Were the snapshot kept, that Open would miss every id written
// since.) The crash is a copy of the file taken while the store is open.
func TestIDSnapshotNotReusedAfterCrash(t *testing.T) {
	path, _ := busyStore(t)
	s := openTest(t, Options{Path: path, Links: []string{"uplink:0", "radio:0"}})
	id := mustPut(t, s, newEnv(tagOf(7), codec.PrioNormal, 100), LinkLocal)
	crashed := copyFile(t, path)
	s.Close()

	s = openTest(t, Options{Path: crashed, Links: []string{"uplink:0", "radio:0"}})
	if s.idsFromSnapshot {
		t.Error("Open after a crash read an id snapshot")
	}
	it, ok, err := s.Get(id)
	if err != nil || !ok {
		t.Fatalf("Get of the envelope written before the crash = %v, %v", ok, err)
	}
	if _, err := s.Put(it.Envelope, LinkLocal); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Put of the envelope written before the crash = %v, want ErrDuplicate", err)
	}
}

// A snapshot that does not hold what meta says is not used: Open indexes
// the log instead (and says so at Warn) and drops the snapshot.
func TestIDSnapshotBadCount(t *testing.T) {
	for _, n := range []uint64{1 << 62, 3} {
		path, live := busyStore(t)
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaIDSnap, u64(n)) })
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		s := openTest(t, Options{Path: path, Links: []string{"uplink:0", "radio:0"}})
		if s.idsFromSnapshot {
			t.Errorf("meta says %d entries: Open used the snapshot", n)
		}
		if _, ok, err := s.Get(live[0]); err != nil || !ok {
			t.Errorf("Get = %v, %v", ok, err)
		}
	}
}

// copyFile copies the file at path into a new file in a test directory and
// returns its path.
func copyFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return cp
}

// A transaction that cannot begin (the file closed under the store) fails
// the Put with an error; there is nothing of the id index to undo.
func TestCommitThatCannotBegin(t *testing.T) {
	s := openTest(t, Options{})
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(newEnv(tagOf(1), codec.PrioNormal, 100), LinkLocal); err == nil {
		t.Error("Put into a closed file succeeded")
	}
	if n := s.ids.len(); n != 0 {
		t.Errorf("id index holds %d entries after a Put that failed", n)
	}
}
