package uplink

import (
	"bufio"
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/internal/atomicfile"
	"github.com/cairnmesh/cairn/relay/internal/floodlog"
)

// MaxTags bounds each of the two tag sets an uplink subscribes for. At the
// bound the tag touched longest ago is dropped (logged at Info) and its
// subscriptions end. 10,000 served tags is ten times the default
// mqtt.max_clients; each tag costs one or two subscriptions at the broker
// (docs/scaling.md).
const MaxTags = 10_000

// MaxNearTags bounds the near set: tags that radio neighbours without an
// uplink of their own announce (ServeNear). It is apart from the served
// set, so radio traffic cannot push out the relay's own clients' tags. At
// the bound the tag announced longest ago is dropped (logged at Info).
const MaxNearTags = 1_000

// tagsFile keeps the tag sets in the data directory, one "served TAG" or
// "watched TAG" line each, least recently touched first, so that
// subscriptions resume after a restart before any client returns; and one
// "dropped TAG UPLINKS" line for each tag dropped at the bound whose
// subscriptions some uplinks may still hold at their broker, UPLINKS being
// a hex bit mask of their indexes. Near tags are "near TAG" lines: they
// are not served again after a restart (their neighbour may be gone) but
// read as dropped, so each uplink unsubscribes them when it next connects
// unless a neighbour has announced them again by then.
const tagsFile = "uplink-tags"

// maxDropUplinks is how many uplinks (the first ones in configuration
// order) remember tags dropped while offline, to unsubscribe them when
// they reconnect: one bit each in a mask. Later uplinks unsubscribe a
// dropped tag only on a live connection.
const maxDropUplinks = 64

// tagSet names the two sets.
type tagSet int

const (
	served  tagSet = iota // tags of local clients that subscribed to their inbox: inbox and receipt topics
	watched               // tags this relay published to: receipt topic only, so receipts purge copies here
)

var setNames = [...]string{served: "served", watched: "watched"}

// Tags are the tag sets the uplinks subscribe for, bounded by MaxTags each
// and kept on disk. They are safe for concurrent use.
type Tags struct {
	path   string
	max    int
	log    *slog.Logger
	floods *floodlog.Log // tags dropped at the bound: new identities can cause one each

	mu      sync.Mutex // guards everything below
	sets    [2]*lru
	changed chan struct{} // closed and replaced when a set's membership changes
	dirty   bool          // the file is behind
	// dropped are tags dropped at the bound, dropped longest ago first,
	// with the uplinks that may still be subscribed to them at their
	// broker (a persistent session keeps subscriptions while the relay is
	// away). Bounded by max.
	dropped   *lru
	dropMasks map[codec.Tag]uint64
	allMask   uint64 // a bit for each uplink
	// near are the tags radio neighbours announce, least recently
	// announced first, each held until nearUntil; bounded by nearMax.
	// nearTimer fires at the earliest expiry. Once nearOff (the group
	// closed) the near set no longer changes and no timer is armed.
	near      *lru
	nearUntil map[codec.Tag]time.Time
	nearMax   int
	nearTimer *time.Timer
	nearOff   bool
}

// lru is a set of tags in order of last touch, oldest at the front.
type lru struct {
	order *list.List // of codec.Tag
	at    map[codec.Tag]*list.Element
}

func newLRU() *lru { return &lru{order: list.New(), at: make(map[codec.Tag]*list.Element)} }

// openTags loads the sets from path, if it exists, for n uplinks.
func openTags(path string, max, n int, log *slog.Logger, floods *floodlog.Log) (*Tags, error) {
	t := &Tags{path: path, max: max, log: log, floods: floods, sets: [2]*lru{newLRU(), newLRU()}, changed: make(chan struct{}),
		near: newLRU(), nearUntil: make(map[codec.Tag]time.Time), nearMax: MaxNearTags,
		dropped: newLRU(), dropMasks: make(map[codec.Tag]uint64)}
	for i := range min(n, maxDropUplinks) {
		t.allMask |= 1 << i
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading uplink tags: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		name, hexTag, ok := strings.Cut(sc.Text(), " ")
		if name == "near" {
			tag, err := codec.ParseTag(hexTag)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: not \"near TAG\"", path, n)
			}
			t.drop(tag, t.allMask)
			continue
		}
		if name == "dropped" {
			hexTag, hexMask, _ := strings.Cut(hexTag, " ")
			tag, err := codec.ParseTag(hexTag)
			mask, merr := strconv.ParseUint(hexMask, 16, 64)
			if err != nil || merr != nil {
				return nil, fmt.Errorf("%s line %d: not \"dropped TAG UPLINKS\"", path, n)
			}
			t.drop(tag, mask&t.allMask)
			continue
		}
		tag, err := codec.ParseTag(hexTag)
		set := tagSet(-1)
		for i, s := range setNames {
			if s == name {
				set = tagSet(i)
			}
		}
		if !ok || err != nil || set < 0 {
			return nil, fmt.Errorf("%s line %d: not \"served TAG\" or \"watched TAG\"", path, n)
		}
		t.touch(set, tag)
	}
	t.dirty = false
	return t, nil
}

