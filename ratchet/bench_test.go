package ratchet

import (
	"fmt"
	"testing"
)

var text20 = []byte("twenty bytes of text")

// established returns a pair whose next messages from alice are short and
// never rekey.
func established(b *testing.B) *pair {
	p := newPair(b, &Options{Classical: true, RekeyInterval: 1 << 30})
	send(b, p.bob, p.alice, "answer")
	send(b, p.alice, p.bob, "ack")
	return p
}

func BenchmarkEncrypt(b *testing.B) {
	p := established(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(text20)))
	for b.Loop() {
		if _, err := p.alice.Encrypt(text20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt opens messages in order; the bodies are made first.
func BenchmarkDecrypt(b *testing.B) {
	for _, ahead := range []int{0, 4} {
		b.Run(fmt.Sprintf("chains=%d", 1+ahead), func(b *testing.B) {
			p := established(b)
			// More open receiving chains mean more header trials per message.
			for range ahead {
				p.bob.SetRekeyInterval(1)
				p.alice.SetRekeyInterval(1)
				send(b, p.bob, p.alice, "step")
				send(b, p.alice, p.bob, "step")
			}
			p.alice.SetRekeyInterval(1 << 30)
			bodies := make([][]byte, 0, 1<<16)
			for range cap(bodies) {
				m, err := p.alice.Encrypt(text20)
				if err != nil {
					b.Fatal(err)
				}
				bodies = append(bodies, m)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(text20)))
			i := 0
			for b.Loop() {
				if i == len(bodies) {
					b.StopTimer()
					for j := range bodies {
						bodies[j], _ = p.alice.Encrypt(text20)
					}
					i = 0
					b.StartTimer()
				}
				if _, err := p.bob.Decrypt(bodies[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkDecryptForeign is the cost of trying a body that belongs to
// another session: what a recipient pays per session it tries.
func BenchmarkDecryptForeign(b *testing.B) {
	p := established(b)
	q := established(b)
	body, _ := q.alice.Encrypt(text20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.bob.Decrypt(body); err == nil {
			b.Fatal("opened a foreign message")
		}
	}
}

// BenchmarkSetup is a whole session setup: Alice verifies the bundle and
// encrypts the initial message, Bob accepts it.
func BenchmarkSetup(b *testing.B) {
	for _, classical := range []bool{true, false} {
		name := "pq"
		if classical {
			name = "classical"
		}
		b.Run(name, func(b *testing.B) {
			aliceID, _ := GenerateIdentity()
			bobID, _ := GenerateIdentity()
			pk, err := NewPrekeys(0)
			if err != nil {
				b.Fatal(err)
			}
			bundle := pk.Bundle(bobID)
			opts := &Options{Classical: classical}
			b.ReportAllocs()
			for b.Loop() {
				s, err := InitiateSession(aliceID, bundle, opts)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := s.Encrypt(text20)
				if _, _, err := AcceptSession(bobID, pk, body, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	p := established(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalSession(p.bob.Marshal()); err != nil {
			b.Fatal(err)
		}
	}
}
