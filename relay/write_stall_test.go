package relay

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gorilla/websocket"
)

// A client that stops reading (a phone gone out of range, or one that
// never reads) fails a coalesced write within writeTimeout, and is stopped
// since the write may have torn a packet; the write does not hold the
// client's lock — and its ack loop or deliverer — for ever. Over WebSocket
// too, where gorilla sets the connection's write deadline on each write.
func TestWriteEncodedStalledClient(t *testing.T) {
	defer func(d time.Duration) { writeTimeout = d }(writeTimeout)
	writeTimeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name string
		conn func(t *testing.T) net.Conn
	}{
		{"tcp", func(t *testing.T) net.Conn {
			a, b := net.Pipe() // b never reads
			t.Cleanup(func() { a.Close(); b.Close() })
			return a
		}},
		{"websocket", stalledWebSocket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := mqtt.New(&mqtt.Options{}).NewClient(tc.conn(t), "test", "c1", false)
			cl.Properties.ProtocolVersion = 4
			done := make(chan error, 1)
			go func() {
				for {
					buf := writeBuffer()
					pk := packets.Packet{
						FixedHeader: packets.FixedHeader{Type: packets.Publish},
						TopicName:   "cairn/v1/inbox/0101010101010101",
						Payload:     bytes.Repeat([]byte{1}, 60<<10),
					}
					if err := encodePacket(cl, pk, buf); err != nil {
						done <- err
						return
					}
					if err := writeEncoded(cl, buf); err != nil {
						done <- err
						return
					}
				}
			}()
			select {
			case err := <-done:
				if !cl.Closed() {
					t.Errorf("write failed (%v) but the client was not stopped", err)
				}
			case <-time.After(10 * writeTimeout):
				cl.Stop(nil)
				t.Fatal("a write to a client that does not read did not time out")
			}
		})
	}
}

// stalledWebSocket returns the relay's end of a WebSocket whose peer
// never reads.
func stalledWebSocket(t *testing.T) net.Conn {
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := httpMQTTUpgrader.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	peer, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c := <-conns
	t.Cleanup(func() { c.Close() })
	return &wsConn{Conn: c.NetConn(), ws: c}
}
