package store

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
)

func TestPutGetScanOrder(t *testing.T) {
	clock := &fakeClock{}
	s := openTest(t, Options{Now: clock.Now})
	a, b := tagOf(1), tagOf(2)
	bulk := mustPut(t, s, newEnv(a, codec.PrioBulk, 100), LinkLocal)
	urgent1 := mustPut(t, s, newEnv(a, codec.PrioUrgent, 100), LinkLocal)
	normal := mustPut(t, s, newEnv(a, codec.PrioNormal, 100), LinkLocal)
	other := mustPut(t, s, newEnv(b, codec.PrioUrgent, 100), LinkLocal)
	urgent2 := mustPut(t, s, newEnv(a, codec.PrioUrgent, 100), LinkLocal)

	if got, want := scanIDs(t, s, a), []codec.ID{urgent1, urgent2, normal, bulk}; !slices.Equal(got, want) {
		t.Errorf("Scan(a) = %v, want %v", got, want)
	}
	if got := scanIDs(t, s, b); !slices.Equal(got, []codec.ID{other}) {
		t.Errorf("Scan(b) = %v, want [%v]", got, other)
	}
	var n int
	s.Scan(a, func(Item) bool { n++; return false })
	if n != 1 {
		t.Errorf("Scan called fn %d times after it returned false", n)
	}

	e := newEnv(a, codec.PrioNormal, 50)
	e.Hops = 3
	id := mustPut(t, s, e, LinkLocal)
	if id != e.ID() {
		t.Errorf("Put returned %v, want the envelope's id %v", id, e.ID())
	}
	clock.Advance(1500 * time.Millisecond)
	it, ok, err := s.Get(id)
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	want := *e
	want.TTL = 49 // 48.5 s left, rounded up
	if it.ID != id || it.Size != len(e.Encode()) || !envEqual(it.Envelope, &want) {
		t.Errorf("Get = %+v %+v, want %+v", it, it.Envelope, want)
	}
	if _, ok, _ := s.Get(codec.ID{9}); ok {
		t.Error("Get of an unknown id found something")
	}
	if st := s.Stats(); st.Count != 6 || st.Stored != 6 {
		t.Errorf("Stats = %+v, want Count and Stored 6", st)
	}
}

func envEqual(a, b *codec.Envelope) bool {
	return a.Kind == b.Kind && a.To == b.To && a.TTL == b.TTL && a.Prio == b.Prio && a.Hops == b.Hops && bytes.Equal(a.Body, b.Body)
}

// Scan reads in chunks; order must hold across chunk boundaries.
func TestScanManyChunks(t *testing.T) {
	s := openTest(t, Options{})
	tag := tagOf(7)
	var urgent, bulk []codec.ID
	for i := range 3*scanChunk + 5 {
		if i%3 == 0 {
			urgent = append(urgent, mustPut(t, s, newEnv(tag, codec.PrioUrgent, 100), LinkLocal))
		} else {
			bulk = append(bulk, mustPut(t, s, newEnv(tag, codec.PrioBulk, 100), LinkLocal))
		}
	}
	if got, want := scanIDs(t, s, tag), append(urgent, bulk...); !slices.Equal(got, want) {
		t.Errorf("Scan returned %d ids out of order, want %d", len(got), len(want))
	}
}

