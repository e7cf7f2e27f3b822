package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// pair sets up a session between two fresh identities and delivers the
// initial message, so that both sides hold a session.
// tb is what the helpers need from testing.TB and *rapid.T.
type tb interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

type pair struct {
	aliceID, bobID *Identity
	bobPrekeys     *Prekeys
	alice, bob     *Session
}

func newPair(t tb, opts *Options) *pair {
	p := &pair{}
	var err error
	if p.aliceID, err = GenerateIdentity(); err != nil {
		t.Fatal(err)
	}
	if p.bobID, err = GenerateIdentity(); err != nil {
		t.Fatal(err)
	}
	if p.bobPrekeys, err = NewPrekeys(3); err != nil {
		t.Fatal(err)
	}
	bundle := p.bobPrekeys.Bundle(p.bobID)
	if p.alice, err = InitiateSession(p.aliceID, bundle, opts); err != nil {
		t.Fatal(err)
	}
	first, err := p.alice.Encrypt([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var pt []byte
	if p.bob, pt, err = AcceptSession(p.bobID, p.bobPrekeys, first, opts); err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello" {
		t.Fatalf("first message = %q", pt)
	}
	return p
}

func send(t tb, from, to *Session, text string) []byte {
	body, err := from.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	got, err := to.Decrypt(body)
	if err != nil {
		t.Fatalf("Decrypt(%q): %v", text, err)
	}
	if string(got) != text {
		t.Fatalf("Decrypt = %q, want %q", got, text)
	}
	return body
}

func TestConversation(t *testing.T) {
	for _, classical := range []bool{false, true} {
		t.Run(fmt.Sprintf("classical=%v", classical), func(t *testing.T) {
			p := newPair(t, &Options{Classical: classical, RekeyInterval: 2})
			if p.bob.Remote() != p.aliceID.Public() || p.alice.Remote() != p.bobID.Public() {
				t.Fatal("Remote identities wrong")
			}
			if p.bobPrekeys.OneTimeCount() != 2 {
				t.Errorf("one-time prekeys left = %d, want 2", p.bobPrekeys.OneTimeCount())
			}
			for i := range 20 {
				send(t, p.alice, p.bob, fmt.Sprintf("a%d", i))
				send(t, p.bob, p.alice, fmt.Sprintf("b%d", i))
				if i%3 == 0 {
					send(t, p.bob, p.alice, fmt.Sprintf("b%d'", i))
				}
			}
		})
	}
}

// envelopeSize returns the encoded size of the envelope that carries body
// with the relay's default 7-day ttl.
func envelopeSize(to codec.Tag, body []byte) int {
	e := codec.Envelope{Kind: codec.KindMessage, To: to, TTL: 7 * 24 * 3600, Prio: codec.PrioNormal, Body: body}
	return len(e.Encode())
}

// TestEstablishedEnvelopeSize is the LoRa budget of DESIGN.md: a 20-byte
// text in an established session fits a 62-byte envelope, in either
// direction, with and without a ratchet step in between.
func TestEstablishedEnvelopeSize(t *testing.T) {
	text := "twenty bytes of text"
	if len(text) != 20 {
		t.Fatal("text is not 20 bytes")
	}
	p := newPair(t, &Options{Classical: true, RekeyInterval: 4})
	send(t, p.bob, p.alice, "ok") // Bob's first answer carries his new key
	send(t, p.alice, p.bob, "ok") // which Alice's answer acknowledges
	for i := range 40 {
		from, to := p.alice, p.bob
		if i%3 == 2 {
			from, to = to, from
		}
		keyed := from.sendKeyed || (from.myTurn && from.sentSinceRekey >= from.rekeyInterval)
		body := send(t, from, to, text)
		size := envelopeSize(to.Local().Tag(), body)
		switch {
		case keyed && len(body) != len(text)+KeyedMessageOverhead:
			t.Errorf("message %d: keyed body %d bytes, want %d", i, len(body), len(text)+KeyedMessageOverhead)
		case !keyed && size > 62:
			t.Errorf("message %d: envelope %d bytes, budget 62", i, size)
		case !keyed && len(body) != len(text)+MessageOverhead:
			t.Errorf("message %d: body %d bytes, want %d", i, len(body), len(text)+MessageOverhead)
		}
		if !keyed && i < 1 {
			t.Logf("established: body %d bytes, envelope %d bytes", len(body), size)
		}
	}
}

func TestInitialEnvelopeSize(t *testing.T) {
	text := []byte("twenty bytes of text")
	for _, tc := range []struct {
		classical bool
		overhead  int
	}{{true, InitialOverheadClassical}, {false, InitialOverheadPQ}} {
		id, _ := GenerateIdentity()
		bobID, _ := GenerateIdentity()
		pk, _ := NewPrekeys(1)
		s, err := InitiateSession(id, pk.Bundle(bobID), &Options{Classical: tc.classical})
		if err != nil {
			t.Fatal(err)
		}
		body, err := s.Encrypt(text)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != len(text)+tc.overhead {
			t.Errorf("classical=%v: body %d bytes, want %d", tc.classical, len(body), len(text)+tc.overhead)
		}
		t.Logf("initial message, classical=%v: body %d bytes, envelope %d bytes",
			tc.classical, len(body), envelopeSize(bobID.Public().Tag(), body))
	}
}

func TestReplayAndForgeryChangeNothing(t *testing.T) {
	p := newPair(t, nil)
	body := send(t, p.alice, p.bob, "once")
	before := p.bob.Marshal()
	if _, err := p.bob.Decrypt(body); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("replay: %v", err)
	}
	for i := range body {
		forged := bytes.Clone(body)
		forged[i] ^= 0x01
		if _, err := p.bob.Decrypt(forged); !errors.Is(err, ErrUndecryptable) {
			t.Fatalf("bit flip at %d: %v", i, err)
		}
	}
	if !bytes.Equal(before, p.bob.Marshal()) {
		t.Fatal("session changed")
	}
}

func TestSessionMarshalRoundTrip(t *testing.T) {
	p := newPair(t, &Options{RekeyInterval: 1})
	for i := range 5 {
		send(t, p.alice, p.bob, fmt.Sprint(i))
		b := p.bob.Marshal()
		s, err := UnmarshalSession(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("Marshal(Unmarshal(b)) != b")
		}
		p.bob = s
		send(t, p.bob, p.alice, fmt.Sprint(i))
	}
}
