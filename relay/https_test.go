package relay_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/internal/testcert"
	"github.com/cairnmesh/cairn/relay/localca"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// httpsClient trusts roots only and follows no redirect.
func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout:       wait,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func fetch(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// caPool reads the CA the relay made in its data directory.
func caPool(t *testing.T, dir string) (*x509.CertPool, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, localca.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	pool := x509.NewCertPool()
	if block == nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", localca.CertFile)
	}
	return pool, block.Bytes
}

// With http.tls = "auto" the relay makes its CA and serves the whole
// listener over https with a certificate it verifies under: /status.json,
// /healthz, the app, and MQTT over wss://…/mqtt, where an envelope sent
// over TCP arrives. Plain HTTP on the same port serves the CA and its page
// and redirects everything else to https. A client that does not trust the
// CA is refused; a restart keeps the CA.
func TestHTTPSAuto(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.HTTP.TLS = "auto"
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t), Web: app})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			r.Close()
		}
	})
	if err := r.Serve(); err != nil {
		t.Fatal(err)
	}
	base := r.HTTPAddr()
	pool, caDER := caPool(t, cfg.DataDir)
	c := httpsClient(pool)

	resp, body := fetch(t, c, "https://"+base+"/status.json")
	var st struct {
		DID string `json:"did"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || !strings.HasPrefix(st.DID, "did:key:") {
		t.Fatalf("https /status.json: %d %s", resp.StatusCode, body)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/": "the app at /", "/readyz": "ready"} {
		if resp, body := fetch(t, c, "https://"+base+path); resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("https %s: %d %q", path, resp.StatusCode, body)
		}
	}

	plain := httpsClient(nil)
	for _, path := range []string{"/", "/status.json?x=1", "/mqtt"} {
		resp, _ := fetch(t, plain, "http://"+base+path)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect || loc != "https://"+base+path {
			t.Errorf("http %s: %d to %q, want 307 to https", path, resp.StatusCode, loc)
		}
	}
	resp, body = fetch(t, plain, "http://"+base+"/ca.crt")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" || !bytes.Equal(body, caDER) {
		t.Errorf("http /ca.crt: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	resp, body = fetch(t, plain, "http://"+base+"/ca")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `href="/ca.crt"`) || !strings.Contains(string(body), "Certificate Trust Settings") {
		t.Errorf("http /ca: %d\n%s", resp.StatusCode, body)
	}

	if _, err := httpsClient(testcert.NewCA(t).Pool()).Get("https://" + base + "/healthz"); err == nil {
		t.Error("a client that does not trust the relay's CA got an answer")
	}

	bob := relaytest.NewIdentity()
	wss := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("wss://" + base + "/mqtt").
		SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).
		SetClientID(clientID("wss")).SetUsername(bob.DID).SetPassword(bob.Password()).SetAutoReconnect(false))
	if tok := wss.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho over wss://…/mqtt: %v", tok.Error())
	}
	t.Cleanup(func() { wss.Disconnect(100) })
	in := subscribe3(t, wss, bob)
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	publish3(t, v3(t, r, nil), send, e.Encode())
	if got := in.next(); got.ID() != e.ID() {
		t.Fatalf("got %s over wss, want %s", got.ID(), e.ID())
	}

	wss.Disconnect(100)
	r.Close()
	closed = true
	cfg.HTTP.Listen = base
	r = startWeb(t, cfg)
	if _, again := caPool(t, cfg.DataDir); !bytes.Equal(again, caDER) {
		t.Fatal("a restart made a new CA")
	}
	if resp, _ := fetch(t, c, "https://"+r.HTTPAddr()+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("after a restart, https /healthz: %d", resp.StatusCode)
	}
}

// With http.tls = "files" the listener serves the given certificate; plain
// HTTP redirects, even /ca, since there is no CA of the relay's to give.
func TestHTTPSFiles(t *testing.T) {
	ca := testcert.NewCA(t)
	f := ca.WriteFiles(t, t.TempDir())
	cfg := relaytest.Config(t)
	cfg.HTTP.TLS, cfg.HTTP.CertFile, cfg.HTTP.KeyFile = "files", f.Cert, f.Key
	var idle net.Conn
	t.Cleanup(func() { idle.Close() }) // after the relay's Close
	r := startWeb(t, cfg)
	base := r.HTTPAddr()
	// A connection that never says whether it is TLS: Close must not wait
	// for it, nor leave its sniffer behind (goleak, TestMain).
	idle, err := net.Dial("tcp", base)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := fetch(t, httpsClient(ca.Pool()), "https://"+base+"/metrics"); resp.StatusCode != 200 || !strings.Contains(string(body), "cairn_") {
		t.Errorf("https /metrics: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, httpsClient(ca.Pool()), "https://"+base+"/ca.crt"); resp.Header.Get("Content-Type") == "application/x-x509-ca-cert" {
		t.Error("/ca.crt served without a CA of the relay's")
	}
	if resp, _ := fetch(t, httpsClient(nil), "http://"+base+"/ca"); resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("http /ca: %d, want 307", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, localca.KeyFile)); err == nil {
		t.Error("tls = files made a CA")
	}
}

// A key file that does not hold the certificate's key stops New with an
// error that names the keys.
func TestHTTPSFilesBad(t *testing.T) {
	a, b := testcert.NewCA(t).WriteFiles(t, t.TempDir()), testcert.NewCA(t).WriteFiles(t, t.TempDir())
	cfg := relaytest.Config(t)
	cfg.HTTP.TLS, cfg.HTTP.CertFile, cfg.HTTP.KeyFile = "files", a.Cert, b.Key
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err == nil {
		r.Close()
		t.Fatal("New accepted a mismatched key")
	}
	if !strings.Contains(err.Error(), "http.cert_file") {
		t.Errorf("error %q does not name http.cert_file", err)
	}
}