func TestPutRefusals(t *testing.T) {
	s := openTest(t, Options{MaxTTL: time.Hour, MaxHops: 4, MaxEnvelopeBytes: 200})
	tag := tagOf(1)

	e := newEnv(tag, codec.PrioNormal, 100)
	id := mustPut(t, s, e, LinkLocal)
	again := *e
	again.TTL, again.Hops = 50, 1 // ttl and hops are not in the id
	if got, err := s.Put(&again, "radio:0"); !errors.Is(err, ErrDuplicate) || got != id {
		t.Errorf("Put(duplicate) = %v, %v; want %v, ErrDuplicate", got, err, id)
	}

	long := newEnv(tag, codec.PrioNormal, 1<<31)
	id = mustPut(t, s, long, LinkLocal)
	if it, _, _ := s.Get(id); it.Envelope.TTL != 3600 {
		t.Errorf("ttl = %d, want capped at 3600", it.Envelope.TTL)
	}

	zero := newEnv(tag, codec.PrioNormal, 0)
	if _, err := s.Put(zero, LinkLocal); !errors.Is(err, ErrExpired) {
		t.Errorf("Put(ttl 0) = %v, want ErrExpired", err)
	}
	hops := newEnv(tag, codec.PrioNormal, 10)
	hops.Hops = 5
	if _, err := s.Put(hops, LinkLocal); !errors.Is(err, ErrHopLimit) {
		t.Errorf("Put(hops 5) = %v, want ErrHopLimit", err)
	}
	hops.Hops = 4
	mustPut(t, s, hops, LinkLocal)
	big := newEnv(tag, codec.PrioNormal, 10)
	big.Body = make([]byte, 200)
	if _, err := s.Put(big, LinkLocal); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put(too large) = %v, want ErrTooLarge", err)
	}

	st := s.Stats()
	if st.Count != 3 || st.Duplicates != 1 || st.Refused != 3 {
		t.Errorf("Stats = %+v, want Count 3, Duplicates 1, Refused 3", st)
	}
	for _, e := range []*codec.Envelope{zero, big} {
		if seen, _ := s.Seen(e.ID()); seen {
			t.Errorf("refused envelope %v is marked seen", e.ID())
		}
	}
}

