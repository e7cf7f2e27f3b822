package store

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// outcome is one done call, recorded in the order the calls happened.
type outcome struct {
	req int // index of the request, in call order
	id  codec.ID
	err error
}

// recorder collects done calls; calls counts them per request.
type recorder struct {
	mu    sync.Mutex // guards got and calls
	got   []outcome
	calls map[int]int
	wg    sync.WaitGroup
}

func newRecorder() *recorder { return &recorder{calls: map[int]int{}} }

func (rc *recorder) put(s *Store, i int, e *codec.Envelope) {
	rc.wg.Add(1)
	s.PutAsync(e, LinkLocal, func(id codec.ID, err error) { rc.record(i, id, err) })
}

func (rc *recorder) record(i int, id codec.ID, err error) {
	rc.mu.Lock()
	rc.got = append(rc.got, outcome{i, id, err})
	rc.calls[i]++
	rc.mu.Unlock()
	rc.wg.Done()
}

// check waits for n requests and verifies each done was called once, in
// call order.
func (rc *recorder) check(t *testing.T, n int) []outcome {
	t.Helper()
	rc.wg.Wait()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range n {
		if rc.calls[i] != 1 {
			t.Errorf("request %d: done called %d times", i, rc.calls[i])
		}
	}
	for i, o := range rc.got {
		if o.req != i {
			t.Fatalf("done call %d was for request %d: not in call order", i, o.req)
		}
	}
	return rc.got
}

// One caller's PutAsync calls, refusals and duplicates among them, complete
// in call order, and Seq order equals call order.
func TestPutAsyncOrder(t *testing.T) {
	s := openTest(t, Options{})
	rc := newRecorder()
	const n = 3000
	var first *codec.Envelope
	for i := range n {
		e := newEnv(tagOf(byte(i%7)), codec.Prio(i%3), 3600)
		switch {
		case i == 0:
			first = e
		case i%100 == 1:
			e.TTL = 0 // refused before queueing: ErrExpired
		case i%100 == 2:
			e = first // duplicate
		}
		rc.put(s, i, e)
	}
	got := rc.check(t, n)
	var last uint64
	for i, o := range got {
		switch {
		case i%100 == 1:
			if !errors.Is(o.err, ErrExpired) {
				t.Fatalf("request %d: %v, want ErrExpired", i, o.err)
			}
			continue
		case i%100 == 2:
			if !errors.Is(o.err, ErrDuplicate) {
				t.Fatalf("request %d: %v, want ErrDuplicate", i, o.err)
			}
			continue
		case o.err != nil:
			t.Fatalf("request %d: %v", i, o.err)
		}
		it, ok, err := s.Get(o.id)
		if err != nil || !ok {
			t.Fatalf("request %d: Get = %v, %v", i, ok, err)
		}
		if it.Seq <= last {
			t.Fatalf("request %d: Seq %d after %d: not in call order", i, it.Seq, last)
		}
		last = it.Seq
	}
}

var errInjected = errors.New("injected bbolt failure")

// holdCommitter makes the committer wait inside a transaction until the
// returned release is called, so that what is queued meanwhile forms one
// group commit.
func holdCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	if err := s.enter(); err != nil {
		t.Fatal(err)
	}
	s.enqueue(&request{
		fn:   func(*writer) error { close(started); <-hold; return nil },
		done: func(error) { s.leave() },
	})
	<-started
	return func() { close(hold) }
}

