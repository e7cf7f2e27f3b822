package radiolink_test

import (
	"crypto/rand"
	"testing"
	"time"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// TestNeighbourTagsServedUpstream, end to end: relay B has a radio and no
// uplink, and a client, bob; relay A is B's radio neighbour (simulated
// air) and has an uplink to Mosquitto. B announces bob's tag in a serves
// frame after its beacon; A subscribes upstream for it; someone on the
// internet publishes an envelope for bob to the broker's inbox topic; A
// fetches it, carries it to B by radio, and B delivers it to bob.
func TestNeighbourTagsServedUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time radio test")
	}
	t.Parallel()
	broker := uplinktest.Mosquitto(t)
	l := newLine(t, 0, 11) // A and B only
	l.configure = func(i int, c *config.Config) {
		if i == 0 {
			u := config.DefaultUplink(broker.URL())
			u.ReconnectMin, u.ReconnectMax = config.Duration(50*time.Millisecond), config.Duration(500*time.Millisecond)
			c.Uplinks = []config.Uplink{u}
		}
	}
	tune := func(o *radiolink.Options) { o.AntiEntropyInterval = -1 }
	a, b := l.start(t, 0, tune), l.start(t, 1, tune)
	relaytest.WaitFor(t, 60*time.Second, "A's uplink to connect", func() bool { return a.Uplinks()[0].Connected })
	before := a.Uplinks()[0].Subscriptions

	bob := relaytest.NewIdentity()
	sub := relaytest.Client(t, b, bob, "bob")
	got := relaytest.Inbox(t, sub, bob)
	// B's next beacon (every 5 s) and serves frame; ten intervals at most.
	relaytest.WaitFor(t, 10*lineBeacon, "A to subscribe upstream for bob's tag", func() bool {
		return a.Uplinks()[0].Subscriptions >= before+2 // inbox and receipt
	})
	relaytest.WaitFor(t, 10*time.Second, "B to count its serves frame", func() bool { return b.Radios()[0].Stats().ServesSent > 0 })
	if s := a.Radios()[0].Stats(); s.ServesSent != 0 || s.ServesReceived == 0 {
		t.Fatalf("A (uplinked) sent %d serves frames, received %d; want 0 and some", s.ServesSent, s.ServesReceived)
	}

	// Someone on the internet side publishes straight to the broker.
	pub := pahov3.NewClient(pahov3.NewClientOptions().AddBroker(broker.URL()).SetClientID("internet"))
	if tok := pub.Connect(); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(50)
	body := make([]byte, 41)
	rand.Read(body)
	e := &codec.Envelope{Kind: codec.KindMessage, To: bob.Tag, TTL: 3600, Prio: codec.PrioNormal, Body: body}
	start := time.Now()
	if tok := pub.Publish("cairn/v1/inbox/"+bob.Tag.String(), 1, false, e.Encode()); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case d := <-got:
		if d.ID() != e.ID() {
			t.Fatalf("bob got %s, want %s", d.ID(), e.ID())
		}
		t.Logf("internet → broker → A → radio → B → bob in %v, %d hops", time.Since(start).Round(time.Millisecond), d.Hops)
	case <-time.After(90 * time.Second):
		t.Fatalf("not delivered; A %+v; B %+v", a.Radios()[0].Stats(), b.Radios()[0].Stats())
	}
	if _, ok, _ := a.Store().Get(e.ID()); !ok {
		t.Error("A did not store what it fetched for its neighbour")
	}
}
