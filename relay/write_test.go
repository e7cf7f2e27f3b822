package relay

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestEncodePacketMatchesWritePacket checks that a run encoded by the relay
// carries the same bytes mochi's WritePacket would write for each packet,
// for each protocol version and the client properties that change the
// encoding, and that the Maximum Packet Size refuses the same packets.
func TestEncodePacketMatchesWritePacket(t *testing.T) {
	puback := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 7}
	refused := puback
	refused.ReasonCode = codeQuotaExceeded.Code
	refused.Properties.ReasonString = "relay storage: disk_full"
	publish := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   "cairn/v1/inbox/0101010101010101",
		Payload:     bytes.Repeat([]byte{0xa5}, 300),
		PacketID:    9,
	}
	for _, tc := range []struct {
		name    string
		version byte
		props   func(*packets.Properties)
	}{
		{"3.1.1", 4, func(*packets.Properties) {}},
		{"5", 5, func(*packets.Properties) {}},
		{"5 no problem info", 5, func(p *packets.Properties) { p.RequestProblemInfoFlag, p.RequestProblemInfo = true, 0 }},
		{"5 max packet 100", 5, func(p *packets.Properties) { p.MaximumPacketSize = 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, pk := range []packets.Packet{puback, refused, publish} {
				want, wantErr := writePacketBytes(t, tc.version, tc.props, pk)

				cl, _ := testClient(t, tc.version, tc.props)
				var buf bytes.Buffer
				buf.WriteString("earlier") // a run appends
				err := encodePacket(cl, pk, &buf)
				if !errors.Is(err, wantErr) {
					t.Fatalf("%v: encodePacket error %v, WritePacket %v", pk.FixedHeader.Type, err, wantErr)
				}
				if got := bytes.TrimPrefix(buf.Bytes(), []byte("earlier")); !bytes.Equal(got, want) {
					t.Errorf("%v: encodePacket\n%x\nWritePacket\n%x", pk.FixedHeader.Type, got, want)
				}
			}
		})
	}
}

// TestWriteEncodedOneWrite checks that a run reaches the connection in one
// write, and that a closed client is reported as mqtt.ErrConnectionClosed.
func TestWriteEncodedOneWrite(t *testing.T) {
	cl, peer := testClient(t, 4, func(*packets.Properties) {})
	buf := writeBuffer()
	for id := uint16(1); id <= 3; id++ {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id}
		if err := encodePacket(cl, pk, buf); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := peer.Read(b) // net.Pipe: one Read returns at most one Write
		got <- b[:n]
	}()
	if err := writeEncoded(cl, buf); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 0, 3}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("one read got %x, want the three PUBACKs %x", b, want)
	}

	cl.Stop(errors.New("test"))
	buf = writeBuffer()
	if err := encodePacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 4}, buf); err != nil {
		t.Fatal(err)
	}
	if err := writeEncoded(cl, buf); !errors.Is(err, mqtt.ErrConnectionClosed) {
		t.Fatalf("write to a stopped client: %v, want ErrConnectionClosed", err)
	}
}

// testClient returns a mochi client on one end of a pipe and the other end.
func testClient(t *testing.T, version byte, props func(*packets.Properties)) (*mqtt.Client, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	srv := mqtt.New(&mqtt.Options{})
	cl := srv.NewClient(a, "test", "c1", false)
	cl.Properties.ProtocolVersion = version
	props(&cl.Properties.Props)
	return cl, b
}

// writePacketBytes returns what WritePacket writes for pk, or its error.
func writePacketBytes(t *testing.T, version byte, props func(*packets.Properties), pk packets.Packet) ([]byte, error) {
	t.Helper()
	cl, peer := testClient(t, version, props)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	err := cl.WritePacket(pk)
	cl.Net.Conn.Close()
	return <-got, err
}

// A refusal's PUBACK that would pass the client's Maximum Packet Size with
// its reason string goes without it [MQTT-3.4.2-2], not at all: a client
// never acknowledged keeps the publish in flight for ever.
func TestAckReasonOverMaxPacketSize(t *testing.T) {
	cl, peer := testClient(t, 5, func(p *packets.Properties) { p.MaximumPacketSize = 16 })
	s := &session{r: &Relay{log: slog.New(slog.DiscardHandler)}, cl: cl}
	buf := writeBuffer()
	s.encodeAck(buf, &pendingAck{packetID: 7}, errWrongTopic)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := peer.Read(b)
		got <- b[:n]
	}()
	if err := writeEncoded(cl, buf); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if want := []byte{0x40, 3, 0, 7, codeNotAuthorized.Code}; !bytes.Equal(b, want) {
			t.Fatalf("PUBACK %x, want %x", b, want)
		}
	case <-time.After(time.Second):
		t.Fatal("no PUBACK")
	}
}