func TestReceiptDeletesOnlyMatchingTag(t *testing.T) {
	owner := newKey(t)
	mine := codec.TagOf(owner.Public().(ed25519.PublicKey))
	s := openTest(t, Options{Links: []string{"uplink:0"}})

	a := mustPut(t, s, newEnv(mine, codec.PrioNormal, 100), LinkLocal)
	b := mustPut(t, s, newEnv(mine, codec.PrioBulk, 100), LinkLocal)
	keep := mustPut(t, s, newEnv(mine, codec.PrioNormal, 100), LinkLocal)
	foreign := mustPut(t, s, newEnv(tagOf(3), codec.PrioNormal, 100), LinkLocal)

	rc := codec.SignReceipt(owner, []codec.ID{a, b, foreign, {42}})
	re := rc.Envelope(100, codec.PrioNormal)
	n, err := s.PutReceipt(re, rc.IDs, LinkLocal)
	if err != nil || n != 2 {
		t.Fatalf("PutReceipt = %d, %v; want 2 deleted", n, err)
	}
	if got := scanIDs(t, s, mine); !slices.Equal(got, []codec.ID{keep}) {
		t.Errorf("Scan(owner) = %v, want only %v (the receipt is never local)", got, keep)
	}
	if _, ok, _ := s.Get(foreign); !ok {
		t.Error("receipt deleted an envelope of another tag")
	}
	if _, ok, _ := s.Get(re.ID()); !ok {
		t.Error("receipt from local not kept for the uplink")
	}
	if n, err := s.PutReceipt(re, rc.IDs, "radio:0"); !errors.Is(err, ErrDuplicate) || n != 0 {
		t.Errorf("PutReceipt(again) = %d, %v; want 0, ErrDuplicate", n, err)
	}
	for _, id := range []codec.ID{a, b} {
		if seen, _ := s.Seen(id); !seen {
			t.Errorf("deleted %v is no longer seen", id)
		}
	}
	p, _ := s.Pending("uplink:0", 0, 0)
	if len(p) == 0 || p[len(p)-1].ID != re.ID() {
		t.Fatalf("uplink does not owe the receipt: %v", p)
	}
	if err := s.MarkSent("uplink:0", re.ID()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(re.ID()); ok {
		t.Error("receipt copy kept after every link sent it")
	}
	if seen, _ := s.Seen(re.ID()); !seen {
		t.Error("forwarded receipt is no longer seen")
	}

	// A receipt arriving on the only link is not kept at all.
	rc2 := codec.SignReceipt(owner, []codec.ID{keep})
	re2 := rc2.Envelope(100, codec.PrioNormal)
	if n, err := s.PutReceipt(re2, rc2.IDs, "uplink:0"); err != nil || n != 1 {
		t.Fatalf("PutReceipt = %d, %v; want 1", n, err)
	}
	if _, ok, _ := s.Get(re2.ID()); ok {
		t.Error("receipt from the only link was kept")
	}
	st := s.Stats()
	if st.Deleted != 3 || st.Forwarded != 1 || st.Count != 1 {
		t.Errorf("Stats = %+v, want Deleted 3, Forwarded 1, Count 1", st)
	}
	if _, err := s.PutReceipt(newEnv(mine, codec.PrioNormal, 5), nil, LinkLocal); !errors.Is(err, codec.ErrNotAReceipt) {
		t.Errorf("PutReceipt(message) = %v, want ErrNotAReceipt", err)
	}
}

func TestPendingMarkSent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	links := []string{"uplink:0", "radio:0"}
	s := openTest(t, Options{Path: path, Links: links})
	tag := tagOf(1)
	local := mustPut(t, s, newEnv(tag, codec.PrioBulk, 100), LinkLocal)
	fromRadio := mustPut(t, s, newEnv(tag, codec.PrioUrgent, 100), "radio:0")
	fromUp := mustPut(t, s, newEnv(tag, codec.PrioNormal, 100), "uplink:0")
	more := mustPut(t, s, newEnv(tag, codec.PrioNormal, 100), LinkLocal)

	pending := func(link string, after uint64, limit int) []codec.ID {
		t.Helper()
		items, err := s.Pending(link, after, limit)
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		var ids []codec.ID
		for i, it := range items {
			if i > 0 && it.Seq <= items[i-1].Seq {
				t.Errorf("Pending out of Seq order")
			}
			ids = append(ids, it.ID)
		}
		return ids
	}
	if got, want := pending("uplink:0", 0, 0), []codec.ID{local, fromRadio, more}; !slices.Equal(got, want) {
		t.Errorf("uplink owes %v, want %v", got, want)
	}
	if got, want := pending("radio:0", 0, 0), []codec.ID{local, fromUp, more}; !slices.Equal(got, want) {
		t.Errorf("radio owes %v, want %v", got, want)
	}
	items, _ := s.Pending("uplink:0", 0, 1)
	if len(items) != 1 {
		t.Fatalf("Pending limit 1 gave %d", len(items))
	}
	if got, want := pending("uplink:0", items[0].Seq, 1), []codec.ID{fromRadio}; !slices.Equal(got, want) {
		t.Errorf("Pending after %d = %v, want %v", items[0].Seq, got, want)
	}
	if err := s.MarkSent("uplink:0", local, more, codec.ID{77}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pending(LinkLocal, 0, 0); err == nil {
		t.Error("Pending(LinkLocal) succeeded")
	}
	if err := s.MarkSent("nowhere", local); err == nil {
		t.Error("MarkSent on an unknown link succeeded")
	}
	s.Close()

	s = openTest(t, Options{Path: path, Links: links})
	if got, want := pending("uplink:0", 0, 0), []codec.ID{fromRadio}; !slices.Equal(got, want) {
		t.Errorf("after reopen uplink owes %v, want %v", got, want)
	}
	if got := pending("radio:0", 0, 0); len(got) != 3 {
		t.Errorf("after reopen radio owes %v, want 3", got)
	}
	// Sent is not delivered: the envelopes stay for local delivery.
	if got := scanIDs(t, s, tag); len(got) != 4 {
		t.Errorf("Scan after MarkSent = %d items, want 4", len(got))
	}
	s.Close()

	// A link left out at Open loses its list; a new one owes only new envelopes.
	s = openTest(t, Options{Path: path, Links: []string{"radio:1"}})
	if got := pending("radio:1", 0, 0); len(got) != 0 {
		t.Errorf("new link owes %v", got)
	}
	if _, err := s.Pending("uplink:0", 0, 0); err == nil {
		t.Error("Pending on a dropped link succeeded")
	}
}

func TestSeenSurvivesDeleteAndExpires(t *testing.T) {
	clock := &fakeClock{}
	s := openTest(t, Options{Now: clock.Now, MaxTTL: time.Hour, SeenRetention: 2 * time.Hour})
	owner := newKey(t)
	e := newEnv(codec.TagOf(owner.Public().(ed25519.PublicKey)), codec.PrioNormal, 60)
	id := mustPut(t, s, e, LinkLocal)
	rc := codec.SignReceipt(owner, []codec.ID{id})
	if n, err := s.PutReceipt(rc.Envelope(60, codec.PrioNormal), rc.IDs, LinkLocal); n != 1 || err != nil {
		t.Fatalf("PutReceipt = %d, %v", n, err)
	}
	if _, err := s.Put(e, "radio:0"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Put after receipt = %v, want ErrDuplicate", err)
	}
	clock.Advance(2*time.Hour - time.Second)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Seen(id); !seen {
		t.Error("id forgotten before SeenRetention")
	}
	clock.Advance(time.Second)
	if seen, _ := s.Seen(id); seen {
		t.Error("id still seen after SeenRetention")
	}
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, bucketLog) + s.ids.len(); n != 0 {
		t.Errorf("%d seen entries left after the sweep", n)
	}
	mustPut(t, s, e, LinkLocal)
}

