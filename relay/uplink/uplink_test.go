package uplink_test

import (
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// brokers are the upstream brokers every test runs against.
var brokers = []struct {
	name  string
	start func(testing.TB) *uplinktest.Broker
	// crash ends the broker mid-stream. Mosquitto keeps its queues in
	// memory and saves them only on autosave or exit, so SIGKILL loses what
	// it acknowledged (docs/uplink.md); it gets SIGTERM. JetStream writes
	// before it acknowledges, so NATS gets SIGKILL.
	crash func(*uplinktest.Broker)
}{
	{"mosquitto", uplinktest.Mosquitto, (*uplinktest.Broker).Stop},
	{"nats", uplinktest.NATS, (*uplinktest.Broker).Kill},
}

// twoRelays starts relays A and B with uplinks to b, and bob subscribed to
// his inbox on B; it returns once B has subscribed upstream for bob.
func twoRelays(t *testing.T, b *uplinktest.Broker) (a, bRelay *relay.Relay, bob *relaytest.Identity, inbox *recipient) {
	t.Helper()
	return twoRelaysSpeaking(t, b, "auto")
}

// twoRelaysSpeaking is twoRelays with the uplinks' protocol set.
func twoRelaysSpeaking(t *testing.T, b *uplinktest.Broker, protocol string) (a, bRelay *relay.Relay, bob *relaytest.Identity, inbox *recipient) {
	t.Helper()
	return twoRelaysAt(t, b.URL(), "", protocol)
}

// twoRelaysAt is twoRelays with the uplinks' url, ca_file and protocol set.
func twoRelaysAt(t *testing.T, url, caFile, protocol string) (a, bRelay *relay.Relay, bob *relaytest.Identity, inbox *recipient) {
	t.Helper()
	cfgA, cfgB := relayConfig(t, t.TempDir(), url), relayConfig(t, t.TempDir(), url)
	cfgA.Uplinks[0].Protocol, cfgB.Uplinks[0].Protocol = protocol, protocol
	cfgA.Uplinks[0].CAFile, cfgB.Uplinks[0].CAFile = caFile, caFile
	a = startRelay(t, cfgA)
	bRelay = startRelay(t, cfgB)
	bob = relaytest.NewIdentity()
	inbox = subscribe(t, bRelay, bob)
	eventually(t, "B subscribed upstream to bob's inbox and receipts", func() bool {
		s := status(bRelay)
		return s.Connected && s.Subscriptions >= 2
	})
	eventually(t, "A connected", func() bool { return status(a).Connected })
	return a, bRelay, bob, inbox
}

// A client on relay A sends to a client on relay B; both relays reach only
// the broker. The message arrives, and bob's receipt, sent to B, purges
// A's copy as well as B's.
func TestDeliverAcrossRelays(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			t.Parallel()
			deliverAcross(t, br.start(t), "auto")
		})
	}
	// Mosquitto speaks MQTT 5 and is used so with "auto" everywhere else.
	t.Run("mosquitto-3.1.1", func(t *testing.T) {
		t.Parallel()
		deliverAcross(t, uplinktest.Mosquitto(t), "3.1.1")
	})
}

func deliverAcross(t *testing.T, broker *uplinktest.Broker, protocol string) {
	deliverAcrossAt(t, broker.URL(), "", protocol)
}

func deliverAcrossAt(t *testing.T, url, caFile, protocol string) {
	a, b, bob, inbox := twoRelaysAt(t, url, caFile, protocol)
	if protocol != "auto" && (status(a).Protocol != protocol || status(b).Protocol != protocol) {
		t.Fatalf("relays speak MQTT %q and %q, want %s", status(a).Protocol, status(b).Protocol, protocol)
	}
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 120)
	send(t, a, e.Encode())
	eventually(t, "bob received the envelope on B", func() bool { return inbox.has(e.ID()) })
	if _, ok, _ := a.Store().Get(e.ID()); !ok {
		t.Fatal("A dropped its copy before any receipt")
	}

	receipt := codec.SignReceipt(bob.Key, []codec.ID{e.ID()}).Envelope(600, codec.PrioUrgent)
	send(t, b, receipt.Encode())
	eventually(t, "the receipt purged A's copy", func() bool {
		_, ok, _ := a.Store().Get(e.ID())
		return !ok
	})
	if _, ok, _ := b.Store().Get(e.ID()); ok {
		t.Error("B still holds the envelope after bob's receipt")
	}
	// Nothing came back to A from its own publish: A's envelope is
	// not owed to the uplink it came from (B's arrival is from B's
	// uplink), and A received nothing it sent.
	// The arrival is counted when its PUBACK is sent, just after
	// the store applied it.
	eventually(t, "A counted the receipt", func() bool { return status(a).Received >= 1 })
	if s := status(a); s.Received != 1 { // the receipt
		t.Errorf("A received %d from upstream, want 1 (the receipt)", s.Received)
	}
	eventually(t, "both queues empty", func() bool { return status(a).Queued == 0 && status(b).Queued == 0 })
}

