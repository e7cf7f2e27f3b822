package relay_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// Deliveries go out in runs, one write per run; over WebSocket a write is
// one message. A window of small envelopes shares a message, and a window
// of large ones is split so that no message is much over 64 KiB (the web
// client closes a socket that buffers more than 1 MiB).
func TestWebSocketDeliveryRuns(t *testing.T) {
	for _, tc := range []struct {
		name           string
		envelopes      int
		body           int
		maxMessages    int // at most this many messages carry them
		maxMessageSize int
	}{
		{"small", 8, 100, 7, 64 << 10},
		{"large", 8, 30 << 10, 8, 64<<10 + 31<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := relaytest.Config(t)
			cfg.MQTT.WSListen = "127.0.0.1:0"
			r := relaytest.Start(t, cfg)
			bob := relaytest.NewIdentity()
			sender := v3(t, r, nil)
			want := map[codec.ID]bool{}
			for range tc.envelopes {
				e := relaytest.Message(bob.Tag, codec.PrioNormal, tc.body)
				publish3(t, sender, send, e.Encode())
				want[e.ID()] = true
			}

			ws, _, err := websocket.DefaultDialer.Dial("ws://"+r.Addrs()["ws"], nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.Close() })
			writeWS(t, ws, packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Connect},
				Connect: packets.ConnectParams{
					ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: clientID("ws"),
					UsernameFlag: true, Username: []byte(bob.DID), PasswordFlag: true, Password: []byte(bob.Password()),
				},
			})
			writeWS(t, ws, packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
				PacketID:    1,
				Filters:     packets.Subscriptions{{Filter: "cairn/v1/inbox/" + bob.Tag.String(), Qos: 1}},
			})
			messages := 0
			for len(want) > 0 {
				ws.SetReadDeadline(time.Now().Add(wait))
				_, msg, err := ws.ReadMessage()
				if err != nil {
					t.Fatalf("%d envelopes not delivered: %v", len(want), err)
				}
				var publishes int
				for _, pk := range splitPackets(t, msg) {
					if pk.FixedHeader.Type != packets.Publish {
						continue
					}
					publishes++
					e, err := codec.DecodeEnvelope(pk.Payload)
					if err != nil {
						t.Fatal(err)
					}
					delete(want, e.ID())
				}
				if publishes == 0 {
					continue // CONNACK, SUBACK
				}
				messages++
				if len(msg) > tc.maxMessageSize {
					t.Errorf("a message of %d bytes (%d deliveries), want at most %d", len(msg), publishes, tc.maxMessageSize)
				}
			}
			if messages > tc.maxMessages {
				t.Errorf("%d envelopes came in %d messages, want at most %d", tc.envelopes, messages, tc.maxMessages)
			}
			t.Logf("%d envelopes of %d-byte bodies in %d messages", tc.envelopes, tc.body, messages)
		})
	}
}

func writeWS(t *testing.T, ws *websocket.Conn, pk packets.Packet) {
	t.Helper()
	pk.ProtocolVersion = 4
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	}
	if err == nil {
		err = ws.WriteMessage(websocket.BinaryMessage, buf.Bytes())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// splitPackets decodes the MQTT 3.1.1 packets one WebSocket message holds.
func splitPackets(t *testing.T, b []byte) []packets.Packet {
	t.Helper()
	var out []packets.Packet
	for len(b) > 0 {
		pk := packets.Packet{ProtocolVersion: 4}
		if err := pk.FixedHeader.Decode(b[0]); err != nil {
			t.Fatal(err)
		}
		n, mul, i := 0, 1, 1
		for ; ; i++ {
			if i >= len(b) {
				t.Fatal("packet header cut at the message's end")
			}
			n += int(b[i]&0x7f) * mul
			if b[i]&0x80 == 0 {
				break
			}
			mul <<= 7
		}
		i++
		if len(b) < i+n {
			t.Fatalf("packet of %d bytes cut at the message's end (%d left)", n, len(b)-i)
		}
		pk.FixedHeader.Remaining = n
		if pk.FixedHeader.Type == packets.Publish {
			if err := pk.PublishDecode(b[i : i+n]); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, pk)
		b = b[i+n:]
	}
	return out
}
