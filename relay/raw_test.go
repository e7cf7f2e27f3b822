package relay_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// rawClient speaks MQTT 5 packet by packet, so a test can choose packet
// identifiers and withhold acknowledgements, which no client library allows.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
}

func dialRaw(t *testing.T, addr string, id *relaytest.Identity) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, rd: bufio.NewReader(conn)}
	c.write(packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: clientID("raw"),
			UsernameFlag: true, Username: []byte(id.DID), PasswordFlag: true, Password: []byte(id.Password()),
		},
	})
	if ack := c.read(); ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("connack: %+v", ack)
	}
	return c
}

func (c *rawClient) write(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet, failing the test after wait.
func (c *rawClient) read() packets.Packet {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wait))
	hb, err := c.rd.ReadByte()
	if err != nil {
		c.t.Fatalf("reading packet: %v", err)
	}
	pk := packets.Packet{ProtocolVersion: 5}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		c.t.Fatal(err)
	}
	n, mul := 0, 1
	for {
		b, err := c.rd.ReadByte()
		if err != nil {
			c.t.Fatal(err)
		}
		n += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
		mul <<= 7
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.rd, body); err != nil {
		c.t.Fatal(err)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return pk
}

// A client's own packet identifiers are independent of the server's
// (MQTT 5 §2.2.1). Mochi keeps both in one map (mochi-mqtt/server#545), so a
// client publish reusing the id of an unacknowledged delivery could erase
// it. The relay keeps its deliveries out of that map; this checks that the
// collision changes nothing.
func TestClientPacketIDMatchingDeliveryIsHarmless(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.MQTT.DeliveryWindow = 1
	r := relaytest.Start(t, cfg)
	bob := relaytest.NewIdentity()
	first := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	second := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	sender := v3(t, r, nil)
	publish3(t, sender, send, first.Encode())
	publish3(t, sender, send, second.Encode())

	c := dialRaw(t, r.Addrs()["tcp"], bob)
	c.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    1,
		Filters:     packets.Subscriptions{{Filter: "cairn/v1/inbox/" + bob.Tag.String(), Qos: 1}},
	})
	// The SUBACK and the first delivery may come in either order.
	subacked := false
	readPast := func() packets.Packet {
		for {
			pk := c.read()
			if pk.FixedHeader.Type != packets.Suback || subacked {
				return pk
			}
			subacked = true
		}
	}
	delivery := readPast()
	if e, _ := codec.DecodeEnvelope(delivery.Payload); e == nil || e.ID() != first.ID() {
		t.Fatalf("first delivery is not the first envelope")
	}

	// Publish with the delivery's packet id while the delivery is unacked.
	other := relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, 20)
	c.write(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   send,
		PacketID:    delivery.PacketID,
		Payload:     other.Encode(),
	})
	if ack := readPast(); ack.FixedHeader.Type != packets.Puback || ack.PacketID != delivery.PacketID || ack.ReasonCode != 0 {
		t.Fatalf("publish not acknowledged: %+v", ack)
	}
	// Acknowledging the delivery frees the window: the second one comes.
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: delivery.PacketID})
	next := readPast()
	if e, _ := codec.DecodeEnvelope(next.Payload); next.FixedHeader.Type != packets.Publish || e == nil || e.ID() != second.ID() {
		t.Fatalf("second delivery missing after the collision: %+v", next)
	}
}
