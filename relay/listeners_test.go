package relay_test

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/internal/testcert"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// The TLS and WebSocket listeners serve the same relay as the TCP one: an
// envelope sent over TLS arrives at a subscriber on WebSocket.
func TestTLSAndWebSocketListeners(t *testing.T) {
	cfg := relaytest.Config(t)
	ca := testcert.NewCA(t)
	f := ca.WriteFiles(t, t.TempDir())
	cfg.MQTT.CertFile, cfg.MQTT.KeyFile = f.Cert, f.Key
	other := testcert.NewCA(t).Pool() // a different CA: must be refused
	cfg.MQTT.TLSListen = "127.0.0.1:0"
	cfg.MQTT.WSListen = "127.0.0.1:0"
	r := relaytest.Start(t, cfg)
	addrs := r.Addrs()

	bob := relaytest.NewIdentity()
	ws := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("ws://" + addrs["ws"]).
		SetClientID(clientID("ws")).SetUsername(bob.DID).SetPassword(bob.Password()).SetAutoReconnect(false))
	if tok := ws.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("websocket connect: %v", tok.Error())
	}
	t.Cleanup(func() { ws.Disconnect(100) })
	in := subscribe3(t, ws, bob)

	tlsClient := func(roots *x509.CertPool) (pahov3.Client, error) {
		c := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("ssl://" + addrs["tls"]).
			SetClientID(clientID("tls")).SetAutoReconnect(false).
			SetTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
		tok := c.Connect()
		tok.WaitTimeout(wait)
		return c, tok.Error()
	}
	if c, err := tlsClient(other); err == nil {
		c.Disconnect(0)
		t.Fatal("TLS connection with an untrusted certificate succeeded")
	}
	sender, err := tlsClient(ca.Pool())
	if err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	t.Cleanup(func() { sender.Disconnect(100) })
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	publish3(t, sender, send, e.Encode())
	if got := in.next(); got.ID() != e.ID() {
		t.Fatalf("got %s, want %s", got.ID(), e.ID())
	}
}

// Lifetimes count on the relay's monotonic clock: an envelope is delivered
// with its remaining life, and not at all once its life has passed.
func TestExpiryOnInjectedClock(t *testing.T) {
	var now atomic.Int64 // nanoseconds on the fake monotonic clock
	cfg := relaytest.Config(t)
	r := relaytest.StartWithClock(t, cfg, func() time.Duration { return time.Duration(now.Load()) })
	bob := relaytest.NewIdentity()
	short := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	short.TTL = 60
	long := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	long.TTL = 3600
	sender := v3(t, r, nil)
	publish3(t, sender, send, short.Encode())
	publish3(t, sender, send, long.Encode())

	now.Add(int64(45 * time.Second))
	c := v3(t, r, bob)
	in := subscribe3(t, c, bob)
	got := map[codec.ID]uint32{}
	for range 2 {
		e := in.next()
		got[e.ID()] = e.TTL
	}
	if ttl := got[short.ID()]; ttl < 14 || ttl > 15 {
		t.Errorf("after 45 s the 60 s envelope has ttl %d, want 15", ttl)
	}
	if ttl := got[long.ID()]; ttl < 3554 || ttl > 3555 {
		t.Errorf("after 45 s the 3600 s envelope has ttl %d, want 3555", ttl)
	}
	c.Disconnect(100)

	now.Add(int64(30 * time.Second))
	if n, err := r.Store().Sweep(); err != nil || n != 1 {
		t.Errorf("sweep expired %d (%v), want 1", n, err)
	}
	in = subscribe3(t, v3(t, r, bob), bob)
	if e := in.next(); e.ID() != long.ID() {
		t.Fatalf("after expiry got %s, want only %s", e.ID(), long.ID())
	}
	in.quiet()
	// The expired id is still remembered: sending it again stores nothing.
	publish3(t, sender, send, short.Encode())
	if s := r.Store().Stats(); s.Count != 1 {
		t.Errorf("store holds %d after resending the expired envelope, want 1", s.Count)
	}
}
