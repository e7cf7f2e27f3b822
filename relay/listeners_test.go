package relay_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "cairn test relay"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile, pool
}

// The TLS and WebSocket listeners serve the same relay as the TCP one: an
// envelope sent over TLS arrives at a subscriber on WebSocket.
func TestTLSAndWebSocketListeners(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.MQTT.CertFile, cfg.MQTT.KeyFile, _ = selfSigned(t)
	_, _, pool := selfSigned(t) // a different CA: must be refused
	cfg.MQTT.TLSListen = "127.0.0.1:0"
	cfg.MQTT.WSListen = "127.0.0.1:0"
	r := relaytest.Start(t, cfg)
	addrs := r.Addrs()

	certPEM, _ := os.ReadFile(cfg.MQTT.CertFile)
	trusted := x509.NewCertPool()
	trusted.AppendCertsFromPEM(certPEM)

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
	if c, err := tlsClient(pool); err == nil {
		c.Disconnect(0)
		t.Fatal("TLS connection with an untrusted certificate succeeded")
	}
	sender, err := tlsClient(trusted)
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
