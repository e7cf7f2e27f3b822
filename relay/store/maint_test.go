package store

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

// busyStore returns a closed store file that has seen every kind of write:
// envelopes for several tags and prios, evictions at the tag quota, a
// receipt that deleted some and is owed onward, a link that sent some, an
// expiry, auth stamps. live are the ids of the envelopes left, in Seq order.
func busyStore(t *testing.T) (path string, live []codec.ID) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "store.db")
	clock := &fakeClock{}
	links := []string{"uplink:0", "radio:0"}
	s, err := Open(Options{Path: path, Links: links, Now: clock.Now, Logger: quiet,
		MaxTagBytes: 2500, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	owner := newKey(t)
	mine := codec.TagOf(owner.Public().(ed25519.PublicKey))
	var ids []codec.ID
	for i := range 120 {
		tag := tagOf(byte(i % 3))
		if i%3 == 0 {
			tag = mine
		}
		id, err := s.Put(newEnv(tag, codec.Prio(i%3), 1000), LinkLocal)
		if err != nil && !errors.Is(err, ErrQuota) {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for range 5 {
		mustPut(t, s, newEnv(tagOf(9), codec.PrioUrgent, 5), LinkLocal) // expire below
	}
	rc := codec.SignReceipt(owner, ids[:30])
	if _, err := s.PutReceipt(rc.Envelope(100, codec.PrioNormal), rc.IDs, LinkLocal); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent("radio:0", ids[30:60]...); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.CheckAuthStamp(newKey(t).Public().(ed25519.PublicKey), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(10 * time.Second)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if err := s.Each(func(it Item) bool { live = append(live, it.ID); return true }); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check()
	if err != nil || !rep.OK() {
		t.Fatalf("Check of the open store: %v, %q", err, rep.Problems)
	}
	st := s.Stats()
	if rep.Envelopes != st.Count || rep.Bytes != st.Bytes || st.Evicted == 0 || st.Expired == 0 || st.Deleted == 0 {
		t.Fatalf("Check counted %d envelopes, %d bytes; Stats %+v (want evictions, expiries, deletions)", rep.Envelopes, rep.Bytes, st)
	}
	for _, l := range links {
		n, _, err := s.Owed(l)
		if err != nil || rep.Owed[l] != n {
			t.Errorf("link %s: Check counted %d owed, Owed says %d (%v)", l, rep.Owed[l], n, err)
		}
	}
	if rep.AuthKeys != 5 || rep.Seen == 0 || rep.Tags != 3 {
		t.Errorf("Check: %d auth keys, %d seen, %d tags; want 5, some, 3", rep.AuthKeys, rep.Seen, rep.Tags)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, live
}

func TestEach(t *testing.T) {
	clock := &fakeClock{}
	s := openTest(t, Options{Now: clock.Now, Links: []string{"uplink:0"}})
	owner := newKey(t)
	mine := codec.TagOf(owner.Public().(ed25519.PublicKey))
	var want []codec.ID
	for i := range 3*scanChunk + 5 {
		want = append(want, mustPut(t, s, newEnv(mine, codec.Prio(i%3), 100), LinkLocal))
	}
	rc := codec.SignReceipt(owner, want[:4])
	re := rc.Envelope(100, codec.PrioUrgent)
	if _, err := s.PutReceipt(re, rc.IDs, LinkLocal); err != nil {
		t.Fatal(err)
	}
	want = append(want[4:], re.ID()) // the receipt is kept for the uplink: Each returns it too
	clock.Advance(30 * time.Second)

	var got []codec.ID
	var last uint64
	err := s.Each(func(it Item) bool {
		got = append(got, it.ID)
		if it.Seq <= last || it.Envelope.TTL != 70 || it.Envelope.ID() != it.ID {
			t.Errorf("item %+v after seq %d, want ttl 70", it, last)
		}
		last = it.Seq
		return true
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Each: %d items, %v; want %d", len(got), err, len(want))
	}
	n := 0
	s.Each(func(Item) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("Each went on after false: %d calls", n)
	}
}

func TestSnapshot(t *testing.T) {
	path, live := busyStore(t)
	snap, err := OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	rep, err := snap.Check()
	if err != nil || !rep.OK() || rep.Envelopes != len(live) {
		t.Fatalf("Check: %v, %d envelopes (want %d), %q", err, rep.Envelopes, len(live), rep.Problems)
	}
	var got []codec.ID
	if err := snap.Each(func(it Item) bool { got = append(got, it.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, live) {
		t.Errorf("snapshot holds %d envelopes, the store had %d", len(got), len(live))
	}
}

func TestSnapshotErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenSnapshot(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(dir, "store.db")
	s := openTest(t, Options{Path: path})
	if _, err := OpenSnapshot(path); !errors.Is(err, ErrInUse) {
		t.Errorf("open store: %v, want ErrInUse", err)
	}
	if _, err := Compact(path); !errors.Is(err, ErrInUse) {
		t.Errorf("Compact of an open store: %v, want ErrInUse", err)
	}
	s.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, u64(99)) })
	db.Close()
	if _, err := OpenSnapshot(path); !errors.Is(err, ErrFormat) {
		t.Errorf("format 99: %v, want ErrFormat", err)
	}
}

// Check finds what was broken behind the store's back, each in its own words.
func TestCheckFindsDamage(t *testing.T) {
	path, live := busyStore(t)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		meta.Put(metaCount, u64(getU64(meta, metaCount)+1))
		ids, err := loadIDIndex(tx.Bucket(bucketLog))
		if err != nil {
			return err
		}
		r, _, err := lookup(ids, tx.Bucket(bucketLog).Cursor(), live[0], true)
		if err != nil {
			return err
		}
		tx.Bucket(bucketTag).Delete(tagKey(r.to, r.prio, r.seq))
		tx.Bucket(bucketTagBytes).Put(r.to[:], u64(1))
		tx.Bucket(bucketEvict).Put(evictKey(codec.PrioBulk, 0, r.seq+1_000_000), nil)
		owed := tx.Bucket(bucketOwed).Bucket([]byte("uplink:0"))
		k, i, m := owedChunk(1_000_000)
		v := make([]byte, owedChunkBytes)
		v[i] = m
		return owed.Put(k, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	rep, err := snap.Check()
	if err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(rep.Problems, "\n")
	for _, want := range []string{
		"count is",
		"missing from the tag index",
		"tag index has",
		"counted 1 bytes",
		"eviction index entry",
		"link uplink:0 owes seq 1000000",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("no problem mentions %q; found:\n%s", want, problems)
		}
	}
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	clock := &fakeClock{}
	opts := Options{Path: path, Links: []string{"uplink:0"}, MaxTTL: 10 * time.Second, Now: clock.Now, Logger: quiet}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	// A full store, then empty: its envelopes and their seen ids gone.
	var wg sync.WaitGroup
	for range 3000 {
		wg.Add(1)
		s.PutAsync(newEnv(tagOf(1), codec.PrioNormal, 10), LinkLocal, func(_ codec.ID, err error) {
			if err != nil {
				t.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	clock.Advance(time.Minute)
	if n, err := s.Sweep(); err != nil || n != 3000 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	for range 100 {
		mustPut(t, s, newEnv(tagOf(2), codec.PrioUrgent, 10), LinkLocal)
	}
	var before []Item
	s.Each(func(it Item) bool { before = append(before, it); return true })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}

	c, err := Compact(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.After*4 > c.Before {
		t.Errorf("compacted %d bytes to %d, want a quarter or less", c.Before, c.After)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != c.After || fi.Mode().Perm() != 0o640 {
		t.Errorf("file after compaction: %v, %v", fi, err)
	}
	if left, _ := filepath.Glob(path + ".compact-*"); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	s = openTest(t, opts)
	rep, err := s.Check()
	if err != nil || !rep.OK() || rep.Owed["uplink:0"] != 100 || rep.Envelopes != 100 {
		t.Fatalf("Check after compaction: %v, %+v", err, rep)
	}
	var after []Item
	s.Each(func(it Item) bool { after = append(after, it); return true })
	if !slices.EqualFunc(before, after, func(a, b Item) bool { return a.ID == b.ID && a.Seq == b.Seq && envEqual(a.Envelope, b.Envelope) }) {
		t.Errorf("%d envelopes before compaction, %d after, or they differ", len(before), len(after))
	}
}