func countKeys(t testing.TB, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExpiryAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	clock := &fakeClock{now: 1000 * time.Hour}
	s := openTest(t, Options{Path: path, Now: clock.Now})
	tag := tagOf(1)
	short := mustPut(t, s, newEnv(tag, codec.PrioUrgent, 10), LinkLocal)
	long := mustPut(t, s, newEnv(tag, codec.PrioBulk, 100), LinkLocal)

	clock.Advance(4 * time.Second)
	if it, ok, _ := s.Get(short); !ok || it.Envelope.TTL != 6 {
		t.Fatalf("after 4 s Get(short) = %v, %v; want ttl 6", ok, it.Envelope)
	}
	clock.Advance(6 * time.Second)
	if _, ok, _ := s.Get(short); ok {
		t.Error("envelope alive at the end of its ttl")
	}
	if got := scanIDs(t, s, tag); !slices.Equal(got, []codec.ID{long}) {
		t.Errorf("Scan = %v, want only the long one", got)
	}
	if n, err := s.Sweep(); n != 1 || err != nil {
		t.Errorf("Sweep = %d, %v; want 1", n, err)
	}
	if st := s.Stats(); st.Count != 1 || st.Expired != 1 {
		t.Errorf("Stats = %+v", st)
	}
	clock.Advance(20 * time.Second) // store age 30 s
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The relay is off for an hour and comes back with a clock from zero:
	// neither matters.
	clock = &fakeClock{}
	s = openTest(t, Options{Path: path, Now: clock.Now})
	if it, ok, _ := s.Get(long); !ok || it.Envelope.TTL != 70 {
		t.Fatalf("after reopen Get(long) = %v, %v; want ttl 70", ok, it.Envelope)
	}
	if seen, _ := s.Seen(short); !seen {
		t.Error("expired id not seen after reopen")
	}
	if st := s.Stats(); st.Count != 1 || st.Bytes != int64(len(newEnv(tag, 0, 100).Encode())) {
		t.Errorf("Stats after reopen = %+v", st)
	}
	clock.Advance(70 * time.Second)
	if n, _ := s.Sweep(); n != 1 {
		t.Errorf("Sweep after reopen expired %d, want 1", n)
	}
	if st := s.Stats(); st.Count != 0 || st.Bytes != 0 {
		t.Errorf("Stats = %+v, want empty", st)
	}
}

// The sweeper runs by itself every SweepInterval and checkpoints the age
// even when nothing else commits.
func TestSweeperCheckpointsAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	clock := &fakeClock{}
	s := openTest(t, Options{Path: path, Now: clock.Now, SweepInterval: 5 * time.Millisecond})
	id := mustPut(t, s, newEnv(tagOf(1), codec.PrioNormal, 10), LinkLocal)
	clock.Advance(11 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Expired == 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not expire the envelope")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Read the checkpoint as a crash would leave it: without Close.
	var age uint64
	s.db.View(func(tx *bbolt.Tx) error { age = getU64(tx.Bucket(bucketMeta), metaAge); return nil })
	if time.Duration(age) < 11*time.Second {
		t.Errorf("checkpointed age %v, want at least 11 s", time.Duration(age))
	}
	if _, ok, _ := s.Get(id); ok {
		t.Error("expired envelope still readable")
	}
}

func TestOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	for name, o := range map[string]Options{
		"no path":              {},
		"seen below max ttl":   {MaxTTL: time.Hour, SeenRetention: time.Minute},
		"local link":           {Links: []string{LinkLocal}},
		"duplicate link":       {Links: []string{"a", "a"}},
		"envelope cap too big": {MaxEnvelopeBytes: codec.MaxEnvelopeBytes + 1},
	} {
		if name != "no path" {
			o.Path = filepath.Join(dir, "x.db")
		}
		if s, err := Open(o); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
	s := openTest(t, Options{})
	s.Close()
	if _, err := s.Put(newEnv(tagOf(1), 0, 1), LinkLocal); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestOnStored(t *testing.T) {
	var got []Item
	s := openTest(t, Options{OnStored: func(it Item) { got = append(got, it) }}) // called from the committer only
	e := newEnv(tagOf(1), codec.PrioNormal, 30)
	id := mustPut(t, s, e, LinkLocal)
	s.Put(e, LinkLocal)
	s.Close()
	if len(got) != 1 || got[0].ID != id || got[0].Envelope.TTL != 30 || got[0].Seq == 0 {
		t.Errorf("OnStored got %+v, want one item for %v", got, id)
	}
}

// Unsent returns what Scan returns past the marks, in Scan's order, at
// most max and at most scanChunk at a time; a deliverer that moves its
// marks over what it got reads everything exactly once.
func TestUnsent(t *testing.T) {
	s := openTest(t, Options{})
	tag := tagOf(3)
	fill(t, s, 400, 8, func(i int) *codec.Envelope { return newEnv(tag, codec.Prio(i%3), 3600) })
	mustPut(t, s, newEnv(tagOf(4), codec.PrioNormal, 3600), LinkLocal) // a neighbouring tag
	var all []Item
	s.Scan(tag, func(it Item) bool { all = append(all, it); return true })
	seqs := map[codec.Prio][]uint64{}
	for _, it := range all {
		seqs[it.Envelope.Prio] = append(seqs[it.Envelope.Prio], it.Seq)
	}
	past := func(sent Marks) (want []uint64) {
		for _, it := range all {
			if it.Seq > sent[it.Envelope.Prio] {
				want = append(want, it.Seq)
			}
		}
		return want
	}
	var markSets []Marks
	for _, i := range []func(q []uint64) uint64{
		func([]uint64) uint64 { return 0 },
		func(q []uint64) uint64 { return q[0] },
		func(q []uint64) uint64 { return q[len(q)/2] },
		func(q []uint64) uint64 { return q[len(q)-1] },
		func([]uint64) uint64 { return ^uint64(0) },
	} {
		for p := codec.PrioBulk; p <= codec.PrioUrgent; p++ {
			var m Marks
			m[p] = i(seqs[p])
			markSets = append(markSets, m)
		}
		markSets = append(markSets, Marks{i(seqs[0]), i(seqs[1]), i(seqs[2])})
	}
	for _, sent := range markSets {
		want := past(sent)
		for _, max := range []int{1, 7, scanChunk, 1000} {
			got, err := s.Unsent(tag, sent, max)
			if n := min(max, scanChunk, len(want)); err != nil || len(got) != n {
				t.Fatalf("Unsent(%v, %d) = %d items, %v; want %d", sent, max, len(got), err, n)
			}
			for i, it := range got {
				if it.Seq != want[i] || it.Envelope.To != tag {
					t.Fatalf("Unsent(%v, %d)[%d] = seq %d, want %d", sent, max, i, it.Seq, want[i])
				}
			}
		}
		// Moving the marks over each batch reads the rest exactly once.
		var got []uint64
		for m := sent; ; {
			items, err := s.Unsent(tag, m, 32)
			if err != nil || len(items) == 0 {
				break
			}
			for _, it := range items {
				got = append(got, it.Seq)
				m[it.Envelope.Prio] = it.Seq
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("from %v read %d envelopes, want %d", sent, len(got), len(want))
		}
	}
}

// Open refuses a file of another format version, naming both versions.
func TestOpenRefusesUnknownFormat(t *testing.T) {
	for _, version := range []uint64{1, 2, schemaVersion + 1} {
		path := filepath.Join(t.TempDir(), "store.db")
		s, err := Open(Options{Path: path, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, newEnv(tagOf(1), codec.PrioNormal, 3600), LinkLocal)
		s.Close()
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, u64(version)) })
		db.Close()
		_, err = Open(Options{Path: path, Logger: quiet})
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", version)) ||
			!strings.Contains(err.Error(), fmt.Sprintf("only %d", schemaVersion)) {
			t.Errorf("Open of a version-%d file = %v, want ErrFormat naming versions %d and %d", version, err, version, schemaVersion)
		}
	}
}