// add touches tag in set; it reports whether tag is new there.
func (t *Tags) add(set tagSet, tag codec.Tag) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.touch(set, tag)
}

func (t *Tags) touch(set tagSet, tag codec.Tag) bool {
	s := t.sets[set]
	if e, ok := s.at[tag]; ok {
		s.order.MoveToBack(e)
		return false
	}
	s.at[tag] = s.order.PushBack(tag)
	if s.order.Len() > t.max {
		old := s.order.Remove(s.order.Front()).(codec.Tag)
		delete(s.at, old)
		t.floods.Event(slog.LevelInfo, "uplink tag dropped", "uplink tags dropped", "bound",
			slog.String("set", setNames[set]), slog.Any("tag", old), slog.Int("max", t.max))
		t.drop(old, t.allMask)
	}
	t.markChanged()
	return true
}

// markChanged records a change of membership. Called with mu held.
func (t *Tags) markChanged() {
	t.dirty = true
	close(t.changed)
	t.changed = make(chan struct{})
}

// serveNear puts tags in the near set until ttl from now, or moves their
// expiry on; it reports how many are new there.
func (t *Tags) serveNear(tags []codec.Tag, ttl time.Duration) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nearOff {
		return 0
	}
	now := time.Now()
	changed := t.expireNear(now)
	added := 0
	for _, tag := range tags {
		t.nearUntil[tag] = now.Add(ttl)
		if e, ok := t.near.at[tag]; ok {
			t.near.order.MoveToBack(e)
			continue
		}
		t.near.at[tag] = t.near.order.PushBack(tag)
		added++
		changed = true
		if t.near.order.Len() > t.nearMax {
			old := t.near.order.Front().Value.(codec.Tag)
			t.floods.Event(slog.LevelInfo, "uplink tag dropped", "uplink tags dropped", "bound",
				slog.String("set", "near"), slog.Any("tag", old), slog.Int("max", t.nearMax))
			t.unnear(old)
		}
	}
	if changed {
		t.markChanged()
	}
	t.armNear(now)
	return added
}

// unnear takes tag out of the near set. Unless a local client is served
// it too, its subscriptions end: on live connections at the next
// resubscribe, on uplinks that are away when they reconnect (as for a
// tag dropped at the bound). Called with mu held.
func (t *Tags) unnear(tag codec.Tag) {
	t.near.order.Remove(t.near.at[tag])
	delete(t.near.at, tag)
	delete(t.nearUntil, tag)
	if _, ok := t.sets[served].at[tag]; !ok {
		t.drop(tag, t.allMask)
	}
}

// expireNear drops the near tags whose time is up; it reports whether
// there were any. Called with mu held.
func (t *Tags) expireNear(now time.Time) bool {
	var gone []codec.Tag
	for tag, until := range t.nearUntil {
		if !now.Before(until) {
			gone = append(gone, tag)
		}
	}
	for _, tag := range gone {
		t.log.Debug("uplink near tag expired", "tag", tag)
		t.unnear(tag)
	}
	return len(gone) > 0
}

// armNear sets the timer for the earliest near expiry. Called with mu
// held.
func (t *Tags) armNear(now time.Time) {
	var first time.Time
	for _, until := range t.nearUntil {
		if first.IsZero() || until.Before(first) {
			first = until
		}
	}
	if first.IsZero() {
		if t.nearTimer != nil {
			t.nearTimer.Stop()
		}
		return
	}
	if t.nearTimer == nil {
		t.nearTimer = time.AfterFunc(first.Sub(now), t.onNearTimer)
		return
	}
	t.nearTimer.Reset(first.Sub(now))
}

