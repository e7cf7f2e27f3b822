package radiotest

import (
	"encoding/hex"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDatagramDocExample(t *testing.T) {
	p, _ := hex.DecodeString("a040870101")
	tx := Datagram{Type: TypeTX, Node: 1, FrequencyHz: 869525000, BandwidthHz: 125000, SF: 9, CR: 5, Payload: p}
	if got := hex.EncodeToString(tx.Append(nil)); got != "0101000133d3e6080001e84809050000000000000000a040870101" {
		t.Fatalf("TX %s", got)
	}
	rx := tx
	rx.Type, rx.AirtimeUs, rx.RSSIDBm, rx.SNRQuarter = TypeRX, 123904, -101, -7
	b := rx.Append(nil)
	if got := hex.EncodeToString(b); got != "0102000133d3e6080001e84809050001e400ff9bf900a040870101" {
		t.Fatalf("RX %s", got)
	}
	back, err := ParseDatagram(b)
	if err != nil || back.RSSIDBm != -101 || back.SNRQuarter != -7 {
		t.Fatalf("%+v %v", back, err)
	}
	for _, bad := range []string{"", "02010001", "0101000133d3e6080001e84809050000000000000001aa", "0101000133d3e6080001e84809050000000000000000"} {
		b, _ := hex.DecodeString(bad)
		if _, err := ParseDatagram(b); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

type node struct {
	id   uint16
	conn *net.UDPConn
}

func newNode(t *testing.T, a *Air, id uint16) node {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := Datagram{Type: TypeHello, Node: id}
	c.WriteToUDP(h.Append(nil), a.Addr())
	return node{id, c}
}

func (n node) send(a *Air, payload string) {
	d := Datagram{Type: TypeTX, Node: n.id, FrequencyHz: 869525000, BandwidthHz: 125000, SF: 9, CR: 5, Payload: []byte(payload)}
	n.conn.WriteToUDP(d.Append(nil), a.Addr())
}

func (n node) recv(t *testing.T, within time.Duration) (Datagram, bool) {
	n.conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, MaxDatagram)
	k, _, err := n.conn.ReadFromUDP(buf)
	if err != nil {
		return Datagram{}, false
	}
	d, err := ParseDatagram(buf[:k])
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

// waitHello waits until the air knows every node (HELLO is asynchronous).
func waitHello(t *testing.T, a *Air, n int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		a.mu.Lock()
		k := len(a.nodes)
		a.mu.Unlock()
		if k >= n {
			return
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising on time
	}
	t.Fatal("nodes never registered")
}

func TestAirRangeAndCollision(t *testing.T) {
	a, err := NewAir(7)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	x, y, z := newNode(t, a, 1), newNode(t, a, 2), newNode(t, a, 3)
	waitHello(t, a, 3)
	a.Connect(1, 2, Link{RSSIDBm: -80})
	a.Connect(2, 3, Link{}) // 1 and 3 out of range: a line
	x.send(a, "hello")
	d, ok := y.recv(t, 2*time.Second)
	if !ok || string(d.Payload) != "hello" || d.RSSIDBm != -80 || d.AirtimeUs != 123904 {
		t.Fatalf("%+v %v", d, ok)
	}
	if _, ok := z.recv(t, 300*time.Millisecond); ok {
		t.Fatal("node out of range heard the frame")
	}
	// Hidden terminals: 1 and 3 send at once, 2 hears both and gets neither.
	x.send(a, "one")
	z.send(a, "two")
	if d, ok := y.recv(t, 500*time.Millisecond); ok {
		t.Fatalf("collided frame delivered: %q", d.Payload)
	}
	if s := a.Stats(); s.Collided != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAirLoss(t *testing.T) {
	a, err := NewAir(3)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	x, y := newNode(t, a, 1), newNode(t, a, 2)
	waitHello(t, a, 2)
	a.Connect(1, 2, Link{Loss: 1})
	x.send(a, "lost")
	if _, ok := y.recv(t, 400*time.Millisecond); ok {
		t.Fatal("frame on a link with loss 1 delivered")
	}
	if s := a.Stats(); s.Lost != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestAirBackToBack: a node's frames that seem to overlap (the air read
// the first datagram late: here both are sent at once) do not collide with
// each other; a radio sends one frame at a time.
func TestAirBackToBack(t *testing.T) {
	a, err := NewAir(1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	x, y := newNode(t, a, 1), newNode(t, a, 2)
	waitHello(t, a, 2)
	a.Connect(1, 2, Link{})
	x.send(a, "first")
	x.send(a, "second")
	got := map[string]bool{}
	for range 2 { // in either order: both end at about the same time here
		d, ok := y.recv(t, 2*time.Second)
		if !ok {
			t.Fatalf("got %v, want first and second; stats %+v", got, a.Stats())
		}
		got[string(d.Payload)] = true
	}
	if !got["first"] || !got["second"] {
		t.Fatalf("got %v, want first and second", got)
	}
	if s := a.Stats(); s.Collided != 0 || s.Delivered != 2 {
		t.Fatalf("stats %+v", s)
	}
}
