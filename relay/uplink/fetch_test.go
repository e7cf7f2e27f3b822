package uplink

import (
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// The fetch set subscribes to a tag's bundle topic until its bundle
// arrives or its wait ends, signals each change, caps the wait, and keeps
// at most MaxFetches, giving up the one that would end first.
func TestFetchSet(t *testing.T) {
	tp := topics{"cairn/v1"}
	now := time.Unix(1000, 0)
	var f fetchSet
	tag := func(i int) codec.Tag { return codec.Tag{byte(i >> 8), byte(i)} }
	filters := func(at time.Time) (map[string]bool, time.Time, <-chan struct{}) {
		want := map[string]bool{"cairn/v1/inbox/0000000000000000": true}
		next, ch := f.filters(tp, want, at)
		return want, next, ch
	}

	want, next, changed := filters(now)
	if len(want) != 1 || !next.IsZero() {
		t.Fatalf("empty set: %v, next %v", want, next)
	}
	f.add(tag(1), 30*time.Second, now)
	select {
	case <-changed:
	default:
		t.Fatal("adding a tag did not signal a change")
	}
	f.add(tag(2), time.Hour, now) // capped at MaxFetchWait
	want, next, changed = filters(now)
	if !want[tp.bundle(tag(1))] || !want[tp.bundle(tag(2))] || len(want) != 3 || !next.Equal(now.Add(30*time.Second)) {
		t.Fatalf("two fetches: %v, next %v", want, next)
	}
	f.add(tag(1), 10*time.Second, now) // shorter: no change
	select {
	case <-changed:
		t.Fatal("a shorter wait for a tag being fetched signalled a change")
	default:
	}
	f.done(tag(1))
	select {
	case <-changed:
	default:
		t.Fatal("a bundle's arrival did not signal a change")
	}
	want, next, _ = filters(now)
	if want[tp.bundle(tag(1))] || !next.Equal(now.Add(MaxFetchWait)) {
		t.Fatalf("after tag 1's bundle: %v, next %v", want, next)
	}
	want, next, _ = filters(now.Add(MaxFetchWait))
	if len(want) != 1 || !next.IsZero() {
		t.Fatalf("after the waits: %v, next %v", want, next)
	}

	for i := range MaxFetches + 1 {
		f.add(tag(i), time.Duration(i+1)*time.Millisecond, now)
	}
	want, _, _ = filters(now)
	if len(want) != MaxFetches+1 || want[tp.bundle(tag(0))] || !want[tp.bundle(tag(MaxFetches))] {
		t.Fatalf("at the bound: %d filters, tag 0 kept %v", len(want), want[tp.bundle(tag(0))])
	}
}
