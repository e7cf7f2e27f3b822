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
	"strings"
	"sync"

	"github.com/cairnmesh/cairn/codec"
)

// MaxTags bounds each of the two tag sets an uplink subscribes for. At the
// bound the tag touched longest ago is dropped (logged at Info) and its
// subscriptions end. 10,000 served tags is ten times the default
// mqtt.max_clients; each tag costs one or two subscriptions at the broker
// (docs/scaling.md).
const MaxTags = 10_000

// tagsFile keeps the tag sets in the data directory, one "served TAG" or
// "watched TAG" line each, least recently touched first, so that
// subscriptions resume after a restart before any client returns.
const tagsFile = "uplink-tags"

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
	path string
	max  int
	log  *slog.Logger

	mu      sync.Mutex // guards everything below
	sets    [2]*lru
	changed chan struct{} // closed and replaced when a set's membership changes
	dirty   bool          // the file is behind
}

// lru is a set of tags in order of last touch, oldest at the front.
type lru struct {
	order *list.List // of codec.Tag
	at    map[codec.Tag]*list.Element
}

func newLRU() *lru { return &lru{order: list.New(), at: make(map[codec.Tag]*list.Element)} }

// openTags loads the sets from path, if it exists.
func openTags(path string, max int, log *slog.Logger) (*Tags, error) {
	t := &Tags{path: path, max: max, log: log, sets: [2]*lru{newLRU(), newLRU()}, changed: make(chan struct{})}
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
		t.log.Info("uplink tag dropped", "set", setNames[set], "tag", old, "reason", "bound", "max", t.max)
	}
	t.dirty = true
	close(t.changed)
	t.changed = make(chan struct{})
	return true
}

// filters returns the topic filters to subscribe to under prefix and a
// channel closed at the next change of membership.
func (t *Tags) filters(tp topics) (map[string]bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := make(map[string]bool, 2*len(t.sets[served].at)+len(t.sets[watched].at))
	for tag := range t.sets[served].at {
		f[tp.inbox(tag)] = true
		f[tp.receipt(tag)] = true
	}
	for tag := range t.sets[watched].at {
		f[tp.receipt(tag)] = true
	}
	return f, t.changed
}

// counts returns the sizes of the sets.
func (t *Tags) counts() (servedN, watchedN int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sets[served].at), len(t.sets[watched].at)
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
	t.dirty = false
	t.mu.Unlock()
	if err := writeFileAtomic(t.path, b.Bytes()); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return fmt.Errorf("writing uplink tags: %w", err)
	}
	return nil
}
