package uplink

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// paho.golang writes each packet as several Writes, from several
// goroutines at once (publishes, the ack tracker's PUBACKs, pings): over a
// packetConn every packet arrives whole, none cut into by another.
func TestPacketConnKeepsPacketsWhole(t *testing.T) {
	const writers, each = 8, 200
	near, far := net.Pipe()
	c := newPacketConn(near)
	var wg sync.WaitGroup
	defer func() { c.Close(); far.Close(); wg.Wait() }()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := &packets.Publish{QoS: 1, PacketID: uint16(w*each + i + 1), Topic: fmt.Sprintf("t/%d", w),
					Properties: &packets.Properties{}, Payload: bytes.Repeat([]byte{byte(w)}, 10+i)}
				if _, err := p.WriteTo(c); err != nil {
					return // closed: the reader has failed
				}
			}
		})
	}
	for n := range writers * each {
		cp, err := packets.ReadPacket(far)
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		p, ok := cp.Content.(*packets.Publish)
		if !ok {
			t.Fatalf("packet %d: type %d, want PUBLISH", n, cp.Type)
		}
		w := int(p.PacketID-1) / each
		want := bytes.Repeat([]byte{byte(w)}, 10+int(p.PacketID-1)%each)
		if p.Topic != fmt.Sprintf("t/%d", w) || !bytes.Equal(p.Payload, want) {
			t.Fatalf("packet %d (id %d) cut into: topic %q, payload %x", n, p.PacketID, p.Topic, p.Payload)
		}
	}
}
