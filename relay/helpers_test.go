package relay_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/radio/radiotest"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

const wait = 10 * time.Second // upper bound for anything to arrive on loopback

var clientSeq struct {
	sync.Mutex
	n int
}

func clientID(prefix string) string {
	clientSeq.Lock()
	defer clientSeq.Unlock()
	clientSeq.n++
	return prefix + "-" + time.Now().Format("150405.000") + "-" + string(rune('a'+clientSeq.n%26))
}

// v3 connects a paho.mqtt.golang (MQTT 3.1.1) client; id nil means anonymous.
func v3(t *testing.T, r *relay.Relay, id *relaytest.Identity, opts ...func(*pahov3.ClientOptions)) pahov3.Client {
	t.Helper()
	o := pahov3.NewClientOptions().
		AddBroker("tcp://" + r.Addrs()["tcp"]).
		SetClientID(clientID("v3")).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetCleanSession(true)
	if id != nil {
		o.SetUsername(id.DID).SetPassword(id.Password())
	}
	for _, f := range opts {
		f(o)
	}
	c := pahov3.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publish3 publishes one envelope at QoS 1 and waits for the PUBACK.
func publish3(t *testing.T, c pahov3.Client, topic string, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// inbox collects envelopes delivered to a subscriber.
type inbox struct {
	t  *testing.T
	ch chan *codec.Envelope
}

func newInbox(t *testing.T) *inbox { return &inbox{t: t, ch: make(chan *codec.Envelope, 100_000)} }

func (in *inbox) add(payload []byte) {
	e, err := codec.DecodeEnvelope(payload)
	if err != nil {
		in.t.Errorf("delivered envelope does not decode: %v", err)
		return
	}
	in.ch <- e
}

// next waits for one envelope.
func (in *inbox) next() *codec.Envelope {
	in.t.Helper()
	select {
	case e := <-in.ch:
		return e
	case <-time.After(wait):
		in.t.Fatal("no envelope delivered")
		return nil
	}
}

// quiet checks nothing more arrives for a short while.
func (in *inbox) quiet() {
	in.t.Helper()
	select {
	case e := <-in.ch:
		in.t.Fatalf("unexpected delivery of %s", e.ID())
	case <-time.After(300 * time.Millisecond):
	}
}

// subscribe3 subscribes a v3 client to its inbox at QoS 1.
func subscribe3(t *testing.T, c pahov3.Client, id *relaytest.Identity) *inbox {
	t.Helper()
	in := newInbox(t)
	tok := c.Subscribe("cairn/v1/inbox/"+id.Tag.String(), 1, func(_ pahov3.Client, m pahov3.Message) { in.add(m.Payload()) })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if st := tok.(*pahov3.SubscribeToken); st.Result()["cairn/v1/inbox/"+id.Tag.String()] != 1 {
		t.Fatalf("subscription not granted: %v", st.Result())
	}
	return in
}

// v5 connects a paho.golang (MQTT 5) client; id nil means anonymous.
func v5(t *testing.T, r *relay.Relay, id *relaytest.Identity, onPublish func(*paho.Publish)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", r.Addrs()["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: clientID("v5"), PacketTimeout: wait}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(p paho.PublishReceived) (bool, error) { onPublish(p.Packet); return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	cp := &paho.Connect{KeepAlive: 30, CleanStart: true, ClientID: cfg.ClientID}
	if id != nil {
		cp.UsernameFlag, cp.Username = true, id.DID
		cp.PasswordFlag, cp.Password = true, []byte(id.Password())
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("connect v5: %v", err)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("connack reason %#x", ca.ReasonCode)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c
}

// publish5 publishes at QoS 1 and returns the PUBACK's reason code and string.
func publish5(t *testing.T, c *paho.Client, topic string, payload []byte) (byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if pr == nil {
		t.Fatalf("publish v5: %v", err)
	}
	reason := ""
	if pr.Properties != nil {
		reason = pr.Properties.ReasonString
	}
	return pr.ReasonCode, reason
}

// fakeModems starts simulated air and n fake RNodes on it, nodes 1…n in
// that order, with no links between them yet (air.Connect adds them); all
// are closed when the test ends.
func fakeModems(t *testing.T, n int) (*radiotest.Air, []*radiotest.FakeRNode) {
	t.Helper()
	air, err := radiotest.NewAir(7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { air.Close() })
	fakes := make([]*radiotest.FakeRNode, n)
	for i := range fakes {
		fake, err := radiotest.NewFakeRNode(radiotest.FakeRNodeOptions{Air: air, Node: uint16(i + 1), Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fake.Close() })
		fakes[i] = fake
	}
	return air, fakes
}

// radioPair starts relays A and B, each with a fake RNode on simulated air
// in range of the other (RSSI −97 dBm, SNR 6.5 dB), at SF7 with a 1 % duty
// cycle and beacons every 2 s. edit, if not nil, changes relay i's options
// before it starts.
func radioPair(t *testing.T, edit func(i int, o *relay.Options)) [2]*relay.Relay {
	t.Helper()
	air, fakes := fakeModems(t, 2)
	air.Connect(1, 2, radiotest.Link{RSSIDBm: -97, SNRQuarter: 26})
	var rs [2]*relay.Relay
	for i := range rs {
		cfg := relaytest.Config(t)
		cfg.Radios = []radio.Config{{Port: fakes[i].Path(), Region: "EU868", FrequencyHz: 869525000,
			SpreadingFactor: 7, DutyCyclePercent: 1}}
		o := relay.Options{Config: cfg, Logger: relaytest.Logger(t),
			RadioTuning: func(_ int, o *radiolink.Options) { o.BeaconInterval = 2 * time.Second; o.Seed = uint64(i + 1) }}
		if edit != nil {
			edit(i, &o)
		}
		r, err := relay.New(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Serve(); err != nil {
			r.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		rs[i] = r
	}
	return rs
}
