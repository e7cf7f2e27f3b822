package relay

import (
	"crypto/tls"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/relay/localca"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// HTTPS on the HTTP listener (config http.tls; docs/web.md, "HTTPS on the
// local network"). Browsers give the web client a service worker, install
// and the camera only in a secure context, so a phone must reach the relay
// over https. One port serves both: each connection's first byte says
// which (a TLS handshake record starts with 0x16, an HTTP request with a
// letter). Over https everything of http.go is served; over plain HTTP
// only the CA page and certificate (tls = "auto"), and a redirect to https
// for everything else, so the address a phone knows keeps working.
//
//	/ca       how to install the relay's CA on Android and iOS (both schemes)
//	/ca.crt   the CA's certificate, DER, application/x-x509-ca-cert

// sniffTimeout bounds how long a connection may take to send its first byte.
const sniffTimeout = 10 * time.Second

// tlsConfig returns the listener's TLS configuration, nil when http.tls is
// off, and the relay's CA when it is auto.
func (r *Relay) tlsConfig() (*tls.Config, *localca.CA, error) {
	h := r.cfg.HTTP
	// HTTP/1.1 only: WebSocket (/mqtt) upgrades need it.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	switch h.TLS {
	case "files":
		cert, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("http.cert_file, http.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
		return tc, nil, nil
	case "auto":
		id, err := uplink.RelayID(r.cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		hosts := []string{"cairn-" + id + ".local", "localhost"} // the name discovery announces
		if hn, err := os.Hostname(); err == nil && hn != "" {
			hosts = append(hosts, strings.SplitN(hn, ".", 2)[0]+".local") // avahi's name for the host
		}
		ca, err := localca.Open(localca.Options{Dir: r.cfg.DataDir, Name: "cairn-" + id, Hosts: hosts, Addrs: r.tlsAddrs})
		if err != nil {
			return nil, nil, fmt.Errorf("http.tls = \"auto\": %w", err)
		}
		tc.GetCertificate = ca.GetCertificate
		leaf := ca.Leaf().Leaf
		r.log.Info("https certificate issued", "names", leaf.DNSNames, "addresses", leaf.IPAddresses,
			"expires", leaf.NotAfter.Format(time.DateOnly), "ca", ca.Fingerprint())
		return tc, ca, nil
	}
	return nil, nil, nil
}

// HTTPScheme is "https" when the HTTP listener serves https (http.tls on),
// else "http".
func (r *Relay) HTTPScheme() string {
	if r.plainSrv != nil {
		return "https"
	}
	return "http"
}

// HTTPCAFingerprint is the SHA-256 fingerprint of the relay's CA, which
// phones install (http.tls = "auto"); "" without one.
func (r *Relay) HTTPCAFingerprint() string {
	if r.ca == nil {
		return ""
	}
	return r.ca.Fingerprint()
}

// tlsAddrs are the addresses the relay's certificate names: the listener's
// own when bound to one, else every interface's.
func (r *Relay) tlsAddrs() []net.IP {
	host, _, _ := net.SplitHostPort(r.cfg.HTTP.Listen)
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return []net.IP{ip}
	}
	return localca.InterfaceAddrs()
}

// plainHandler answers plain HTTP when https is on: the CA page and
// certificate, and a redirect to the same address over https.
func (r *Relay) plainHandler() http.Handler {
	mux := http.NewServeMux()
	r.handleCA(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		// 307, not 301: a browser keeps a permanent redirect for ever, and
		// the operator may turn https off again.
		http.Redirect(w, req, "https://"+req.Host+req.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	return mux
}

// handleCA adds /ca and /ca.crt to mux when the relay has its own CA.
func (r *Relay) handleCA(mux *http.ServeMux) {
	if r.ca == nil {
		return
	}
	der := r.ca.Certificate().Raw
	mux.HandleFunc("GET /ca.crt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Header().Set("Content-Disposition", `attachment; filename="cairn-relay-ca.crt"`)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(der)
	})
	mux.HandleFunc("GET /ca", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		caPage.Execute(w, struct{ Name, Fingerprint, App string }{
			r.ca.Certificate().Subject.CommonName, r.ca.Fingerprint(), "https://" + req.Host + "/",
		})
	})
}

var caPage = template.Must(template.New("ca").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trust this relay</title>
<style>body{font:18px/1.5 system-ui,sans-serif;margin:1em;max-width:40em;color:#000;background:#fff}
a.b{display:inline-block;padding:.6em 1em;background:#000;color:#fff;text-decoration:none;border-radius:.3em}
code{word-break:break-all;font-size:14px}</style></head><body>
<h1>Trust this relay</h1>
<p>The web client needs https to work offline, install to the home screen and scan codes.
This relay signs its own certificate. Install its certificate once on each phone:</p>
<p><a class="b" href="/ca.crt">Download the certificate</a></p>
<p>It is named <b>{{.Name}}</b>. Before you trust it, check that its SHA-256 fingerprint is the
one the relay's operator reads with <i>cairn status</i> or in its log (<i>https certificate issued</i>):<br><code>{{.Fingerprint}}</code></p>
<h2>Android</h2>
<ol><li>Download the certificate (above).</li>
<li>Settings → Security (or Security &amp; privacy) → More security settings → Encryption &amp; credentials →
Install a certificate → <b>CA certificate</b> → Install anyway → choose <i>cairn-relay-ca.crt</i>.</li>
<li>Open <a href="{{.App}}">{{.App}}</a> in Chrome.</li></ol>
<h2>iPhone and iPad</h2>
<ol><li>Open this page in Safari and download the certificate; allow the profile.</li>
<li>Settings → General → VPN &amp; Device Management → the profile → Install.</li>
<li>Settings → General → About → Certificate Trust Settings → turn on full trust for it.</li>
<li>Open <a href="{{.App}}">{{.App}}</a> in Safari.</li></ol>
<p>The certificate is good only for local names (.local, .lan, .home.arpa, .internal) and private
addresses: it cannot vouch for a site on the internet.</p>
</body></html>
`))

// splitListener hands each connection of l to one of two listeners by its
// first byte: tls for a TLS handshake record (0x16), plain otherwise.
type splitListener struct {
	l          net.Listener
	tls, plain *connQueue

	mu       sync.Mutex // guards sniffing and closed
	sniffing map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup // the accept loop and the sniffers
}

func newSplitListener(l net.Listener) *splitListener {
	s := &splitListener{l: l, sniffing: make(map[net.Conn]struct{})}
	s.tls, s.plain = newConnQueue(s), newConnQueue(s)
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *splitListener) accept() {
	defer s.wg.Done()
	var delay time.Duration // after a temporary error
	for {
		c, err := s.l.Accept()
		if ne, ok := err.(net.Error); ok && ne.Temporary() {
			// Out of file descriptors (EMFILE) and the like: wait and
			// accept again, backing off as net/http's Server.Serve does,
			// rather than end the listener for good.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
				continue
			case <-s.tls.done:
				return
			}
		}
		if err != nil {
			s.Close()
			return
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.sniffing[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.sniff(c)
	}
}

func (s *splitListener) sniff(c net.Conn) {
	defer s.wg.Done()
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	_, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	s.mu.Lock()
	delete(s.sniffing, c)
	s.mu.Unlock()
	if err != nil {
		c.Close()
		return
	}
	q := s.plain
	if b[0] == 0x16 {
		q = s.tls
	}
	select {
	case q.ch <- &prefixConn{Conn: c, prefix: b[:]}:
	case <-q.done:
		c.Close()
	}
}

// Close closes l, every connection still being sniffed and both queues,
// and waits for the sniffers.
func (s *splitListener) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.l.Close()
	for c := range s.sniffing {
		c.Close()
	}
	s.mu.Unlock()
	close(s.tls.done)
	close(s.plain.done)
	return err
}

// wait returns once the accept loop and every sniffer have ended.
func (s *splitListener) wait() { s.wg.Wait() }

// connQueue is one side of a splitListener, a net.Listener for http.Server.
type connQueue struct {
	s    *splitListener
	ch   chan net.Conn
	done chan struct{} // closed by splitListener.Close
}

func newConnQueue(s *splitListener) *connQueue {
	return &connQueue{s: s, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error   { return q.s.Close() }
func (q *connQueue) Addr() net.Addr { return q.s.l.Addr() }

// prefixConn gives back the byte the splitListener read.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
