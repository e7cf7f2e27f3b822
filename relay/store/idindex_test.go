package store

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// Records whose ids share a prefix are all found, whichever goes first.
func TestIDIndexSharedPrefix(t *testing.T) {
	x := newIDIndex()
	x.add(7, 1)
	x.add(7, 2)
	x.add(7, 3)
	x.add(8, 4)
	if got := x.seqs(7, nil); !slices.Equal(slices.Sorted(slices.Values(got)), []uint64{1, 2, 3}) {
		t.Fatalf("seqs(7) = %v, want 1 2 3", got)
	}
	x.remove(7, 1) // the first: one of the others takes its place
	x.remove(7, 3)
	if got := x.seqs(7, nil); !slices.Equal(got, []uint64{2}) {
		t.Errorf("seqs(7) after removing 1 and 3 = %v, want 2", got)
	}
	x.remove(7, 2)
	x.remove(7, 9) // not there: nothing changes
	if got := x.seqs(7, nil); len(got) != 0 || x.len() != 1 || len(x.more) != 0 {
		t.Errorf("seqs(7) = %v, len %d, more %v; want only 8's record left", got, x.len(), x.more)
	}
}

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
