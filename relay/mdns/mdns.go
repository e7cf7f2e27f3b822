// Package mdns announces services on the local network with multicast DNS
// (RFC 6762) and DNS-Based Service Discovery (RFC 6763): a small responder
// for the few records of one host, over IPv4 (224.0.0.251) and IPv6
// (ff02::fb), built on golang.org/x/net/dns/dnsmessage.
//
// It answers PTR queries for each service type and for
// _services._dns-sd._udp.local, SRV and TXT queries for each instance, and
// A and AAAA queries for the host, with the addresses of the interface the
// query came in on (both families, whichever the query came over: RFC 6762
// §6.2). Each family has its own socket; a host without IPv6 (or IPv4)
// answers on the other alone. Queries from port 5353 are answered by multicast (or unicast
// when they set the QU bit); queries from any other port are one-shot
// "legacy unicast" queries (RFC 6762 §6.7) and get a unicast reply with the
// query's id, its question and TTLs of at most 10 s. It announces its
// records twice at start and says goodbye (TTL 0) on Close. It does not
// probe for name conflicts: host and instance names carry the relay id,
// unique per data directory.
package mdns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Protocol constants (RFC 6762).
const (
	Port          = 5353
	hostTTL       = 120  // seconds, A and SRV (RFC 6762 §10)
	otherTTL      = 4500 // seconds, PTR and TXT
	legacyMaxTTL  = 10   // seconds, in replies to legacy unicast queries
	classCacheBit = 0x8000
	classQUBit    = 0x8000
	maxPacket     = 9000 // RFC 6762 §17
)

var (
	groupIPv4 = net.IPv4(224, 0, 0, 251)
	groupIPv6 = net.ParseIP("ff02::fb")
)

// Service is one service instance of the host.
type Service struct {
	Instance string   // instance label, e.g. "cairn-3fa2b1c4d5e6"
	Type     string   // e.g. "_cairn._tcp"
	Port     uint16   // TCP port
	TXT      []string // key=value strings, each at most 255 bytes
}

// Options configure Start.
type Options struct {
	Host     string    // host label; answers for Host.local.
	Services []Service // at least one
	// Port to listen on; 0 means 5353. Tests use another so as not to
	// meet the host's own responder.
	Port int
	// Interfaces to join the group on; nil means every interface that is
	// up and multicast-capable.
	Interfaces []net.Interface
	Logger     *slog.Logger // default slog.Default()
}

// Responder answers mDNS queries until Close. Create with Start.
type Responder struct {
	opts  Options
	log   *slog.Logger
	port  int
	socks []*sock // IPv4 first, if it opened; then IPv6

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// sock is the responder's socket of one address family: a wildcard socket
// on the port, shared (SO_REUSEADDR) with any other responder on the host,
// which receives unicast too.
type sock struct {
	family string // "udp4" or "udp6"
	conn   *net.UDPConn
	group  *net.UDPAddr    // the mDNS group on the port
	ifs    []net.Interface // joined
	read   func(b []byte) (n, ifIndex int, src net.Addr, err error)
	write  func(b []byte, ifIndex int, dst net.Addr) error
}

// openSock opens the socket of family ("udp4" or "udp6") on port and joins
// the group on each of ifs that allows it.
func openSock(family string, port int, ifs []net.Interface, log *slog.Logger) (*sock, error) {
	group := groupIPv4
	if family == "udp6" {
		group = groupIPv6
	}
	conn, err := net.ListenMulticastUDP(family, nil, &net.UDPAddr{IP: group, Port: port})
	if err != nil {
		return nil, err
	}
	s := &sock{family: family, conn: conn, group: &net.UDPAddr{IP: group, Port: conn.LocalAddr().(*net.UDPAddr).Port}}
	var join func(ifi *net.Interface) error
	if family == "udp4" {
		pc := ipv4.NewPacketConn(conn)
		if err := pc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
			conn.Close()
			return nil, err
		}
		pc.SetMulticastTTL(255)
		pc.SetMulticastLoopback(true)
		join = func(ifi *net.Interface) error { return pc.JoinGroup(ifi, &net.UDPAddr{IP: group}) }
		s.read = func(b []byte) (int, int, net.Addr, error) {
			n, cm, src, err := pc.ReadFrom(b)
			if cm == nil {
				return n, 0, src, err
			}
			return n, cm.IfIndex, src, err
		}
		s.write = func(b []byte, ifIndex int, dst net.Addr) error {
			_, err := pc.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifIndex}, dst)
			return err
		}
	} else {
		pc := ipv6.NewPacketConn(conn)
		if err := pc.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true); err != nil {
			conn.Close()
			return nil, err
		}
		pc.SetMulticastHopLimit(255)
		pc.SetMulticastLoopback(true)
		join = func(ifi *net.Interface) error { return pc.JoinGroup(ifi, &net.UDPAddr{IP: group}) }
		s.read = func(b []byte) (int, int, net.Addr, error) {
			n, cm, src, err := pc.ReadFrom(b)
			if cm == nil {
				return n, 0, src, err
			}
			return n, cm.IfIndex, src, err
		}
		s.write = func(b []byte, ifIndex int, dst net.Addr) error {
			_, err := pc.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifIndex}, dst)
			return err
		}
	}
	for _, ifi := range ifs {
		if err := join(&ifi); err != nil {
			log.Warn("mdns: not joining", "interface", ifi.Name, "family", family, "err", err)
			continue
		}
		s.ifs = append(s.ifs, ifi)
	}
	return s, nil
}

