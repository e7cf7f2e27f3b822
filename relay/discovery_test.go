package relay_test

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// A handheld browsing _cairn._tcp finds the relay: the SRV port is the MQTT
// port, TXT carries the relay's did:key and its listener ports, and the
// host resolves. The query goes to the responder's port on loopback as a
// one-shot (legacy unicast) mDNS query.
func TestDiscoveryFindsRelay(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.Discovery.Enabled = true
	port := 40000 + int(time.Now().UnixNano()%20000)
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t), DiscoveryPort: port,
		DiscoveryInterfaces: loopbackOnly(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	defer r.Close()

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 42})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("_cairn._tcp.local."), Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET})
	q, _ := b.Finish()
	var m dnsmessage.Message
	buf := make([]byte, 9000)
	for attempt := 0; ; attempt++ {
		conn.WriteToUDP(q, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err == nil {
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			break
		}
		if attempt == 4 {
			t.Fatalf("no mDNS reply from the relay: %v", err)
		}
	}
	var srvPort uint16
	var txt []string
	for _, rr := range slices.Concat(m.Answers, m.Additionals) {
		switch body := rr.Body.(type) {
		case *dnsmessage.SRVResource:
			srvPort = body.Port
		case *dnsmessage.TXTResource:
			txt = body.TXT
		}
	}
	_, mqttPort, _ := net.SplitHostPort(r.Addrs()["tcp"])
	_, httpPort, _ := net.SplitHostPort(r.HTTPAddr())
	if strconv.Itoa(int(srvPort)) != mqttPort {
		t.Errorf("SRV port %d, MQTT listens on %s", srvPort, mqttPort)
	}
	for _, want := range []string{"v=1", "did=" + r.DID(), "mqtt=" + mqttPort, "http=" + httpPort, "prefix=cairn/v1"} {
		if !slices.Contains(txt, want) {
			t.Errorf("TXT %q lacks %q", txt, want)
		}
	}
	if !strings.HasPrefix(r.DID(), "did:key:") {
		t.Errorf("did %q", r.DID())
	}
}

// loopbackOnly is the loopback interface alone: the responder announces
// nothing beyond this machine.
func loopbackOnly(t *testing.T) []net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return []net.Interface{ifi}
		}
	}
	t.Fatal("no loopback interface")
	return nil
}
