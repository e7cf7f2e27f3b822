package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cairnmesh/cairn/codec"
)

func TestMain(m *testing.M) {
	// Child processes of the crash and memory tests run here, not as tests.
	if path := os.Getenv(envCrashChild); path != "" {
		crashChild(path)
		return
	}
	if path := os.Getenv(envMemoryChild); path != "" {
		memoryChild(path)
		return
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is an injectable Options.Now.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Duration
}

func (c *fakeClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openTest opens a store in a temporary directory (unless opts.Path is set)
// and closes it at the end of the test.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "store.db")
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tagOf(b byte) codec.Tag { return codec.Tag{b, b, b, b, b, b, b, b} }

var bodyCounter struct {
	sync.Mutex
	n uint64
}

// newEnv returns a message envelope with a fresh 60-byte body, so a fresh id.
func newEnv(tag codec.Tag, prio codec.Prio, ttl uint32) *codec.Envelope {
	body := make([]byte, 60)
	rand.Read(body)
	bodyCounter.Lock()
	bodyCounter.n++
	binary.BigEndian.PutUint64(body, bodyCounter.n)
	bodyCounter.Unlock()
	return &codec.Envelope{Kind: codec.KindMessage, To: tag, TTL: ttl, Prio: prio, Body: body}
}

func mustPut(t testing.TB, s *Store, e *codec.Envelope, from string) codec.ID {
	t.Helper()
	id, err := s.Put(e, from)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id
}

func scanIDs(t testing.TB, s *Store, tag codec.Tag) []codec.ID {
	t.Helper()
	var ids []codec.ID
	if err := s.Scan(tag, func(it Item) bool { ids = append(ids, it.ID); return true }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return ids
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}