// Start binds the mDNS port, joins the group and starts answering.
func Start(opts Options) (*Responder, error) {
	if opts.Host == "" || len(opts.Services) == 0 {
		return nil, errors.New("mdns: Host and at least one Service are required")
	}
	for _, n := range append([]string{opts.Host}, instanceNames(opts.Services)...) {
		if _, err := dnsmessage.NewName(n + ".local."); err != nil || strings.Contains(strings.TrimSuffix(n, ".local."), "..") {
			return nil, fmt.Errorf("mdns: bad name %q", n)
		}
	}
	if opts.Port == 0 {
		opts.Port = Port
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ifs := opts.Interfaces
	if ifs == nil {
		all, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("mdns: listing interfaces: %w", err)
		}
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0 {
				ifs = append(ifs, ifi)
			}
		}
	}
	r := &Responder{opts: opts, log: opts.Logger, done: make(chan struct{})}
	var errs []error
	for _, family := range []string{"udp4", "udp6"} {
		s, err := openSock(family, opts.Port, ifs, r.log)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", family, err))
			continue
		}
		r.socks = append(r.socks, s)
	}
	if len(r.socks) == 0 {
		return nil, fmt.Errorf("mdns: %w", errors.Join(errs...))
	}
	for _, err := range errs {
		r.log.Info("mdns: one address family only", "err", err)
	}
	r.port = r.socks[0].group.Port
	r.wg.Add(1 + len(r.socks))
	for _, s := range r.socks {
		go r.serve(s)
	}
	go r.announce()
	return r, nil
}

// LocalPort is the UDP port the responder listens on.
func (r *Responder) LocalPort() int { return r.port }

// Families returns the address families it answers on ("udp4", "udp6")
// and, for each, how many interfaces joined the group.
func (r *Responder) Families() map[string]int {
	out := make(map[string]int)
	for _, s := range r.socks {
		out[s.family] = len(s.ifs)
	}
	return out
}

// Close sends goodbyes, stops answering and releases the port.
func (r *Responder) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		for _, s := range r.socks {
			for _, ifi := range s.ifs {
				r.multicast(s, ifi, r.records(ifi.Index, 0, nil))
			}
		}
		for _, s := range r.socks {
			s.conn.Close()
		}
		r.wg.Wait()
	})
	return nil
}

// announce sends every record unsolicited, twice, one second apart (RFC
// 6762 §8.3).
func (r *Responder) announce() {
	defer r.wg.Done()
	for i := range 2 {
		if i > 0 {
			select {
			case <-r.done:
				return
			case <-time.After(time.Second):
			}
		}
		for _, s := range r.socks {
			for _, ifi := range s.ifs {
				r.multicast(s, ifi, r.records(ifi.Index, -1, nil))
			}
		}
	}
}

func (r *Responder) serve(s *sock) {
	defer r.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, ifIndex, src, err := s.read(buf)
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.answer(s, buf[:n], ifIndex, src.(*net.UDPAddr))
	}
}

