package codec_test

import (
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// benchBodies are the two sizes the design budgets for: an established-session
// text message (20 bytes) and a larger message (1 KiB); and between them a
// typical envelope of 256 bytes in all, as a relay sees most.
var benchBodies = []struct {
	name string
	size int
}{{"body=20B", 20}, {"envelope=256B", 256 - 21}, {"body=1KiB", 1024}}

func benchEnvelope(size int) *codec.Envelope {
	return &codec.Envelope{Kind: codec.KindMessage, To: codec.TagOf(pubOf(seedBob)), TTL: 86400, Prio: codec.PrioNormal, Body: counting(size)}
}

// The encode and decode benchmarks run the CBOR library-based code Encode
// and DecodeEnvelope replaced as sub-benchmarks "reference/…", so that one
// run gives the ratio.

func BenchmarkEncodeEnvelope(b *testing.B) {
	benchEncode(b, (*codec.Envelope).Encode)
	b.Run("reference", func(b *testing.B) { benchEncode(b, codec.EncodeEnvelopeReference) })
}

func benchEncode(b *testing.B, encode func(*codec.Envelope) []byte) {
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			e := benchEnvelope(bb.size)
			b.SetBytes(int64(len(e.Encode())))
			b.ReportAllocs()
			for b.Loop() {
				encode(e)
			}
		})
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	benchDecode(b, codec.DecodeEnvelope)
	b.Run("reference", func(b *testing.B) { benchDecode(b, codec.DecodeEnvelopeReference) })
}

func benchDecode(b *testing.B, decode func([]byte) (*codec.Envelope, error)) {
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			wire := benchEnvelope(bb.size).Encode()
			if bb.name == "envelope=256B" && len(wire) != 256 {
				b.Fatalf("%s is %d bytes", bb.name, len(wire))
			}
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEnvelopeID(b *testing.B) {
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			e := benchEnvelope(bb.size)
			b.ReportAllocs()
			for b.Loop() {
				e.ID()
			}
		})
	}
}

func BenchmarkVerifyReceipt(b *testing.B) {
	for _, n := range []struct {
		name string
		ids  int
	}{{"ids=1", 1}, {"ids=64", 64}} {
		b.Run(n.name, func(b *testing.B) {
			r := codec.SignReceipt(keyOf(seedBob), make([]codec.ID, n.ids))
			to := codec.TagOf(r.Owner)
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Verify(to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
