package relay_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

func bundleEnvelope(to codec.Tag, n int) *codec.Envelope {
	body := make([]byte, n)
	rand.Read(body)
	return &codec.Envelope{Kind: codec.KindBundle, To: to, TTL: 7 * 24 * 3600, Prio: codec.PrioNormal, Body: body}
}

func bundleRequest(to, reply codec.Tag) *codec.Envelope {
	return &codec.Envelope{Kind: codec.KindBundleRequest, To: to, TTL: 30, Prio: codec.PrioNormal,
		Body: (&codec.BundleRequest{Reply: reply}).Encode()}
}

// The relay answers a request for an offline owner's bundle with the
// bundles stored for its tag, newest first and at most three, bodies
// copied byte for byte; the request itself is still stored for the owner.
func TestBundleRequestAnsweredFromStore(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob, asker := relaytest.NewIdentity(), relaytest.NewIdentity()
	anon := v3(t, r, nil)
	var bundles []*codec.Envelope
	for range 4 {
		b := bundleEnvelope(bob.Tag, 1400)
		bundles = append(bundles, b)
		publish3(t, anon, send, b.Encode())
	}
	askerIn := subscribe3(t, v3(t, r, asker), asker)
	req := bundleRequest(bob.Tag, asker.Tag)
	publish3(t, anon, send, req.Encode())

	for i := 3; i >= 1; i-- {
		got := askerIn.next()
		if got.Kind != codec.KindBundle || !bytes.Equal(got.Body, bundles[i].Body) {
			t.Fatalf("answer %d: kind %s, body %x…, want bundle %d", 3-i, got.Kind, got.Body[:8], i)
		}
		if got.TTL == 0 || got.TTL > req.TTL {
			t.Errorf("answer ttl %d, request had %d", got.TTL, req.TTL)
		}
	}
	askerIn.quiet()

	// The same request again is a duplicate: no second copy of the answers.
	publish3(t, anon, send, req.Encode())
	askerIn.quiet()

	bobIn := subscribe3(t, v3(t, r, bob), bob)
	var sawRequest bool
	for range 5 {
		if e := bobIn.next(); e.ID() == req.ID() {
			sawRequest = true
		}
	}
	if !sawRequest {
		t.Error("the request did not reach the owner's inbox")
	}
}

// Nothing stored: no answer. Bodies the relay cannot read are stored for
// the owner like any kind-4 envelope and answered by no one.
func TestBundleRequestNotAnswered(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob, asker := relaytest.NewIdentity(), relaytest.NewIdentity()
	anon := v3(t, r, nil)
	askerIn := subscribe3(t, v3(t, r, asker), asker)
	publish3(t, anon, send, bundleRequest(bob.Tag, asker.Tag).Encode())
	askerIn.quiet()

	publish3(t, anon, send, bundleEnvelope(bob.Tag, 100).Encode())
	for _, c := range codectest.BadBundleRequests {
		if len(c.Bytes()) > 1024 {
			continue
		}
		bad := &codec.Envelope{Kind: codec.KindBundleRequest, To: bob.Tag, TTL: 30, Prio: codec.PrioNormal, Body: c.Bytes()}
		publish3(t, anon, send, bad.Encode())
	}
	askerIn.quiet()
}

// ownBundle is the head of a prekey bundle signed by id, as
// codec.BundleOwner reads it, with an empty KEM prekey and no one-time
// prekeys after it: [1, identity, 1, spk, spk sig, empty, empty, []].
func ownBundle(id *relaytest.Identity) *codec.Envelope {
	spk := make([]byte, 32)
	rand.Read(spk)
	sig := ed25519.Sign(id.Key, append([]byte("cairn/spk/v1\x00\x00\x00\x01"), spk...))
	body := append([]byte{0x88, 0x01, 0x58, 0x20}, id.Key.Public().(ed25519.PublicKey)...)
	body = append(append(body, 0x01, 0x58, 0x20), spk...)
	body = append(append(body, 0x58, 0x40), sig...)
	body = append(body, 0x40, 0x40, 0x80)
	return &codec.Envelope{Kind: codec.KindBundle, To: id.Tag, TTL: 7 * 24 * 3600, Prio: codec.PrioNormal, Body: body}
}

// A request the relay could not answer waits in the store; when the
// owner's own bundle arrives (here from the owner, in the uplink tests
// from the broker), the relay answers it. A bundle for the tag that is not
// the owner's answers nothing.
func TestWaitingRequestAnsweredByOwnersBundle(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob, mallory, asker := relaytest.NewIdentity(), relaytest.NewIdentity(), relaytest.NewIdentity()
	anon := v3(t, r, nil)
	askerIn := subscribe3(t, v3(t, r, asker), asker)
	publish3(t, anon, send, bundleRequest(bob.Tag, asker.Tag).Encode())
	askerIn.quiet()

	forged := ownBundle(mallory)
	forged.To = bob.Tag
	publish3(t, anon, send, forged.Encode())
	askerIn.quiet()

	own := ownBundle(bob)
	if owner, err := codec.BundleOwner(own.Body); err != nil || codec.TagOf(owner) != bob.Tag {
		t.Fatalf("test bundle: owner %x, %v", owner, err)
	}
	publish3(t, anon, send, own.Encode())
	got := askerIn.next()
	if got.Kind != codec.KindBundle || got.To != asker.Tag || !bytes.Equal(got.Body, own.Body) {
		t.Fatalf("answer: kind %s to %s, want Bob's bundle to the asker", got.Kind, got.To)
	}
	askerIn.quiet()
}
