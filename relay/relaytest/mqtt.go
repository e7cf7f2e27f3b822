package relaytest

import (
	"fmt"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
)

// mqttWait bounds each MQTT round trip to a relay on loopback.
const mqttWait = 10 * time.Second

// Client connects an MQTT 3.1.1 client, named name in failures, to r's TCP
// listener as id (nil means anonymous), with a clean session and no
// reconnecting, and disconnects it when the test ends.
func Client(t testing.TB, r *relay.Relay, id *Identity, name string) pahov3.Client {
	t.Helper()
	o := pahov3.NewClientOptions().AddBroker("tcp://" + r.Addrs()["tcp"]).
		SetClientID(fmt.Sprintf("%s-%d", name, time.Now().UnixNano())).
		SetAutoReconnect(false).SetCleanSession(true)
	if id != nil {
		o.SetUsername(id.DID).SetPassword(id.Password())
	}
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(mqttWait) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", name, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Publish sends e to cairn/v1/send at QoS 1 and waits for the PUBACK.
func Publish(t testing.TB, c pahov3.Client, e *codec.Envelope) {
	t.Helper()
	tok := c.Publish("cairn/v1/send", 1, false, e.Encode())
	if !tok.WaitTimeout(mqttWait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// Inbox subscribes c to id's inbox at QoS 1 and returns the envelopes
// delivered there; payloads that do not decode are dropped. The channel
// holds 64 envelopes; past that, delivery to c waits for the test.
func Inbox(t testing.TB, c pahov3.Client, id *Identity) <-chan *codec.Envelope {
	t.Helper()
	got := make(chan *codec.Envelope, 64)
	if tok := c.Subscribe("cairn/v1/inbox/"+id.Tag.String(), 1, func(_ pahov3.Client, m pahov3.Message) {
		if e, err := codec.DecodeEnvelope(m.Payload()); err == nil {
			got <- e
		}
	}); !tok.WaitTimeout(mqttWait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return got
}

// WaitFor polls ok every 50 ms until it holds, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