// answer parses one query and replies to what it asks of us. Anything
// malformed, or a response, is ignored.
func (r *Responder) answer(s *sock, pkt []byte, ifIndex int, src *net.UDPAddr) {
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	if err != nil || h.Response || h.OpCode != 0 {
		return
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return
	}
	// Responders and continuous queriers send from the mDNS port; any
	// other source port is a one-shot (legacy unicast) querier.
	legacy := src.Port != r.port
	unicast := legacy
	var asked []dnsmessage.Question
	for _, q := range qs {
		if uint16(q.Class)&classQUBit != 0 {
			unicast = true
			q.Class = dnsmessage.Class(uint16(q.Class) &^ classQUBit)
		}
		if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
			continue
		}
		asked = append(asked, q)
	}
	ttl := -1
	if legacy {
		ttl = legacyMaxTTL
	}
	recs := r.records(ifIndex, ttl, asked)
	if len(recs.answers) == 0 {
		return
	}
	if legacy {
		recs.id = h.ID
		recs.questions = qs
		recs.legacy = true
	}
	msg, err := recs.pack()
	if err != nil {
		r.log.Warn("mdns: packing reply", "err", err)
		return
	}
	if unicast {
		s.write(msg, ifIndex, src)
		return
	}
	s.write(msg, ifIndex, s.group)
}

func (r *Responder) multicast(s *sock, ifi net.Interface, recs reply) {
	msg, err := recs.pack()
	if err != nil {
		return
	}
	s.write(msg, ifi.Index, s.group)
}

// reply is a response under construction.
type reply struct {
	id          uint16
	legacy      bool
	questions   []dnsmessage.Question
	answers     []dnsmessage.Resource
	additionals []dnsmessage.Resource
}

