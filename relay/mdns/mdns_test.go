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
	if r.Families()["udp4"] == 0 {
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

// The same browse over IPv6: a one-shot query to [::1] at the responder's
// port finds the instance, and the host's addresses come as AAAA (::1)
// with the A records beside them; an AAAA query for the host is answered
// with AAAA and carries A as additionals, and an A query the other way.
func TestBrowseLegacyUnicastIPv6(t *testing.T) {
	r := start(t)
	if _, ok := r.Families()["udp6"]; !ok {
		t.Skip("no IPv6 socket on this host")
	}
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv6loopback, Port: r.LocalPort()}

	m := query(t, conn, to, 0x66, "_cairn._tcp.local.", dnsmessage.TypePTR)
	if m == nil {
		t.Fatal("no reply over IPv6 to PTR _cairn._tcp.local.")
	}
	if srv := find(m, dnsmessage.TypeSRV); len(srv) != 1 || srv[0].Body.(*dnsmessage.SRVResource).Port != 1883 {
		t.Fatalf("SRV %v", srv)
	}
	aaaa := find(m, dnsmessage.TypeAAAA)
	if len(aaaa) == 0 || aaaa[0].Body.(*dnsmessage.AAAAResource).AAAA != [16]byte(net.IPv6loopback) {
		t.Fatalf("AAAA %v", aaaa)
	}
	if len(find(m, dnsmessage.TypeA)) == 0 {
		t.Error("no A beside the AAAA in a browse reply")
	}

	m = query(t, conn, to, 0x67, "cairn-0123456789ab.local.", dnsmessage.TypeAAAA)
	if m == nil || len(m.Answers) == 0 {
		t.Fatalf("AAAA of the host: %v", m)
	}
	for _, rr := range m.Answers {
		if rr.Header.Type != dnsmessage.TypeAAAA {
			t.Errorf("AAAA query answered with %v", rr.Header.Type)
		}
	}
	if a := find(m, dnsmessage.TypeA); len(a) == 0 || a[0].Body.(*dnsmessage.AResource).A != [4]byte{127, 0, 0, 1} {
		t.Errorf("A additionals of an AAAA answer: %v", m.Additionals)
	}
	m = query(t, conn, to, 0x68, "cairn-0123456789ab.local.", dnsmessage.TypeA)
	if m == nil || len(m.Answers) == 0 || m.Answers[0].Header.Type != dnsmessage.TypeA {
		t.Fatalf("A of the host over IPv6: %v", m)
	}
	if len(find(m, dnsmessage.TypeAAAA)) == 0 {
		t.Errorf("AAAA additionals of an A answer: %v", m.Additionals)
	}
}

// A query to ff02::fb on loopback, the way a handheld on an IPv6-only
// network browses. Where the host routes no IPv6 multicast on loopback the
// test says so and skips; the IPv6 unicast test above still runs.
func TestBrowseMulticastLoopbackIPv6(t *testing.T) {
	r := start(t)
	if r.Families()["udp6"] == 0 {
		t.Skip("could not join ff02::fb on loopback")
	}
	lo := loopback(t)
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: groupIPv6, Port: r.LocalPort(), Zone: lo.Name}
	if _, err := conn.WriteToUDP([]byte{0}, to); err != nil {
		// Linux routes no IPv6 multicast on lo unless it is given the
		// MULTICAST flag and a route, which a test must not do.
		t.Skipf("no IPv6 multicast on loopback here (%v); IPv6 unicast is tested instead", err)
	}
	m := query(t, conn, to, 9, "_cairn._tcp.local.", dnsmessage.TypePTR)
	if m == nil {
		t.Skip("no IPv6 multicast delivered on loopback here; IPv6 unicast is tested instead")
	}
	if len(find(m, dnsmessage.TypeSRV)) != 1 || len(find(m, dnsmessage.TypeAAAA)) == 0 {
		t.Errorf("IPv6 multicast browse: %v", m)
	}
}

// Announcements carry A and AAAA records of the interface.
func TestRecordsBothFamilies(t *testing.T) {
	r := start(t)
	m := r.records(loopback(t).Index, -1, nil)
	var a, aaaa int
	for _, rr := range m.answers {
		switch rr.Header.Type {
		case dnsmessage.TypeA:
			a++
		case dnsmessage.TypeAAAA:
			aaaa++
			if rr.Header.Class != dnsmessage.ClassINET|classCacheBit {
				t.Errorf("AAAA class %v, want IN with cache flush", rr.Header.Class)
			}
		}
	}
	if a == 0 || aaaa == 0 {
		t.Errorf("announcement on loopback has %d A and %d AAAA records", a, aaaa)
	}
	if _, err := m.pack(); err != nil {
		t.Fatal(err)
	}
}
