package uplink

import (
	"sync"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// Fetching a prekey bundle retained upstream (docs/uplink.md, "Prekey
// bundles"). A relay asked for the bundle of a tag it holds none for
// subscribes to {prefix}/bundle/{tag} on every uplink for a short while:
// the broker sends the retained bundle, if it has one, at once; it goes
// through the ingest path like any arrival, and the relay answers the
// requests waiting for it (relay/bundles.go). The subscription ends when
// a bundle for the tag has arrived or the wait is over. MQTT has no
// answer for "nothing retained", so a tag without a bundle waits it out.

// Bounds of the fetch set.
const (
	// MaxFetches bounds the tags whose bundles are being fetched at once;
	// beyond it the fetch that would end first is given up.
	MaxFetches = 256
	// MaxFetchWait caps how long one fetch keeps its subscription.
	MaxFetchWait = time.Minute
)

// fetchSet holds the tags whose retained bundles are being fetched, each
// until a deadline. The zero value is an empty set; it is safe for
// concurrent use.
type fetchSet struct {
	mu      sync.Mutex // guards until and changed
	until   map[codec.Tag]time.Time
	changed chan struct{} // closed and replaced when membership changes
}

// add fetches tag until now+wait (capped at MaxFetchWait), or later if it
// was already being fetched longer.
func (f *fetchSet) add(tag codec.Tag, wait time.Duration, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.until == nil {
		f.until = make(map[codec.Tag]time.Time)
	}
	end := now.Add(min(wait, MaxFetchWait))
	old, ok := f.until[tag]
	if ok && !end.After(old) {
		return
	}
	f.until[tag] = end
	if !ok && len(f.until) > MaxFetches {
		first, firstEnd := tag, end
		for t, e := range f.until {
			if e.Before(firstEnd) {
				first, firstEnd = t, e
			}
		}
		delete(f.until, first)
	}
	if !ok {
		f.notify()
	}
}

// done ends the fetch of tag: its bundle arrived.
func (f *fetchSet) done(tag codec.Tag) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.until[tag]; ok {
		delete(f.until, tag)
		f.notify()
	}
}

func (f *fetchSet) notify() {
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

// filters adds to want the bundle topics of the tags being fetched at
// now, forgetting those whose wait is over, and returns when the next
// one ends (zero if none) and a channel closed at the next change.
func (f *fetchSet) filters(tp topics, want map[string]bool, now time.Time) (next time.Time, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tag, end := range f.until {
		if !end.After(now) {
			delete(f.until, tag)
			continue
		}
		want[tp.bundle(tag)] = true
		if next.IsZero() || end.Before(next) {
			next = end
		}
	}
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return next, f.changed
}

// FetchBundle subscribes every uplink to the retained prekey bundle of tag
// for up to wait (at most MaxFetchWait), or until one arrives: the relay
// holds none and a request for it is waiting. What arrives is ingested
// like any arrival from the uplink. Uplinks that are offline subscribe if
// they connect within the wait.
func (g *Group) FetchBundle(tag codec.Tag, wait time.Duration) {
	g.fetch.add(tag, wait, time.Now())
	g.log.Debug("uplink bundle fetch", "tag", tag, "wait", wait)
}
