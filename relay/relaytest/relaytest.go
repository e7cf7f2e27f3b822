// Package relaytest runs real relays and makes real identities for tests in
// any package: a relay on loopback ports the OS chooses, with its store in a
// temporary directory, closed when the test ends.
package relaytest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
)

// Config returns the default config with MQTT and HTTP bound to 127.0.0.1
// on free ports, discovery off, and data in a fresh temporary directory.
func Config(t testing.TB) *config.Config {
	c := config.Default()
	c.DataDir = t.TempDir()
	c.MQTT.Listen = "127.0.0.1:0"
	c.HTTP.Listen = "127.0.0.1:0"
	c.Discovery.Enabled = false // tests announce nothing on the host's networks
	return c
}

// Start runs a relay on cfg (nil means Config(t)) and closes it when the test
// ends. Logs go to the test log when -v is given.
func Start(t testing.TB, cfg *config.Config) *relay.Relay {
	t.Helper()
	return StartWithClock(t, cfg, nil)
}

// StartWithClock is Start with the store's monotonic clock replaced by now,
// for tests of lifetimes.
func StartWithClock(t testing.TB, cfg *config.Config, now func() time.Duration) *relay.Relay {
	t.Helper()
	if cfg == nil {
		cfg = Config(t)
	}
	r, err := relay.New(relay.Options{Config: cfg, Logger: Logger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("closing relay: %v", err)
		}
	})
	return r
}

// Logger writes to t.Log under -v and nowhere otherwise.
func Logger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// LogBuffer collects log output from many goroutines for a test to read.
type LogBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Identity is a handheld's key pair with everything a test needs to
// connect as it.
type Identity struct {
	Key ed25519.PrivateKey
	Pub ed25519.PublicKey
	Tag codec.Tag
	DID string
}

// NewIdentity makes a random identity.
func NewIdentity() *Identity {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Identity{Key: key, Pub: pub, Tag: codec.TagOf(pub), DID: codec.FormatDIDKey(pub)}
}

var lastStamp atomic.Uint64

// Password returns a fresh auth token: its time is now in Unix milliseconds,
// or one more than the last token made in this process, whichever is later,
// so that tokens made in a quick loop stay strictly increasing.
func (id *Identity) Password() string {
	for {
		last := lastStamp.Load()
		now := max(uint64(time.Now().UnixMilli()), last+1)
		if lastStamp.CompareAndSwap(last, now) {
			return codec.SignAuthToken(id.Key, now)
		}
	}
}

// Message returns an envelope of kind message to tag with a random body of
// n bytes, standing in for ciphertext.
func Message(to codec.Tag, prio codec.Prio, n int) *codec.Envelope {
	body := make([]byte, n)
	rand.Read(body)
	return &codec.Envelope{Kind: codec.KindMessage, To: to, TTL: 3600, Prio: prio, Body: body}
}
