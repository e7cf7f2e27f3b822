package store

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// TestSetLinks: links change while the store is open as they would across a
// reopen — a kept link keeps its list, a new one owes only what is stored
// after, a dropped one is gone — and the change survives a reopen.
func TestSetLinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, Options{Path: path, Links: []string{"uplink:0", "radio:0"}})
	tag := tagOf(3)
	before := mustPut(t, s, newEnv(tag, codec.PrioNormal, 100), LinkLocal)

	if err := s.SetLinks([]string{"uplink:0", "uplink:1"}); err != nil {
		t.Fatal(err)
	}
	after := mustPut(t, s, newEnv(tag, codec.PrioNormal, 100), LinkLocal)
	owed := func(link string) []codec.ID {
		t.Helper()
		items, err := s.Pending(link, 0, 0)
		if err != nil {
			t.Fatalf("Pending(%s): %v", link, err)
		}
		var ids []codec.ID
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		return ids
	}
	if got, want := owed("uplink:0"), []codec.ID{before, after}; !slices.Equal(got, want) {
		t.Errorf("kept link owes %v, want %v", got, want)
	}
	if got, want := owed("uplink:1"), []codec.ID{after}; !slices.Equal(got, want) {
		t.Errorf("new link owes %v, want %v", got, want)
	}
	if _, err := s.Pending("radio:0", 0, 0); err == nil {
		t.Error("Pending on a dropped link succeeded")
	}
	if err := s.MarkSent("radio:0", before); err == nil {
		t.Error("MarkSent on a dropped link succeeded")
	}
	if err := s.MarkSent("uplink:1", after); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{LinkLocal}, {""}, {"a", "a"}} {
		if err := s.SetLinks(bad); err == nil {
			t.Errorf("SetLinks(%q) succeeded", bad)
		}
	}
	s.Close()

	s = openTest(t, Options{Path: path, Links: []string{"uplink:0", "uplink:1"}})
	if got, want := owed("uplink:1"), []codec.ID(nil); !slices.Equal(got, want) {
		t.Errorf("after reopen new link owes %v, want %v", got, want)
	}
	if got := owed("uplink:0"); len(got) != 2 {
		t.Errorf("after reopen kept link owes %v, want 2", got)
	}
}

// TestSetLinksConcurrent changes links while Puts, Pending and Owed run
// (for the race detector): no call fails on a link that is kept.
func TestSetLinksConcurrent(t *testing.T) {
	s := openTest(t, Options{Links: []string{"uplink:0"}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Put(newEnv(tagOf(byte(w)), codec.PrioNormal, 100), LinkLocal); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if _, err := s.Pending("uplink:0", 0, 10); err != nil {
					t.Errorf("Pending: %v", err)
					return
				}
				s.Owed("radio:0") // may or may not be a link now
			}
		}()
	}
	for i := range 20 {
		links := []string{"uplink:0"}
		if i%2 == 0 {
			links = append(links, "radio:0")
		}
		if err := s.SetLinks(links); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