// Relay A is offline (broker unreachable) while 1,000 envelopes queue; when
// the broker returns, all arrive at B, urgent first.
func TestOfflineBacklogArrivesInPriorityOrder(t *testing.T) {
	const n = 1000
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			t.Parallel()
			broker := br.start(t)
			a, b, bob, inbox := twoRelays(t, broker)
			broker.Stop()
			eventually(t, "A sees the broker gone", func() bool { return !status(a).Connected })

			ids := queue(t, a, bob.Tag, n)
			if s := status(a); s.Queued != n || s.Connected {
				t.Fatalf("A offline: %+v, want %d queued", s, n)
			}
			start := time.Now()
			broker.Start()
			eventually(t, "bob received all", func() bool { return inbox.count() == n })
			t.Logf("%d envelopes through %s in %v after the broker returned", n, br.name, time.Since(start).Round(time.Millisecond))
			for _, id := range ids {
				if !inbox.has(id) {
					t.Fatalf("bob lacks %s", id)
				}
			}
			prios := arrivalPrios(t, b, bob.Tag)
			for i := 1; i < len(prios); i++ {
				if prios[i] > prios[i-1] {
					t.Fatalf("arrival %d at B is %s after %s: not urgent first", i, prios[i], prios[i-1])
				}
			}
			eventually(t, "A's queue empty", func() bool { return status(a).Queued == 0 })
		})
	}
}

// The broker dies in the middle of a stream and comes back; nothing is
// lost and bob's application sees each message once.
func TestBrokerRestartMidStream(t *testing.T) {
	const n = 2000
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			t.Parallel()
			broker := br.start(t)
			a, _, bob, inbox := twoRelays(t, broker)
			broker.Stop()
			eventually(t, "A sees the broker gone", func() bool { return !status(a).Connected })
			ids := queue(t, a, bob.Tag, n)
			broker.Start()
			eventually(t, "bob received some", func() bool { return inbox.count() >= n/10 })
			br.crash(broker)
			t.Logf("broker down with %d of %d at bob", inbox.count(), n)
			broker.Start()
			eventually(t, "bob received all", func() bool { return inbox.count() == n })
			for _, id := range ids {
				if !inbox.has(id) {
					t.Fatalf("bob lacks %s", id)
				}
			}
			if inbox.dups != 0 {
				t.Errorf("bob's application saw %d duplicates", inbox.dups)
			}
		})
	}
}

// A sends to bob while no relay serving him has subscribed at the broker,
// which therefore drops the envelope. A keeps it owed in its resend
// schedule; once B connects and subscribes for bob, a resend reaches him.
// When bob's receipt arrives, A's copy is purged and A stops resending.
func TestResendUntilReceipt(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			t.Parallel()
			broker := br.start(t)
			cfgA := relayConfig(t, t.TempDir(), broker.URL())
			cfgA.Uplinks[0].ResendMin = config.Duration(100 * time.Millisecond)
			cfgA.Uplinks[0].ResendMax = config.Duration(400 * time.Millisecond)
			cfgA.Uplinks[0].ResendCount = 1000
			a := startRelay(t, cfgA)
			eventually(t, "A connected", func() bool { return status(a).Connected })

			bob := relaytest.NewIdentity()
			e := relaytest.Message(bob.Tag, codec.PrioNormal, 120)
			send(t, a, e.Encode())
			eventually(t, "A resent while nobody served bob", func() bool { return status(a).Resent >= 2 })

			b := startRelay(t, relayConfig(t, t.TempDir(), broker.URL()))
			inbox := subscribe(t, b, bob)
			eventually(t, "bob received the envelope on B", func() bool { return inbox.has(e.ID()) })

			receipt := codec.SignReceipt(bob.Key, []codec.ID{e.ID()}).Envelope(600, codec.PrioUrgent)
			send(t, b, receipt.Encode())
			eventually(t, "the receipt purged A's copy", func() bool {
				_, ok, _ := a.Store().Get(e.ID())
				return !ok
			})
			eventually(t, "A's schedule empty", func() bool { return status(a).Resending == 0 })
			resent := status(a).Resent
			time.Sleep(4 * cfgA.Uplinks[0].ResendMax.D())
			if s := status(a); s.Resent != resent || s.Resending != 0 {
				t.Errorf("A resent after the receipt: %d resends then %d, %d scheduled", resent, s.Resent, s.Resending)
			}
			if inbox.dups != 0 {
				t.Errorf("bob's application saw %d duplicates", inbox.dups)
			}
			t.Logf("A resent %d times before the receipt; B dropped %d duplicates", resent, b.Stats().Duplicates)
		})
	}
}
