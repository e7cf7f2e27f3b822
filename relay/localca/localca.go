// Package localca is the relay's own small certificate authority, so that
// its HTTP listener can serve https with nothing but the relay itself
// (http.tls = "auto"; docs/web.md, "HTTPS on the local network").
//
// On first start it makes a CA: an ECDSA P-256 key, kept in the data
// directory (mode 0600, written atomically), and a certificate valid for ten
// years, name-constrained to local names and private addresses, so that a
// phone that installs it trusts it for the relay's network and nothing on
// the internet. At every start it issues the relay a server certificate
// (the leaf) with a fresh key, for its names and its current addresses,
// valid for 397 days. A connection that arrives on an address the leaf
// does not name (DHCP gave a new one) gets a leaf re-issued with it, and
// so does one that arrives when the clock has left the leaf or will within
// 30 days.
package localca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cairnmesh/cairn/relay/internal/atomicfile"
)

// Files in the data directory.
const (
	KeyFile  = "http-ca.key" // the CA's key, PKCS #8 PEM, mode 0600
	CertFile = "http-ca.crt" // the CA's certificate, PEM
)

// Lifetimes. The leaf stays under the 398 days browsers accept from public
// CAs and the 825 days iOS accepts from any.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 397 * 24 * time.Hour
	// backdate covers phones whose clocks run behind the relay's.
	backdate = 48 * time.Hour
	// maxLeafAddrs bounds the addresses one leaf names; beyond it the
	// oldest learned from connections are dropped.
	maxLeafAddrs = 32
	// renewBefore is how long before its end a running relay re-issues
	// its leaf.
	renewBefore = 30 * 24 * time.Hour
)

// clockFloor is the earliest time the relay believes: a Pi without a
// real-time clock may boot at 1970, and a certificate dated from then has
// expired for every phone. Certificates issued before the clock is set are
// dated from here instead.
var clockFloor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// The CA's name constraints (RFC 5280, 4.2.1.10): names under these
// domains and addresses in these ranges only.
var (
	permittedDomains = []string{"local", "localhost", "home.arpa", "internal", "lan"}
	permittedRanges  = []string{
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", // private, CGNAT
		"169.254.0.0/16", "127.0.0.0/8", // link-local, loopback
		"fc00::/7", "fe80::/10", "::1/128",
	}
)

// Options configures Open.
type Options struct {
	Dir   string   // where KeyFile and CertFile are kept
	Name  string   // names the CA for a person: "Cairn relay <Name>"
	Hosts []string // DNS names for the leaf; those outside the constraints are left out
	// Addrs returns the relay's current addresses; nil means those of the
	// host's interfaces that are up.
	Addrs func() []net.IP
	Now   func() time.Time // wall clock; nil means time.Now
}

// CA is the relay's CA and its current leaf. Safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	leafKey *ecdsa.PrivateKey
	hosts   []string
	now     func() time.Time

	mu       sync.Mutex // guards leaf, ips and reissued
	leaf     *tls.Certificate
	ips      []net.IP // the addresses leaf names
	reissued int      // leaves issued after the first
}

// Open loads the CA kept in o.Dir, making it if there is none, and issues a
// leaf for o.Hosts and the current addresses.
func Open(o Options) (*CA, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	addrs := o.Addrs
	if addrs == nil {
		addrs = InterfaceAddrs
	}
	c := &CA{now: now}
	var err error
	if c.key, err = loadOrMakeKey(filepath.Join(o.Dir, KeyFile)); err != nil {
		return nil, err
	}
	if c.cert, err = c.loadOrMakeCert(filepath.Join(o.Dir, CertFile), o.Name); err != nil {
		return nil, err
	}
	if c.leafKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	for _, h := range o.Hosts {
		if h = strings.ToLower(strings.TrimSuffix(h, ".")); permittedHost(h) {
			c.hosts = append(c.hosts, h)
		}
	}
	var ips []net.IP
	for _, ip := range addrs() {
		if permittedIP(ip) {
			ips = append(ips, ip)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.issue(ips); err != nil {
		return nil, err
	}
	return c, nil
}

// Certificate is the CA's certificate, what a phone installs.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Fingerprint is the SHA-256 of the CA's certificate in upper-case hex
// pairs, as phones show it.
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.cert.Raw)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

// Leaf returns the current server certificate.
func (c *CA) Leaf() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaf
}

