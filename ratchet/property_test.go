package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

type inflight struct {
	body      []byte
	plaintext string
	delivered bool
	lost      bool // skipped by in-order delivery; may arrive late
}

// TestPropertyInterleavings drives two sessions through random
// interleavings: both sides sending, in-order delivery with losses, late
// (out-of-order) delivery of lost messages, duplicates, and persistence in
// between. Properties: messages delivered in order despite losses always
// open; an opened message has its original plaintext and opens once; a
// message that does not open leaves the session byte for byte unchanged.
func TestPropertyInterleavings(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		opts := &Options{
			Classical:     rapid.Bool().Draw(rt, "classical"),
			RekeyInterval: rapid.IntRange(1, 4).Draw(rt, "rekeyInterval"),
		}
		p := newPair(rt, opts)
		sides := [2]*Session{p.alice, p.bob}
		var net [2][]*inflight // net[i]: sent by side i
		next := [2]int{}       // next in-order index per direction
		counter := 0

		decryptAt := func(to int, m *inflight) ([]byte, error) {
			before := sides[to].Marshal()
			pt, err := sides[to].Decrypt(m.body)
			if err != nil {
				if !errors.Is(err, ErrUndecryptable) {
					rt.Fatalf("error %v is not ErrUndecryptable", err)
				}
				if !bytes.Equal(before, sides[to].Marshal()) {
					rt.Fatal("a failed Decrypt changed the session")
				}
				return nil, err
			}
			if m.delivered {
				rt.Fatalf("message %q opened twice", m.plaintext)
			}
			if string(pt) != m.plaintext {
				rt.Fatalf("opened %q, sent %q", pt, m.plaintext)
			}
			m.delivered, m.lost = true, false
			return pt, nil
		}

		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for range steps {
			d := rapid.IntRange(0, 1).Draw(rt, "side")
			switch rapid.IntRange(0, 5).Draw(rt, "action") {
			case 0, 1: // send
				counter++
				text := fmt.Sprintf("m%d from %d", counter, d)
				body, err := sides[d].Encrypt([]byte(text))
				if err != nil {
					rt.Fatal(err)
				}
				net[d] = append(net[d], &inflight{body: body, plaintext: text})
			case 2, 3: // in-order delivery from d, losing a few first
				lose := rapid.IntRange(0, 2).Draw(rt, "lose")
				for ; lose > 0 && next[d] < len(net[d])-1; lose-- {
					net[d][next[d]].lost = true
					next[d]++
				}
				if next[d] < len(net[d]) {
					m := net[d][next[d]]
					next[d]++
					if _, err := decryptAt(1-d, m); err != nil {
						rt.Fatalf("in-order message %q did not open: %v", m.plaintext, err)
					}
				}
			case 4: // late delivery or duplicate of anything already passed
				if next[d] == 0 {
					continue
				}
				m := net[d][rapid.IntRange(0, next[d]-1).Draw(rt, "late")]
				wasDelivered := m.delivered
				_, err := decryptAt(1-d, m)
				if wasDelivered && err == nil {
					rt.Fatal("a duplicate opened")
				}
			case 5: // persist and restore
				s, err := UnmarshalSession(sides[d].Marshal())
				if err != nil {
					rt.Fatal(err)
				}
				sides[d] = s
			}
		}
	})
}

// TestSkipLimit is a long one-sided run: a message more than MaxSkip ahead
// is refused and changes nothing; one exactly MaxSkip ahead opens, and the
// skipped ones then open out of order.
func TestSkipLimit(t *testing.T) {
	p := newPair(t, &Options{Classical: true, RekeyInterval: 1 << 30})
	send(t, p.bob, p.alice, "answer") // so alice's messages are short
	var bodies [][]byte
	for i := range MaxSkip + 2 {
		b, err := p.alice.Encrypt([]byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	before := p.bob.Marshal()
	if _, err := p.bob.Decrypt(bodies[MaxSkip+1]); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("message MaxSkip+1 ahead: %v", err)
	}
	if !bytes.Equal(before, p.bob.Marshal()) {
		t.Fatal("refused message changed the session")
	}
	if pt, err := p.bob.Decrypt(bodies[MaxSkip]); err != nil || string(pt) != fmt.Sprint(MaxSkip) {
		t.Fatalf("message MaxSkip ahead: %q, %v", pt, err)
	}
	if len(p.bob.skipped) != MaxSkip {
		t.Errorf("%d skipped keys, want %d", len(p.bob.skipped), MaxSkip)
	}
	for _, i := range []int{7, 0, MaxSkip - 1, MaxSkip + 1} {
		if pt, err := p.bob.Decrypt(bodies[i]); err != nil || string(pt) != fmt.Sprint(i) {
			t.Fatalf("message %d: %q, %v", i, pt, err)
		}
	}
	if len(p.bob.skipped) != MaxSkip-3 {
		t.Errorf("skipped keys not deleted on use: %d left", len(p.bob.skipped))
	}
}

// TestSkippedKeysCap: the total of stored skipped keys stays at
// MaxSkippedKeys, dropping the oldest.
func TestSkippedKeysCap(t *testing.T) {
	p := newPair(t, &Options{Classical: true, RekeyInterval: 1 << 30})
	send(t, p.bob, p.alice, "answer")
	var first []byte
	for round := range 3 {
		var last []byte
		for i := range MaxSkip + 1 {
			b, err := p.alice.Encrypt([]byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 && i == 0 {
				first = b
			}
			last = b
		}
		if _, err := p.bob.Decrypt(last); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.bob.skipped) != MaxSkippedKeys {
		t.Errorf("%d skipped keys, cap %d", len(p.bob.skipped), MaxSkippedKeys)
	}
	if _, err := p.bob.Decrypt(first); !errors.Is(err, ErrUndecryptable) {
		t.Errorf("the oldest skipped key was kept: %v", err)
	}
}