func (t *Tags) onNearTimer() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nearOff { // stopNear ran while this call waited for mu
		return
	}
	now := time.Now()
	if t.expireNear(now) {
		t.markChanged()
	}
	t.armNear(now)
}

// stopNear stops the expiry timer for good; the near set stays as it is
// and serveNear changes it no more. Group.Close calls it.
func (t *Tags) stopNear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nearOff = true
	if t.nearTimer != nil {
		t.nearTimer.Stop()
	}
}

// drop remembers that the uplinks in mask may still be subscribed for tag.
func (t *Tags) drop(tag codec.Tag, mask uint64) {
	if mask == 0 {
		return
	}
	if _, ok := t.dropped.at[tag]; !ok {
		t.dropped.at[tag] = t.dropped.order.PushBack(tag)
	}
	t.dropMasks[tag] |= mask
	if t.dropped.order.Len() > t.max {
		old := t.dropped.order.Remove(t.dropped.order.Front()).(codec.Tag)
		delete(t.dropped.at, old)
		delete(t.dropMasks, old)
	}
	t.dirty = true
}

// unsubscribed records that uplink i no longer holds subscriptions for
// tags.
func (t *Tags) unsubscribed(i int, tags []codec.Tag) {
	if len(tags) == 0 || i >= maxDropUplinks {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tag := range tags {
		m, ok := t.dropMasks[tag]
		if !ok {
			continue
		}
		if m &^= 1 << i; m != 0 {
			t.dropMasks[tag] = m
		} else {
			t.dropped.order.Remove(t.dropped.at[tag])
			delete(t.dropped.at, tag)
			delete(t.dropMasks, tag)
		}
		t.dirty = true
	}
}

// filters returns the topic filters to subscribe to under prefix, the
// dropped tags uplink i may still be subscribed for, and a channel closed
// at the next change of membership.
func (t *Tags) filters(tp topics, i int) (map[string]bool, []codec.Tag, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var stale []codec.Tag
	if i < maxDropUplinks {
		for tag, m := range t.dropMasks {
			if m&(1<<i) != 0 {
				stale = append(stale, tag)
			}
		}
	}
	f := make(map[string]bool, 2*len(t.sets[served].at)+len(t.sets[watched].at)+2*len(t.near.at))
	for tag := range t.sets[served].at {
		f[tp.inbox(tag)] = true
		f[tp.receipt(tag)] = true
	}
	for tag := range t.near.at {
		f[tp.inbox(tag)] = true
		f[tp.receipt(tag)] = true
	}
	for tag := range t.sets[watched].at {
		f[tp.receipt(tag)] = true
	}
	return f, stale, t.changed
}

// counts returns the sizes of the sets.
func (t *Tags) counts() (servedN, watchedN, nearN int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sets[served].at), len(t.sets[watched].at), len(t.near.at)
}

// flush writes the file if it is behind.
func (t *Tags) flush() error {
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	var b bytes.Buffer
	for i, s := range t.sets {
		for e := s.order.Front(); e != nil; e = e.Next() {
			fmt.Fprintf(&b, "%s %s\n", setNames[i], e.Value.(codec.Tag))
		}
	}
	for e := t.near.order.Front(); e != nil; e = e.Next() {
		fmt.Fprintf(&b, "near %s\n", e.Value.(codec.Tag))
	}
	for e := t.dropped.order.Front(); e != nil; e = e.Next() {
		tag := e.Value.(codec.Tag)
		fmt.Fprintf(&b, "dropped %s %x\n", tag, t.dropMasks[tag])
	}
	t.dirty = false
	t.mu.Unlock()
	if err := atomicfile.Write(t.path, b.Bytes()); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return fmt.Errorf("writing uplink tags: %w", err)
	}
	return nil
}

// ServeNear records that a radio neighbour without an uplink of its own
// announced tags (relay/radiolink, serves frames): every uplink subscribes
// to their inbox and receipts, as for served tags, until ttl passes
// without another announcement (the link's neighbour timeout). Then, or
// when MaxNearTags newer ones push them out, the subscriptions end. What
// arrives for them is stored and flooded to the neighbour by radio.
func (g *Group) ServeNear(tags []codec.Tag, ttl time.Duration) {
	_, set := g.state()
	if set == nil {
		return
	}
	if n := set.serveNear(tags, ttl); n > 0 {
		g.log.Debug("uplink near tags served", "new", n, "announced", len(tags), "ttl", ttl)
	}
}
