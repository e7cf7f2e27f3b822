package codec_test

import (
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// benchBodies are the two sizes the design budgets for: an established-session
// text message (20 bytes) and a larger message (1 KiB).
var benchBodies = []struct {
	name string
	size int
}{{"body=20B", 20}, {"body=1KiB", 1024}}

func benchEnvelope(size int) *codec.Envelope {
	return &codec.Envelope{Kind: codec.KindMessage, To: codec.TagOf(pubOf(seedBob)), TTL: 86400, Prio: codec.PrioNormal, Body: counting(size)}
}

func BenchmarkEncodeEnvelope(b *testing.B) {
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			e := benchEnvelope(bb.size)
			b.SetBytes(int64(len(e.Encode())))
			b.ReportAllocs()
			for b.Loop() {
				e.Encode()
			}
		})
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			wire := benchEnvelope(bb.size).Encode()
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := codec.DecodeEnvelope(wire); err != nil {
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
