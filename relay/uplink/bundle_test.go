package uplink_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/client"
	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// Bob's relay copy of his prekey bundle, handed to relay A when he
// connects, is published retained on his bundle topic. With A switched
// off, Alice on relay B — which holds no bundle of Bob's and reaches A
// only through the broker — asks for it: B's uplink subscribes to Bob's
// bundle topic, the broker sends the retained copy, B stores it and
// answers Alice's request. She writes to Bob with a session set up from
// it; A comes back, and Bob reads her first message there.
func TestBundleFetchedUpstream(t *testing.T) {
	for _, br := range []struct {
		name, protocol string
		start          func(testing.TB) *uplinktest.Broker
	}{
		{"mosquitto", "auto", uplinktest.Mosquitto},
		{"mosquitto-3.1.1", "3.1.1", uplinktest.Mosquitto},
		{"nats", "auto", uplinktest.NATS},
	} {
		t.Run(br.name, func(t *testing.T) {
			t.Parallel()
			broker := br.start(t)
			cfgA, cfgB := relayConfig(t, t.TempDir(), broker.URL()), relayConfig(t, t.TempDir(), broker.URL())
			cfgA.Uplinks[0].Protocol, cfgB.Uplinks[0].Protocol = br.protocol, br.protocol
			a := openRelay(t, cfgA)
			aOpen := true
			t.Cleanup(func() {
				if aOpen {
					a.Close()
				}
			})
			b := startRelay(t, cfgB)
			bob, alice := keystore(t), keystore(t)
			bobTag := bob.Identity().Public().Tag()

			bc := dialClient(t, bob, a) // publishes his relay copy to A
			readInbox(t, bc)            // and subscribes: A serves him upstream
			bc.Close()
			eventually(t, "A published Bob's bundle and subscribed for him", func() bool {
				s := status(a)
				return s.Connected && s.Queued == 0 && s.Subscriptions >= 2
			})
			if n := len(bundlesFor(t, b, bobTag)); n != 0 {
				t.Fatalf("B holds %d bundles of Bob's before anyone asked", n)
			}
			a.Close()
			aOpen = false

			ac := dialClient(t, alice, b)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			fetched, err := ac.FetchBundle(ctx, bob.Identity().Public())
			if err != nil {
				t.Fatalf("Alice at B fetching Bob's bundle: %v", err)
			}
			if fetched.Identity != bob.Identity().Public() || len(fetched.OneTime) != 0 || !fetched.HasKEM() {
				t.Fatalf("fetched %+v, want Bob's relay copy (ML-KEM, no one-time prekeys)", fetched)
			}
			held := bundlesFor(t, b, bobTag)
			if len(held) != 1 || !bytes.Equal(held[0].Body, fetched.Encode()) {
				t.Fatalf("B holds %d bundles of Bob's, want the fetched one", len(held))
			}
			sent, err := ac.Send(ctx, bob.DID(), []byte("hello from B's side"), codec.PrioNormal)
			if err != nil {
				t.Fatal(err)
			}

			a = startRelay(t, cfgA)
			bc = dialClient(t, bob, a)
			var got []client.Message
			eventually(t, "Bob read Alice's message at A", func() bool {
				got = append(got, readInbox(t, bc)...)
				return len(got) > 0
			})
			if len(got) != 1 || got[0].ID != sent.ID || got[0].From.DID != alice.DID() || !got[0].NewSession ||
				string(got[0].Text) != "hello from B's side" {
				t.Fatalf("Bob got %+v, want Alice's first message", got)
			}
		})
	}
}

// A bundle that is not its owner's own publication — an answer to a
// request, a forgery — is not retained upstream: nothing for its tag is on
// the bundle topic.
func TestBundleNotOwnNotRetained(t *testing.T) {
	broker := uplinktest.Mosquitto(t)
	a := startRelay(t, relayConfig(t, t.TempDir(), broker.URL()))
	eventually(t, "A connected", func() bool { return status(a).Connected })
	bob, mallory := keystore(t), keystore(t)
	bobTag := bob.Identity().Public().Tag()
	// Mallory's own genuine bundle, addressed to Bob's tag.
	forged := &codec.Envelope{Kind: codec.KindBundle, To: bobTag, TTL: 3600, Prio: codec.PrioNormal, Body: mallory.Bundle().Encode()}
	inbox := watch5(t, broker, "cairn/v1/inbox/"+bobTag.String())
	bundle := watch5(t, broker, "cairn/v1/bundle/"+bobTag.String())
	send(t, a, forged.Encode())
	select {
	case p := <-inbox:
		if !bytes.Equal(p.Payload[len(p.Payload)-len(forged.Body):], forged.Body) {
			t.Fatal("inbox topic carried something else")
		}
	case <-time.After(wait):
		t.Fatal("the bundle for Bob's tag was not published to his inbox")
	}
	select {
	case p := <-bundle:
		t.Fatalf("retained on Bob's bundle topic: %d bytes", len(p.Payload))
	case <-time.After(500 * time.Millisecond):
	}
}

func keystore(t *testing.T) *client.Keystore {
	t.Helper()
	ks, err := client.CreateKeystore(filepath.Join(t.TempDir(), "home"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

func dialClient(t *testing.T, ks *client.Keystore, r *relay.Relay) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, ks, &client.Options{Relay: "mqtt://" + r.Addrs()["tcp"], Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readInbox reads the inbox once, to the end of what the relay holds.
func readInbox(t *testing.T, c *client.Client) []client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var got []client.Message
	if err := c.Receive(ctx, false, func(m client.Message) { got = append(got, m) }); err != nil {
		t.Fatal(err)
	}
	return got
}

// bundlesFor returns the kind-3 envelopes the relay holds for tag.
func bundlesFor(t *testing.T, r *relay.Relay, tag codec.Tag) []*codec.Envelope {
	t.Helper()
	var out []*codec.Envelope
	err := r.Store().Scan(tag, func(it store.Item) bool {
		if it.Envelope.Kind == codec.KindBundle {
			out = append(out, it.Envelope)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
