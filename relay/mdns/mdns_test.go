package mdns

import (
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func loopback(t *testing.T) net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi
		}
	}
	t.Fatal("no loopback interface")
	return net.Interface{}
}

func start(t *testing.T) *Responder {
	t.Helper()
	r, err := Start(Options{
		Host: "cairn-0123456789ab",
		Services: []Service{
			{Instance: "cairn-0123456789ab", Type: "_cairn._tcp", Port: 1883, TXT: []string{"did=did:key:z6MkTest", "mqtt=1883"}},
			{Instance: "cairn-0123456789ab", Type: "_mqtt._tcp", Port: 1883, TXT: []string{"did=did:key:z6MkTest"}},
		},
		Port:       40000 + int(time.Now().UnixNano()%20000), // not 5353: keep clear of the host's responder
		Interfaces: []net.Interface{loopback(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func query(t *testing.T, conn *net.UDPConn, to *net.UDPAddr, id uint16, name string, typ dnsmessage.Type) *dnsmessage.Message {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteToUDP(msg, to); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, maxPacket)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		var m dnsmessage.Message
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if m.Header.Response && m.Header.ID == id {
			return &m
		}
	}
}

func find(m *dnsmessage.Message, typ dnsmessage.Type) []dnsmessage.Resource {
	var out []dnsmessage.Resource
	for _, rr := range slices.Concat(m.Answers, m.Additionals) {
		if rr.Header.Type == typ {
			out = append(out, rr)
		}
	}
	return out
}

// A one-shot DNS-SD browse over unicast to the responder's port (legacy
// unicast, RFC 6762 §6.7: what works on loopback, which carries no
// multicast here) finds the instance, its port, TXT and address.
func TestBrowseLegacyUnicast(t *testing.T) {
	r := start(t)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.LocalPort()}

	m := query(t, conn, to, 0x1234, "_cairn._tcp.local.", dnsmessage.TypePTR)
	if m == nil {
		t.Fatal("no reply to PTR _cairn._tcp.local.")
	}
	if len(m.Questions) != 1 {
		t.Errorf("legacy reply repeats %d questions, want 1", len(m.Questions))
	}
	ptr := find(m, dnsmessage.TypePTR)
	if len(ptr) != 1 || ptr[0].Body.(*dnsmessage.PTRResource).PTR.String() != "cairn-0123456789ab._cairn._tcp.local." {
		t.Fatalf("PTR answers %v", ptr)
	}
	srv := find(m, dnsmessage.TypeSRV)
	if len(srv) != 1 || srv[0].Body.(*dnsmessage.SRVResource).Port != 1883 ||
		srv[0].Body.(*dnsmessage.SRVResource).Target.String() != "cairn-0123456789ab.local." {
		t.Fatalf("SRV %v", srv)
	}
	txt := find(m, dnsmessage.TypeTXT)
	if len(txt) != 1 || !slices.Contains(txt[0].Body.(*dnsmessage.TXTResource).TXT, "did=did:key:z6MkTest") {
		t.Fatalf("TXT %v", txt)
	}
	a := find(m, dnsmessage.TypeA)
	if len(a) == 0 || a[0].Body.(*dnsmessage.AResource).A != [4]byte{127, 0, 0, 1} {
		t.Fatalf("A %v", a)
	}
	for _, rr := range slices.Concat(m.Answers, m.Additionals) {
		if rr.Header.TTL > legacyMaxTTL {
			t.Errorf("%v TTL %d in a legacy reply", rr.Header.Type, rr.Header.TTL)
		}
	}

	if m := query(t, conn, to, 2, "_services._dns-sd._udp.local.", dnsmessage.TypePTR); m == nil || len(find(m, dnsmessage.TypePTR)) != 2 {
		t.Errorf("service enumeration: %v", m)
	}
	if m := query(t, conn, to, 3, "cairn-0123456789ab._mqtt._tcp.local.", dnsmessage.TypeTXT); m == nil || len(find(m, dnsmessage.TypeTXT)) != 1 {
		t.Errorf("TXT of the _mqtt._tcp instance: %v", m)
	}
	if m := query(t, conn, to, 4, "cairn-0123456789ab.local.", dnsmessage.TypeA); m == nil || len(find(m, dnsmessage.TypeA)) == 0 {
		t.Errorf("A of the host: %v", m)
	}
	if m := query(t, conn, to, 5, "other._cairn._tcp.local.", dnsmessage.TypeSRV); m != nil {
		t.Errorf("answered for another instance: %v", m)
	}
	// Garbage changes nothing.
	conn.WriteToUDP([]byte{0xde, 0xad}, to)
	if m := query(t, conn, to, 6, "_mqtt._tcp.local.", dnsmessage.TypePTR); m == nil {
		t.Error("no reply after garbage")
	}
}

// A query sent to the group address (the way a handheld browses) reaches
// the responder on this host. Where the host routes no multicast the test
// says so and skips; the legacy unicast test above still runs.
func TestBrowseMulticastLoopback(t *testing.T) {
	r := start(t)
	if len(r.ifs) == 0 {
		t.Skip("could not join the mDNS group on loopback")
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := query(t, conn, &net.UDPAddr{IP: groupIPv4, Port: r.LocalPort()}, 7, "_cairn._tcp.local.", dnsmessage.TypePTR)
	if m == nil {
		t.Skip("no multicast delivered on this host; legacy unicast is tested instead")
	}
	if len(find(m, dnsmessage.TypeSRV)) != 1 {
		t.Errorf("multicast browse: %v", m)
	}
}
