package uplink

import (
	"bufio"
	"bytes"
	"container/list"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/codec"
)

// A plain MQTT broker keeps a message only for sessions subscribed to its
// topic when it arrives. An envelope published before any relay serving
// its recipient has subscribed is dropped by the broker, while the sender's
// copy waits here for a receipt that cannot come. So an envelope stays
// owed after its PUBACK, in a resend schedule: it is published again after
// resend_min, then after doubling waits capped at resend_max, at most
// resend_count times, until it leaves the store — a receipt for it arrived
// (through the watched receipt topic), its ttl ended, or the quota evicted
// it. Receiving relays drop the copies by id, so a resend is harmless.
// Receipts (the store drops them once carried) and prekey bundles
// (retained by the broker) are not resent.

// MaxResend bounds each uplink's resend schedule. At the bound the entry
// scheduled longest ago is dropped (it has had the most resends); that
// envelope is no longer resent but stays in the store. 10,000 entries cost
// about 1.4 MB (measured).
const MaxResend = 10_000

// resendFile keeps the schedules in the data directory, one line per
// entry: "LINK ID RESENDS WAIT", WAIT being the seconds left until the next
// resend. It is rewritten every resendFlushEvery and at Close; a crash
// loses at most that much (those envelopes are resent later or not at all,
// as before the schedule).
const (
	resendFile       = "uplink-resend"
	resendFlushEvery = time.Minute
)

// resendEntry is one envelope due for publishing again.
type resendEntry struct {
	id   codec.ID
	n    int           // resends so far
	due  time.Duration // on the schedule's clock
	elem *list.Element // in order
}

// resendSchedule is one uplink's schedule. It is safe for concurrent use.
type resendSchedule struct {
	min, max time.Duration // first wait, cap of the doubling wait
	count    int           // resends per envelope at most
	limit    int           // entries at most
	start    time.Time     // the clock: monotonic time since start

	mu    sync.Mutex // guards at, order, dirty, dropped
	at    map[codec.ID]*resendEntry
	order *list.List // of *resendEntry, scheduled longest ago first
	dirty bool       // the file is behind
	// dropped counts entries dropped at the bound since start.
	dropped uint64
}

func newResendSchedule(min, max time.Duration, count, limit int) *resendSchedule {
	return &resendSchedule{min: min, max: max, count: count, limit: limit, start: time.Now(),
		at: make(map[codec.ID]*resendEntry), order: list.New()}
}

func (s *resendSchedule) now() time.Duration { return time.Since(s.start) }

// wait is the wait after the n-th resend (n = 0: after the first publish).
func (s *resendSchedule) wait(n int) time.Duration {
	d := s.min
	for i := 0; i < n && d < s.max; i++ {
		d *= 2
	}
	return min(d, s.max)
}

// add schedules id, published and acknowledged by the broker, for its first
// resend; an id already scheduled keeps its place.
func (s *resendSchedule) add(id codec.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.insert(id, 0, s.now()+s.wait(0))
}

func (s *resendSchedule) insert(id codec.ID, n int, due time.Duration) {
	if _, ok := s.at[id]; ok || s.count == 0 {
		return
	}
	e := &resendEntry{id: id, n: n, due: due}
	e.elem = s.order.PushBack(e)
	s.at[id] = e
	s.dirty = true
	if s.order.Len() > s.limit {
		old := s.order.Remove(s.order.Front()).(*resendEntry)
		delete(s.at, old.id)
		s.dropped++
	}
}

// due returns up to n ids whose resend is due and schedules each for the
// one after (or removes it after its last), so that an id is handed out
// once per wait even if its publish never completes.
func (s *resendSchedule) due(n int) []codec.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var ids []codec.ID
	for el := s.order.Front(); el != nil && len(ids) < n; {
		e := el.Value.(*resendEntry)
		el = el.Next()
		if e.due > now {
			continue
		}
		ids = append(ids, e.id)
		e.n++
		e.due = now + s.wait(e.n)
		if e.n >= s.count {
			s.removeEntry(e)
		}
		s.dirty = true
	}
	return ids
}

// remove forgets id: it has left the store.
func (s *resendSchedule) remove(id codec.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.at[id]; ok {
		s.removeEntry(e)
		s.dirty = true
	}
}

func (s *resendSchedule) removeEntry(e *resendEntry) {
	s.order.Remove(e.elem)
	delete(s.at, e.id)
}

// size returns how many envelopes are scheduled and how many were dropped
// at the bound.
func (s *resendSchedule) size() (int, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at), s.dropped
}

// appendTo writes the schedule's lines for link to b and marks it saved.
func (s *resendSchedule) appendTo(b *bytes.Buffer, link string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for el := s.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*resendEntry)
		left := max(0, e.due-now)
		fmt.Fprintf(b, "%s %s %d %d\n", link, e.id, e.n, int64((left+time.Second-1)/time.Second))
	}
	s.dirty = false
}

func (s *resendSchedule) isDirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty
}

// loadResend reads the schedules saved in path into scheds, by link name.
// Lines of links not configured now are dropped.
func loadResend(path string, scheds map[string]*resendSchedule) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading uplink resend schedule: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		var id codec.ID
		var resends, left int64
		if len(f) == 4 {
			var raw []byte
			raw, err = hex.DecodeString(f[1])
			if err == nil && len(raw) != len(id) {
				err = errors.New("id size")
			}
			copy(id[:], raw)
			if err == nil {
				resends, err = strconv.ParseInt(f[2], 10, 32)
			}
			if err == nil {
				left, err = strconv.ParseInt(f[3], 10, 64)
			}
		}
		if len(f) != 4 || err != nil || resends < 0 || left < 0 {
			return fmt.Errorf("%s line %d: not \"LINK ID RESENDS WAIT\"", path, n)
		}
		if s := scheds[f[0]]; s != nil {
			s.mu.Lock()
			s.insert(id, int(resends), s.now()+time.Duration(left)*time.Second)
			s.mu.Unlock()
		}
	}
	for _, s := range scheds {
		s.mu.Lock()
		s.dirty = false
		s.mu.Unlock()
	}
	return nil
}