// A group commit that fails is rolled back and each request retried alone:
// every done is still called exactly once, in order, and only the request
// that failed reports it.
func TestPutAsyncGroupRetry(t *testing.T) {
	var logs bytes.Buffer
	s := openTest(t, Options{Links: []string{"uplink:0"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	owner := newKey(t)
	tag := codec.TagOf(owner.Public().(ed25519.PublicKey))
	old := mustPut(t, s, newEnv(tag, codec.PrioNormal, 3600), LinkLocal)

	release := holdCommitter(t, s)
	rc := newRecorder()
	const failing, receipt, tooBig = 5, 7, 9
	for i := range 12 {
		switch i {
		case failing:
			rc.wg.Add(1)
			s.enter()
			s.enqueue(&request{
				fn: func(w *writer) error { w.err = errInjected; return nil },
				done: func(err error) {
					defer s.leave()
					rc.record(i, codec.ID{}, err)
				},
			})
		case receipt:
			rc.wg.Add(1)
			r := codec.SignReceipt(owner, []codec.ID{old})
			s.PutReceiptAsync(r.Envelope(300, codec.PrioNormal), r.IDs, LinkLocal, func(n int, err error) {
				if n != 1 && err == nil {
					err = errors.New("receipt deleted nothing")
				}
				rc.record(i, codec.ID{}, err)
			})
		case tooBig:
			e := newEnv(tag, codec.PrioNormal, 3600)
			e.Body = make([]byte, codec.MaxEnvelopeBytes)
			rc.put(s, i, e)
		default:
			rc.put(s, i, newEnv(tag, codec.PrioNormal, 3600))
		}
	}
	release()
	got := rc.check(t, 12)
	for i, o := range got {
		switch i {
		case failing:
			if !errors.Is(o.err, errInjected) {
				t.Errorf("failing request: %v, want the injected error", o.err)
			}
		case tooBig:
			if !errors.Is(o.err, ErrTooLarge) {
				t.Errorf("oversize request: %v, want ErrTooLarge", o.err)
			}
		default:
			if o.err != nil {
				t.Errorf("request %d: %v", i, o.err)
			}
		}
	}
	if !strings.Contains(logs.String(), "retrying requests alone") {
		t.Errorf("the batch was not retried:\n%s", logs.String())
	}
	if st := s.Stats(); st.Stored != 1+9+1 || st.Count != 9+1 || st.Deleted != 1 {
		t.Errorf("Stats = %+v, want Stored 11 (old, 9 envelopes, receipt copy), Count 10, Deleted 1", st)
	}
}

// A write that fails alone reports the failure once.
func TestPutAsyncFailureAlone(t *testing.T) {
	s := openTest(t, Options{})
	calls := 0
	err := s.submit(func(w *writer) error { calls++; w.err = errInjected; return nil })
	if !errors.Is(err, errInjected) || calls != 1 {
		t.Errorf("submit = %v after %d runs, want the injected error after 1", err, calls)
	}
	mustPut(t, s, newEnv(tagOf(1), codec.PrioNormal, 3600), LinkLocal)
}

// Close waits for every queued done; after Close, done gets ErrClosed at
// once.
func TestPutAsyncClose(t *testing.T) {
	s := openTest(t, Options{})
	release := holdCommitter(t, s)
	rc := newRecorder()
	for i := range 100 {
		rc.put(s, i, newEnv(tagOf(1), codec.PrioNormal, 3600))
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	n := len(rc.got)
	rc.mu.Unlock()
	if n != 100 {
		t.Fatalf("Close returned with %d of 100 done calls made", n)
	}
	rc.check(t, 100)

	var err error
	s.PutAsync(newEnv(tagOf(1), codec.PrioNormal, 3600), LinkLocal, func(_ codec.ID, e error) { err = e })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("PutAsync after Close: %v, want ErrClosed", err)
	}
	var rerr error
	s.PutReceiptAsync(&codec.Envelope{Kind: codec.KindReceipt}, nil, LinkLocal, func(_ int, e error) { rerr = e })
	if !errors.Is(rerr, ErrClosed) {
		t.Errorf("PutReceiptAsync after Close: %v, want ErrClosed", rerr)
	}
	if !slices.ContainsFunc(rc.got, func(o outcome) bool { return o.err == nil }) {
		t.Error("no request succeeded")
	}
}
