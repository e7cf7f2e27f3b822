package codec

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// ID, EncodedSize and Encode write CBOR heads by hand; they must agree with the
// CBOR library's deterministic encoding at every head length (argument
// below 24, one, two, four and eight bytes).
func TestEnvelopeHeadsMatchLibrary(t *testing.T) {
	bodyLens := []int{0, 1, 23, 24, 255, 256, 65535, 65536}
	ints := []uint64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range bodyLens {
		for _, v := range ints {
			e := Envelope{
				Kind: Kind(1 + rng.IntN(int(KindTransfer))),
				TTL:  uint32(v),
				Prio: Prio(rng.IntN(int(PrioUrgent) + 1)),
				Hops: uint8(v),
				Body: make([]byte, n),
			}
			for i := range e.Body {
				e.Body[i] = byte(rng.Uint32())
			}
			e.To = Tag{byte(v), byte(n), 3, 4, 5, 6, 7, 8}
			if got, want := e.EncodedSize(), len(e.Encode()); got != want {
				t.Errorf("body %d, ttl %d: EncodedSize %d, encoding has %d", n, v, got, want)
			}
			if got, want := e.Encode(), encodeEnvelopeReference(&e); !bytes.Equal(got, want) {
				t.Errorf("body %d, ttl %d: Encode gives %x, the library %x", n, v, got, want)
			}
			pre := mustMarshal([]any{uint64(Version), uint64(e.Kind), e.To[:], uint64(e.Prio), e.Body})
			sum := sha256.Sum256(pre)
			if id := e.ID(); string(id[:]) != string(sum[:IDSize]) {
				t.Errorf("body %d: ID %s, library encoding gives %x", n, id, sum[:IDSize])
			}
		}
	}
	// Encode writes any envelope, valid or not, as the library did: a nil
	// body as the empty byte string.
	for _, e := range []Envelope{{}, {Kind: 255, TTL: 1<<32 - 1, Prio: 255, Hops: 255, Body: []byte{}}} {
		if got, want := e.Encode(), encodeEnvelopeReference(&e); !bytes.Equal(got, want) {
			t.Errorf("%+v: Encode gives %x, the library %x", e, got, want)
		}
	}
	for _, v := range append(ints, 1<<32, 1<<64-1) {
		if got, want := len(appendHead(nil, cborUint, v)), len(mustMarshal(v)); got != want || headSize(v) != want {
			t.Errorf("head of %d: %d bytes (headSize %d), library %d", v, got, headSize(v), want)
		}
		if got, want := string(appendHead(nil, cborUint, v)), string(mustMarshal(v)); got != want {
			t.Errorf("head of %d: %x, library %x", v, got, want)
		}
	}
}