// Seen ids are forgotten from the head of the log. If SeenRetention is
// lowered at an Open, later records expire before earlier ones: Seen and
// Put still follow each id's own seen expiry, and the sweep forgets them
// once the head has passed.
func TestSeenRetentionLowered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	clock := &fakeClock{}
	s := openTest(t, Options{Path: path, Now: clock.Now, MaxTTL: time.Hour, SeenRetention: 3 * time.Hour})
	early := newEnv(tagOf(1), codec.PrioNormal, 60)
	mustPut(t, s, early, LinkLocal)
	s.Close()

	clock = &fakeClock{}
	s = openTest(t, Options{Path: path, Now: clock.Now, MaxTTL: time.Hour})
	late := newEnv(tagOf(1), codec.PrioNormal, 60)
	mustPut(t, s, late, LinkLocal)
	clock.Advance(time.Hour + time.Second)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Seen(late.ID()); seen {
		t.Error("id seen after its SeenRetention")
	}
	if seen, _ := s.Seen(early.ID()); !seen {
		t.Error("id forgotten before the SeenRetention it was stored with")
	}
	mustPut(t, s, late, LinkLocal) // stored again: its old record goes
	clock.Advance(3 * time.Hour)
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, bucketLog) + s.ids.len(); n != 0 {
		t.Errorf("%d log and id entries left after every seen expiry passed", n)
	}
}

// Ids that share the id index's 8-byte prefix are told apart by the id in
// their records.
func TestIDPrefixShared(t *testing.T) {
	s := openTest(t, Options{})
	e := newEnv(tagOf(1), codec.PrioNormal, 100)
	a := mustPut(t, s, e, LinkLocal)
	b, c := a, a
	b[15] ^= 1
	c[15] ^= 2
	// A seen-only record of b, as if b had arrived: same prefix as a. It is
	// written into the log directly, with Close's id snapshot dropped as
	// after a crash, and indexed by the next Open from the log.
	path := s.opts.Path
	s.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		r := record{seenExp: time.Hour, id: b}
		if err := tx.Bucket(bucketMeta).Put(metaSeq, u64(1000)); err != nil {
			return err
		}
		if err := dropIDSnapshot(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketLog).Put(u64(1000), r.marshal())
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Path: path})
	if it, ok, err := s.Get(a); err != nil || !ok || it.ID != a {
		t.Errorf("Get(a) = %v, %v, %v", it.ID, ok, err)
	}
	for id, want := range map[codec.ID]bool{a: true, b: true, c: false} {
		if seen, err := s.Seen(id); err != nil || seen != want {
			t.Errorf("Seen(%s) = %v, %v; want %v", id, seen, err, want)
		}
	}
	if _, ok, _ := s.Get(b); ok {
		t.Error("Get of a seen-only id found an envelope")
	}
	if _, err := s.Put(e, LinkLocal); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Put(a again) = %v, want ErrDuplicate", err)
	}
}
