package uplink_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// With protocol "auto" the uplink speaks MQTT 5 to Mosquitto and sets each
// publish's message expiry from the envelope's remaining ttl, as an MQTT 5
// subscriber at the broker sees; to NATS, which speaks 3.1.1 only, it
// falls back to 3.1.1 and delivers as before (TestDeliverAcrossRelays).
func TestProtocolAuto(t *testing.T) {
	t.Run("mosquitto", func(t *testing.T) {
		t.Parallel()
		broker := uplinktest.Mosquitto(t)
		bob := relaytest.NewIdentity()
		got := watch5(t, broker, "cairn/v1/inbox/"+bob.Tag.String())

		a := startRelay(t, relayConfig(t, t.TempDir(), broker.URL()))
		eventually(t, "A connected", func() bool { return status(a).Connected })
		if p := status(a).Protocol; p != "5" {
			t.Fatalf("A speaks MQTT %q to Mosquitto, want 5", p)
		}
		e := relaytest.Message(bob.Tag, codec.PrioNormal, 40)
		send(t, a, e.Encode())
		select {
		case p := <-got:
			if p.Properties == nil || p.Properties.MessageExpiry == nil {
				t.Fatal("no message expiry on the publish")
			}
			if exp := *p.Properties.MessageExpiry; exp > e.TTL || exp < e.TTL-60 {
				t.Errorf("message expiry %d s, want the remaining ttl, just under %d", exp, e.TTL)
			}
		case <-time.After(wait):
			t.Fatal("nothing published")
		}
	})
	t.Run("nats", func(t *testing.T) {
		t.Parallel()
		broker := uplinktest.NATS(t)
		a := startRelay(t, relayConfig(t, t.TempDir(), broker.URL()))
		eventually(t, "A connected", func() bool { return status(a).Connected })
		if p := status(a).Protocol; p != "3.1.1" {
			t.Fatalf("A speaks MQTT %q to NATS, want 3.1.1 (fallback)", p)
		}
	})
}

// watch5 subscribes to topic at broker as an MQTT 5 client and returns
// what arrives.
func watch5(t *testing.T, broker *uplinktest.Broker, topic string) <-chan *paho5.Publish {
	t.Helper()
	conn, err := net.Dial("tcp", broker.Addr())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho5.Publish, 16)
	c := paho5.NewClient(paho5.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){
			func(pr paho5.PublishReceived) (bool, error) {
				select {
				case got <- pr.Packet:
				default:
				}
				return true, nil
			},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	id := fmt.Sprintf("watch5-%d", time.Now().UnixNano()) // unique: a second session with one id ends the first
	if _, err := c.Connect(ctx, &paho5.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho5.Disconnect{})
		<-c.Done()
	})
	if _, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return got
}