func (m reply) pack() ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: m.id, Response: true, Authoritative: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	for _, q := range m.questions {
		if err := b.Question(q); err != nil {
			return nil, err
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, rr := range m.answers {
		if err := addResource(&b, rr); err != nil {
			return nil, err
		}
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	for _, rr := range m.additionals {
		if err := addResource(&b, rr); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

func addResource(b *dnsmessage.Builder, rr dnsmessage.Resource) error {
	switch body := rr.Body.(type) {
	case *dnsmessage.AResource:
		return b.AResource(rr.Header, *body)
	case *dnsmessage.AAAAResource:
		return b.AAAAResource(rr.Header, *body)
	case *dnsmessage.PTRResource:
		return b.PTRResource(rr.Header, *body)
	case *dnsmessage.SRVResource:
		return b.SRVResource(rr.Header, *body)
	case *dnsmessage.TXTResource:
		return b.TXTResource(rr.Header, *body)
	}
	return fmt.Errorf("mdns: unexpected record %T", rr.Body)
}

// records builds the reply to asked (nil: an announcement of everything)
// with the addresses of interface ifIndex. ttl < 0 means the normal TTLs;
// 0 is a goodbye.
func (r *Responder) records(ifIndex int, ttl int, asked []dnsmessage.Question) reply {
	host := mustName(r.opts.Host + ".local.")
	ttlOf := func(normal uint32) uint32 {
		if ttl >= 0 {
			return min(normal, uint32(ttl))
		}
		return normal
	}
	// Unique records (A, SRV, TXT) set the cache-flush bit, except in
	// legacy unicast replies (RFC 6762 §10.2, §6.7).
	class := func(unique bool) dnsmessage.Class {
		if unique && ttl != legacyMaxTTL {
			return dnsmessage.ClassINET | classCacheBit
		}
		return dnsmessage.ClassINET
	}
	hdr := func(name dnsmessage.Name, typ dnsmessage.Type, unique bool, normal uint32) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: name, Type: typ, Class: class(unique), TTL: ttlOf(normal)}
	}
	var addrs []dnsmessage.Resource // A, then AAAA
	v4, v6 := interfaceAddrs(ifIndex)
	for _, ip := range v4 {
		addrs = append(addrs, dnsmessage.Resource{Header: hdr(host, dnsmessage.TypeA, true, hostTTL),
			Body: &dnsmessage.AResource{A: [4]byte(ip)}})
	}
	for _, ip := range v6 {
		addrs = append(addrs, dnsmessage.Resource{Header: hdr(host, dnsmessage.TypeAAAA, true, hostTTL),
			Body: &dnsmessage.AAAAResource{AAAA: [16]byte(ip)}})
	}
	// addrsOf returns the address records of type typ, and the others:
	// an answer of one family carries the other's as additionals (RFC
	// 6762 §6.2).
	addrsOf := func(typ dnsmessage.Type) (match, other []dnsmessage.Resource) {
		for _, rr := range addrs {
			if rr.Header.Type == typ || typ == dnsmessage.TypeALL {
				match = append(match, rr)
			} else {
				other = append(other, rr)
			}
		}
		return match, other
	}
	instance := func(s Service) (srv, txt dnsmessage.Resource) {
		name := mustName(s.Instance + "." + s.Type + ".local.")
		srv = dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeSRV, true, hostTTL),
			Body: &dnsmessage.SRVResource{Target: host, Port: s.Port}}
		txt = dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeTXT, true, otherTTL),
			Body: &dnsmessage.TXTResource{TXT: s.TXT}}
		return srv, txt
	}
	ptr := func(s Service) dnsmessage.Resource {
		return dnsmessage.Resource{Header: hdr(mustName(s.Type+".local."), dnsmessage.TypePTR, false, otherTTL),
			Body: &dnsmessage.PTRResource{PTR: mustName(s.Instance + "." + s.Type + ".local.")}}
	}
	var m reply
	if asked == nil {
		for _, s := range r.opts.Services {
			srv, txt := instance(s)
			m.answers = append(m.answers, ptr(s), srv, txt)
		}
		m.answers = append(m.answers, addrs...)
		return m
	}
	want := func(q dnsmessage.Question, typ dnsmessage.Type) bool {
		return q.Type == typ || q.Type == dnsmessage.TypeALL
	}
	haveAddrs := false
	for _, q := range asked {
		name := strings.ToLower(q.Name.String())
		if name == "_services._dns-sd._udp.local." && want(q, dnsmessage.TypePTR) {
			for _, s := range r.opts.Services {
				m.answers = append(m.answers, dnsmessage.Resource{
					Header: hdr(q.Name, dnsmessage.TypePTR, false, otherTTL),
					Body:   &dnsmessage.PTRResource{PTR: mustName(s.Type + ".local.")}})
			}
		}
		for _, s := range r.opts.Services {
			srv, txt := instance(s)
			switch name {
			case strings.ToLower(s.Type + ".local."):
				if want(q, dnsmessage.TypePTR) {
					m.answers = append(m.answers, ptr(s))
					m.additionals = append(m.additionals, srv, txt)
					haveAddrs = true
				}
			case strings.ToLower(s.Instance + "." + s.Type + ".local."):
				if want(q, dnsmessage.TypeSRV) {
					m.answers = append(m.answers, srv)
					haveAddrs = true
				}
				if want(q, dnsmessage.TypeTXT) {
					m.answers = append(m.answers, txt)
				}
			}
		}
		if name == strings.ToLower(host.String()) {
			for _, typ := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
				if q.Type == typ {
					match, other := addrsOf(typ)
					m.answers = append(m.answers, match...)
					if len(match) > 0 {
						m.additionals = append(m.additionals, other...)
					}
				}
			}
			if q.Type == dnsmessage.TypeALL {
				m.answers = append(m.answers, addrs...)
			}
		}
	}
	if haveAddrs {
		m.additionals = append(m.additionals, addrs...)
	}
	return m
}

// interfaceAddrs lists the IPv4 and IPv6 addresses of interface index
// (all interfaces' if it is unknown).
func interfaceAddrs(index int) (v4, v6 []net.IP) {
	var addrs []net.Addr
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		addrs, _ = ifi.Addrs()
	} else {
		addrs, _ = net.InterfaceAddrs()
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := ipn.IP.To4(); ip4 != nil {
			v4 = append(v4, ip4)
		} else if ip16 := ipn.IP.To16(); ip16 != nil {
			v6 = append(v6, ip16)
		}
	}
	return v4, v6
}

func instanceNames(ss []Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Instance+"."+s.Type)
	}
	return out
}

func mustName(s string) dnsmessage.Name {
	n, err := dnsmessage.NewName(s)
	if err != nil {
		panic(fmt.Sprintf("mdns: name %q: %v", s, err)) // names are built from checked labels
	}
	return n
}