// Reissued counts the leaves issued since Open, for new addresses or the
// clock.
func (c *CA) Reissued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reissued
}

// GetCertificate is for tls.Config: the current leaf, re-issued first when
// the connection arrived on a permitted address it does not name, or when
// the clock has left it or will within renewBefore (a long uptime, or a Pi
// that booted without a clock and had it set later).
func (c *CA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ips, renew := c.ips, c.stale()
	if ip := localIP(hello); ip != nil && !slices.ContainsFunc(c.ips, ip.Equal) {
		ips, renew = append([]net.IP{ip}, c.ips...), true
		if len(ips) > maxLeafAddrs {
			ips = ips[:maxLeafAddrs]
		}
	}
	if !renew {
		return c.leaf, nil
	}
	if err := c.issue(ips); err != nil {
		return c.leaf, nil // the old leaf; the phone will say why it does not do
	}
	c.reissued++
	return c.leaf, nil
}

// stale reports whether the clock is outside the leaf or within
// renewBefore of its end. c.mu is held.
func (c *CA) stale() bool {
	now := c.clock()
	return now.Before(c.leaf.Leaf.NotBefore) || now.After(c.leaf.Leaf.NotAfter.Add(-renewBefore))
}

// localIP is the permitted address a connection arrived on, nil when it
// has none.
func localIP(hello *tls.ClientHelloInfo) net.IP {
	if hello.Conn == nil {
		return nil
	}
	ta, ok := hello.Conn.LocalAddr().(*net.TCPAddr)
	if !ok || !permittedIP(ta.IP) {
		return nil
	}
	return ta.IP
}

// issue makes a leaf for c.hosts and ips. c.mu is held.
func (c *CA) issue(ips []net.IP) error {
	from := c.clock().Add(-backdate)
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	cn := "cairn relay"
	if len(c.hosts) > 0 {
		cn = c.hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     c.hosts,
		IPAddresses:  ips,
		NotBefore:    from,
		NotAfter:     from.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &c.leafKey.PublicKey, c.key)
	if err != nil {
		return fmt.Errorf("issuing the relay's certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	// The CA goes with the leaf, so that a client that pins the CA's key
	// (Chromium's --ignore-certificate-errors-spki-list) finds it.
	c.leaf = &tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: c.leafKey, Leaf: leaf}
	c.ips = ips
	return nil
}

// clock is the wall clock, not before clockFloor.
func (c *CA) clock() time.Time {
	t := c.now()
	if t.Before(clockFloor) {
		return clockFloor
	}
	return t
}

func loadOrMakeKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, fmt.Errorf("writing the HTTP CA's key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the HTTP CA's key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return key, nil
}

// loadOrMakeCert loads the CA's certificate, or makes one for c.key: on
// first start, or when a power cut fell between writing the key and it.
func (c *CA) loadOrMakeCert(path, name string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(b)
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: not a PEM certificate", path)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&c.key.PublicKey) {
			return nil, fmt.Errorf("%s is not the certificate of %s", path, KeyFile)
		}
		return cert, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the HTTP CA's certificate: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	var ranges []*net.IPNet
	for _, r := range permittedRanges {
		_, n, err := net.ParseCIDR(r)
		if err != nil {
			panic(err)
		}
		ranges = append(ranges, n)
	}
	from := c.clock().Add(-backdate)
	tmpl := &x509.Certificate{
		SerialNumber:                serial,
		Subject:                     pkix.Name{CommonName: strings.TrimSpace("Cairn relay " + name), Organization: []string{"Cairn relay, local CA"}},
		NotBefore:                   from,
		NotAfter:                    from.Add(caLifetime),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         permittedDomains,
		PermittedIPRanges:           ranges,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &c.key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("making the HTTP CA: %w", err)
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, fmt.Errorf("writing the HTTP CA's certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// permittedHost reports whether a DNS name falls under the constraints.
func permittedHost(h string) bool {
	if h == "" || net.ParseIP(h) != nil {
		return false
	}
	for _, d := range permittedDomains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

func permittedIP(ip net.IP) bool {
	if ip == nil {
		return false
	}
	return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip)
}

var _, cgnat, _ = net.ParseCIDR("100.64.0.0/10")

// InterfaceAddrs returns the addresses of the host's interfaces that are
// up, loopback included.
func InterfaceAddrs() []net.IP {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ips = append(ips, n.IP)
			}
		}
	}
	return ips
}
