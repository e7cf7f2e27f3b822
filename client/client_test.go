package client

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/ratchet"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/store"
)

func dial(t *testing.T, ks *Keystore, relay string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, ks, &Options{Relay: relay, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receiveAll reads the inbox once, to the end of what the relay holds.
func receiveAll(t *testing.T, c *Client) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []Message
	if err := c.Receive(ctx, false, func(m Message) { got = append(got, m) }); err != nil {
		t.Fatal(err)
	}
	return got
}

func send(t *testing.T, c *Client, to, text string) Sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	s, err := c.Send(ctx, to, []byte(text), codec.PrioNormal)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const text20 = "twenty bytes of text" // len 20

// Alice writes to Bob, offline, from his card; Bob reads it once and the
// receipt deletes it from the relay; they answer each other until the
// session is established, and then a 20-byte text is 62 bytes on the wire.
func TestConversationThroughRelay(t *testing.T) {
	r := relaytest.Start(t, nil)
	addr := "mqtt://" + r.Addrs()["tcp"]
	alice, _ := newKeystore(t, "")
	bob, _ := newKeystore(t, "")
	if _, err := alice.AddContact(bob.Card(), "bob", false); err != nil {
		t.Fatal(err)
	}

	ac := dial(t, alice, addr)
	first := send(t, ac, "bob", text20)
	if want := 20 + 21 + ratchet.InitialOverheadClassical - 4; first.Bytes != want {
		t.Errorf("first message (card, no one-time prekey): %d bytes, want %d", first.Bytes, want)
	}

	bc := dial(t, bob, addr)
	got := receiveAll(t, bc)
	if len(got) != 1 || string(got[0].Text) != text20 || got[0].From.DID != alice.DID() || !got[0].From.Unknown || !got[0].NewSession {
		t.Fatalf("Bob got %+v, want one message from unknown Alice", got)
	}
	if _, ok, _ := r.Store().Get(first.ID); ok {
		t.Error("the relay still holds the message after Bob's receipt")
	}
	if again := receiveAll(t, bc); len(again) != 0 {
		t.Errorf("second read delivered %d messages", len(again))
	}

	reply := send(t, bc, alice.DID(), text20)
	if want := 20 + ratchet.KeyedMessageOverhead + 21; reply.Bytes != want {
		t.Errorf("Bob's first reply: %d bytes, want %d (keyed)", reply.Bytes, want)
	}
	if got := receiveAll(t, ac); len(got) != 1 || string(got[0].Text) != text20 || got[0].From.Name != "bob" {
		t.Fatalf("Alice got %+v", got)
	}
	est := send(t, ac, "bob", text20)
	if est.Bytes != 62 {
		t.Errorf("established message: %d bytes, want 62", est.Bytes)
	}
	if got := receiveAll(t, bc); len(got) != 1 || string(got[0].Text) != text20 {
		t.Fatalf("Bob got %+v", got)
	}
}

// Bob is online and answers Alice's bundle request, so Alice can write
// knowing only his did:key; the session is PQXDH.
func TestFetchBundleThroughRelay(t *testing.T) {
	r := relaytest.Start(t, nil)
	addr := "mqtt://" + r.Addrs()["tcp"]
	alice, _ := newKeystore(t, "")
	bob, _ := newKeystore(t, "")
	bc := dial(t, bob, addr)
	ctx, cancel := context.WithCancel(context.Background())
	msgs := make(chan Message, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bc.Receive(ctx, true, func(m Message) { msgs <- m })
	}()
	defer func() { cancel(); wg.Wait() }()

	ac := dial(t, alice, addr)
	sent := send(t, ac, bob.DID(), text20)
	if want := 20 + 22 + ratchet.InitialOverheadPQ; sent.Bytes != want { // 22: a body over 255 bytes has a 3-byte length
		t.Errorf("first message with a fetched bundle: %d bytes, want %d (PQXDH with a one-time prekey)", sent.Bytes, want)
	}
	select {
	case m := <-msgs:
		if string(m.Text) != text20 {
			t.Errorf("Bob got %q", m.Text)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Bob got nothing")
	}
	c, err := alice.Contact(bob.DID())
	if err != nil || !c.HasKEM {
		t.Errorf("Alice's contact for Bob: %+v, %v; want a bundle with ML-KEM", c, err)
	}
}

// Duplicates are dropped (and acknowledged again); reordered messages all
// open; a lost one does not stop the rest.
func TestHandleDuplicatesReorderLoss(t *testing.T) {
	alice, _ := newKeystore(t, "")
	bob, _ := newKeystore(t, "")
	alice.AddContact(bob.Card(), "bob", false)
	bc := &Client{ks: bob, opts: (&Options{}).withDefaults(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var envs []*codec.Envelope
	for _, text := range []string{"one", "two", "three", "four"} {
		e, err := alice.Seal("bob", []byte(text), codec.PrioNormal, 0)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e)
	}
	var got [][]byte
	for _, i := range []int{3, 0, 3, 1, 0} { // "three" is lost
		m, ack := bc.handle(context.Background(), envs[i], envs[i].ID())
		if !ack {
			t.Errorf("envelope %d not acknowledged", i)
		}
		if m != nil {
			got = append(got, m.Text)
		}
	}
	want := [][]byte{[]byte("four"), []byte("one"), []byte("two")}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
	if cs := bob.Contacts(); len(cs) != 1 || cs[0].Sessions != 1 {
		t.Errorf("Bob's contacts: %+v, want Alice with one session", cs)
	}
}

// relayBundles returns the kind-3 envelopes the relay holds for tag.
func relayBundles(t *testing.T, r *relay.Relay, tag codec.Tag) []*codec.Envelope {
	t.Helper()
	var out []*codec.Envelope
	if err := r.Store().Scan(tag, func(it store.Item) bool {
		if it.Envelope.Kind == codec.KindBundle {
			out = append(out, it.Envelope)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Bob connects once, publishing his bundle, and goes offline; Alice fetches
// it from the relay and writes to him; Bob reads it later. The relay
// serves only what Bob published — no one-time prekeys — so the session
// is PQXDH without one, and none of Bob's one-time prekeys is used. Bob
// deletes a forged bundle published to his tag and keeps his own.
func TestFetchBundleOwnerOffline(t *testing.T) {
	r := relaytest.Start(t, nil)
	addr := "mqtt://" + r.Addrs()["tcp"]
	alice, _ := newKeystore(t, "")
	bob, _ := newKeystore(t, "")
	bobOneTime := bob.prekeys.OneTimeCount()

	bc := dial(t, bob, addr)
	forged := &codec.Envelope{Kind: codec.KindBundle, To: bob.id.Public().Tag(), TTL: 3600, Prio: codec.PrioUrgent, Body: []byte("not a bundle")}
	if err := bc.publish(context.Background(), bc.mc, forged); err != nil {
		t.Fatal(err)
	}
	if got := receiveAll(t, bc); len(got) != 0 {
		t.Fatalf("Bob got %+v", got)
	}
	bc.Close()
	held := relayBundles(t, r, bob.id.Public().Tag())
	bob.mu.Lock()
	want := bob.relayBundle().Encode()
	bob.mu.Unlock()
	if len(held) != 1 || !bytes.Equal(held[0].Body, want) {
		t.Fatalf("relay holds %d bundles for Bob, want only his own", len(held))
	}
	b, err := ratchet.ParseBundle(held[0].Body)
	if err != nil || b.Verify() != nil || len(b.OneTime) != 0 || !b.HasKEM() {
		t.Fatalf("Bob's published bundle: %+v, %v; want signed, ML-KEM, no one-time prekeys", b, err)
	}

	ac := dial(t, alice, addr)
	fetched, err := ac.FetchBundle(context.Background(), bob.id.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fetched.Encode(), want) {
		t.Error("the relay's answer is not the bundle Bob published")
	}
	sent := send(t, ac, bob.DID(), text20)
	if want := 20 + 22 + ratchet.InitialOverheadPQ - 4; sent.Bytes != want { // -4: no one-time prekey id
		t.Errorf("first message with a relay-served bundle: %d bytes, want %d (PQXDH without a one-time prekey)", sent.Bytes, want)
	}

	bc = dial(t, bob, addr)
	got := receiveAll(t, bc)
	if len(got) != 1 || string(got[0].Text) != text20 || got[0].From.DID != alice.DID() || !got[0].NewSession {
		t.Fatalf("Bob got %+v, want Alice's first message", got)
	}
	if n := bob.prekeys.OneTimeCount(); n != bobOneTime {
		t.Errorf("Bob has %d one-time prekeys, had %d: the relay served one", n, bobOneTime)
	}
	if held := relayBundles(t, r, bob.id.Public().Tag()); len(held) != 1 {
		t.Errorf("relay holds %d bundles for Bob after he read his inbox, want 1", len(held))
	}
}
