package uplink_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// Uplinks over WebSocket (ws://) and over WebSocket with TLS (wss://, the
// broker's certificate signed by a CA given as ca_file) to a real
// Mosquitto, in MQTT 5 (paho.golang over the uplink's own WebSocket
// connection, mqtt5.go) and in 3.1.1 (paho.mqtt.golang's): a client on A
// sends to one on B, and bob's receipt purges A's copy, as over TCP
// (TestDeliverAcrossRelays); then 1,000 envelopes in a burst, many MQTT
// packets to a WebSocket message, all arrive. Without the CA, wss is
// refused.
func TestWebSocket(t *testing.T) {
	broker := uplinktest.MosquittoWebSockets(t)
	for _, tr := range []struct{ name, url, ca string }{
		{"ws", broker.WSURL(), ""},
		{"wss", broker.WSSURL(), broker.CAFile()},
	} {
		for _, protocol := range []string{"5", "3.1.1"} {
			t.Run(tr.name+"/mqtt-"+protocol, func(t *testing.T) {
				t.Parallel()
				deliverAcrossAt(t, tr.url, tr.ca, protocol)
			})
			t.Run(tr.name+"/mqtt-"+protocol+"/burst", func(t *testing.T) {
				t.Parallel()
				const n = 1000
				a, _, bob, inbox := twoRelaysAt(t, tr.url, tr.ca, protocol)
				start := time.Now()
				ids := queue(t, a, bob.Tag, n)
				eventually(t, "bob received all", func() bool { return inbox.count() == n })
				t.Logf("%d envelopes over %s in MQTT %s: %v", n, tr.name, protocol, time.Since(start).Round(time.Millisecond))
				for _, id := range ids {
					if !inbox.has(id) {
						t.Fatalf("bob lacks %s", id)
					}
				}
			})
		}
	}
	t.Run("wss/unknown-ca", func(t *testing.T) {
		t.Parallel()
		a := startRelay(t, relayConfig(t, t.TempDir(), broker.WSSURL()))
		eventually(t, "A failed to connect", func() bool { return status(a).LastError != "" })
		if s := status(a); s.Connected || !strings.Contains(s.LastError, "certificate") {
			t.Fatalf("wss to a broker whose CA is not given: %+v, want a certificate error", s)
		}
	})
}
