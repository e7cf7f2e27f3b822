package localca

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func open(t *testing.T, dir string, now time.Time, ips ...string) *CA {
	t.Helper()
	c, err := Open(Options{
		Dir: dir, Name: "cairn-0123456789ab", Hosts: []string{"cairn-0123456789ab.local", "Pi.local.", "localhost", "relay.example.org"},
		Addrs: func() []net.IP {
			var out []net.IP
			for _, s := range ips {
				out = append(out, net.ParseIP(s))
			}
			return out
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verify(t *testing.T, c *CA, leaf *tls.Certificate, host string, at time.Time) error {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(c.Certificate())
	_, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, CurrentTime: at})
	return err
}

// The CA is made once, kept 0600, and signs a leaf for the relay's local
// names and private addresses only; a second start keeps the CA.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := open(t, dir, now, "192.168.4.1", "127.0.0.1", "203.0.113.7", "fe80::1")
	for _, f := range []string{KeyFile, CertFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	leaf := c.Leaf()
	for _, host := range []string{"cairn-0123456789ab.local", "pi.local", "localhost", "192.168.4.1", "127.0.0.1", "fe80::1"} {
		if err := verify(t, c, leaf, host, now); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for _, host := range []string{"relay.example.org", "203.0.113.7", "192.168.4.2"} {
		if err := verify(t, c, leaf, host, now); err == nil {
			t.Errorf("the leaf is valid for %s", host)
		}
	}
	if err := verify(t, c, leaf, "localhost", now.Add(394*24*time.Hour)); err != nil {
		t.Errorf("leaf expires before 394 days: %v", err)
	}
	if got := c.Certificate().NotAfter.Sub(c.Certificate().NotBefore); got < 9*365*24*time.Hour {
		t.Errorf("CA valid for %v", got)
	}
	if !strings.Contains(c.Certificate().Subject.CommonName, "cairn-0123456789ab") {
		t.Errorf("CA named %q", c.Certificate().Subject.CommonName)
	}

	again := open(t, dir, now.Add(time.Hour), "10.0.0.9")
	if !again.Certificate().Equal(c.Certificate()) {
		t.Fatal("a second start made a new CA")
	}
	if err := verify(t, c, again.Leaf(), "10.0.0.9", now); err != nil {
		t.Errorf("the re-issued leaf does not verify under the kept CA: %v", err)
	}
	if err := verify(t, c, again.Leaf(), "192.168.4.1", now); err == nil {
		t.Errorf("the re-issued leaf still names the old address")
	}
}

// The CA's name constraints refuse a leaf for a public name even if its key
// were used to sign one.
func TestNameConstraints(t *testing.T) {
	c := open(t, t.TempDir(), time.Now(), "127.0.0.1")
	c.hosts = []string{"bank.example.com"}
	c.mu.Lock()
	err := c.issue([]net.IP{net.ParseIP("8.8.8.8")})
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"bank.example.com", "8.8.8.8"} {
		if err := verify(t, c, c.Leaf(), host, time.Now()); err == nil {
			t.Errorf("a leaf for %s verifies under the CA", host)
		}
	}
}

// A relay that boots with its clock at 1970 dates certificates from the
// floor, so that phones with a set clock accept them.
func TestClockFloor(t *testing.T) {
	c := open(t, t.TempDir(), time.Unix(0, 0), "127.0.0.1")
	if err := verify(t, c, c.Leaf(), "localhost", clockFloor.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// A connection on an address the leaf does not name gets a leaf re-issued
// with it; one on a known address does not.
func TestReissueForNewAddress(t *testing.T) {
	c := open(t, t.TempDir(), time.Now(), "192.168.4.1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			tls.Server(conn, &tls.Config{GetCertificate: c.GetCertificate}).Handshake()
			conn.Close()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(c.Certificate())
	for range 2 {
		conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	if n := c.Reissued(); n != 1 {
		t.Errorf("re-issued %d times, want 1", n)
	}
	if err := verify(t, c, c.Leaf(), "192.168.4.1", time.Now()); err != nil {
		t.Errorf("the old address was dropped: %v", err)
	}
}

// A running relay's leaf is re-issued, without a restart, when it nears
// its end or when the clock moves outside it: a Pi that booted at 1970
// issued one dated from the floor, and NTP later set the clock past it.
func TestReissueForClock(t *testing.T) {
	for _, tc := range []struct {
		name            string
		made, boot, set time.Time // the CA made at made, the relay started at boot
	}{
		{"uptime over a year", time.Now(), time.Now(), time.Now().Add(leafLifetime - 24*time.Hour)},
		{"booted at 1970, clock set years later", time.Unix(0, 0), time.Unix(0, 0), clockFloor.AddDate(3, 0, 0)},
		{"clock set back", clockFloor, clockFloor.AddDate(5, 0, 0), clockFloor.AddDate(1, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			open(t, dir, tc.made)
			var now atomic.Pointer[time.Time]
			now.Store(&tc.boot)
			c, err := Open(Options{
				Dir: dir, Hosts: []string{"localhost"},
				Addrs: func() []net.IP { return []net.IP{net.ParseIP("127.0.0.1")} },
				Now:   func() time.Time { return *now.Load() },
			})
			if err != nil {
				t.Fatal(err)
			}
			now.Store(&tc.set)
			leaf, err := c.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			if err := verify(t, c, leaf, "localhost", tc.set.Add(7*24*time.Hour)); err != nil {
				t.Fatalf("leaf at the new clock: %v", err)
			}
			if n := c.Reissued(); n != 1 {
				t.Errorf("re-issued %d times, want 1", n)
			}
			if c.GetCertificate(&tls.ClientHelloInfo{ServerName: "localhost"}); c.Reissued() != 1 {
				t.Error("re-issued again with the clock unchanged")
			}
		})
	}
}
