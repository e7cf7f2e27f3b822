package uplink_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// A broker that answers pings but leaves a PUBACK out (here a proxy in
// front of Mosquitto that swallows them) would hold the envelope in the
// window forever: after ack_timeout the relay takes the connection for
// broken, reconnects and publishes it again, and the store stops owing it
// once a PUBACK gets through.
func TestUnansweredPublishReconnects(t *testing.T) {
	broker := uplinktest.Mosquitto(t)
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run("mqtt-"+protocol, func(t *testing.T) {
			t.Parallel()
			var swallow atomic.Bool
			proxy := pubackEater(t, broker.Addr(), &swallow)
			cfgA, cfgB := relayConfig(t, t.TempDir(), "mqtt://"+proxy), relayConfig(t, t.TempDir(), broker.URL())
			cfgA.Uplinks[0].Protocol, cfgB.Uplinks[0].Protocol = protocol, protocol
			cfgA.Uplinks[0].AckTimeout = config.Duration(time.Second)
			a, b := startRelay(t, cfgA), startRelay(t, cfgB)
			bob := relaytest.NewIdentity()
			inbox := subscribe(t, b, bob)
			eventually(t, "B subscribed upstream", func() bool { return status(b).Subscriptions >= 2 })
			eventually(t, "A connected", func() bool { return status(a).Connected })

			swallow.Store(true)
			e := relaytest.Message(bob.Tag, codec.PrioNormal, 40)
			send(t, a, e.Encode())
			eventually(t, "A gave up on the PUBACK", func() bool {
				return strings.Contains(status(a).LastError, "no answer from the broker")
			})
			if s := status(a); s.Queued != 1 {
				t.Fatalf("A owes %d envelopes upstream, want 1 (no PUBACK yet)", s.Queued)
			}
			swallow.Store(false)
			eventually(t, "A's publish acknowledged after reconnecting", func() bool {
				s := status(a)
				return s.Connected && s.Queued == 0
			})
			eventually(t, "bob received the envelope", func() bool { return inbox.has(e.ID()) })
		})
	}
}

// pubackEater forwards connections to broker and, while swallow is set,
// drops every PUBACK the broker sends. It returns its address.
func pubackEater(t *testing.T, broker string, swallow *atomic.Bool) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", broker)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); up.Close() })
			go func() { io.Copy(up, c); up.Close() }()
			go func() {
				defer c.Close()
				r := bufio.NewReader(up)
				for {
					p, err := readPacket(r)
					if err != nil {
						return
					}
					if p[0]>>4 == 4 && swallow.Load() {
						continue
					}
					if _, err := c.Write(p); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// readPacket reads one MQTT control packet whole: the fixed header's
// first byte, the remaining length (a variable byte integer) and as many
// bytes as it says.
func readPacket(r *bufio.Reader) ([]byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	p := []byte{first}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		p = append(p, b)
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return nil, io.ErrUnexpectedEOF
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(p, body...), nil
}
