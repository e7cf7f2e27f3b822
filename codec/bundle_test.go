package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/ratchet"
)

// testBundle is a real bundle made by ratchet, with generation gen.
func testBundle(t testing.TB, gen int) (*ratchet.Identity, []byte) {
	t.Helper()
	id, err := ratchet.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ratchet.NewPrekeys(2)
	if err != nil {
		t.Fatal(err)
	}
	for range gen - 1 {
		if err := pk.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	return id, pk.Bundle(id).Encode()
}

// BundleOwner finds the identity of bundles ratchet makes, with or without
// one-time prekeys, and refuses heads that are cut short, reshaped or
// signed by someone else.
func TestBundleOwner(t *testing.T) {
	id, body := testBundle(t, 1)
	got, err := codec.BundleOwner(body)
	if err != nil || !bytes.Equal(got, id.Public().SigningKey()) {
		t.Fatalf("BundleOwner = %x, %v; want %x", got, err, id.Public().SigningKey())
	}
	if codec.TagOf(got) != id.Public().Tag() {
		t.Fatal("owner's tag differs from the identity's")
	}
	b, _ := ratchet.ParseBundle(body)
	if _, err := codec.BundleOwner(b.WithoutKEM().Encode()); err != nil {
		t.Errorf("bundle without KEM and one-time prekeys: %v", err)
	}
	// Generations past 23 take a longer integer encoding.
	for _, gen := range []int{24, 300} {
		_, body := testBundle(t, gen)
		if _, err := codec.BundleOwner(body); err != nil {
			t.Errorf("generation %d: %v", gen, err)
		}
	}

	_, other := testBundle(t, 1)
	swapped := bytes.Clone(body)
	copy(swapped[4:36], other[4:36]) // another identity, same signature
	flipped := bytes.Clone(body)
	flipped[100] ^= 1 // inside the signed prekey's signature
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"cut in the identity", body[:20], codec.ErrMalformed},
		{"cut before the signature", body[:80], codec.ErrMalformed},
		{"not an array of 8", append([]byte{0x87}, body[1:]...), codec.ErrShape},
		{"version 2", append([]byte{0x88, 0x02}, body[2:]...), codec.ErrVersion},
		{"identity of 31 bytes", append([]byte{0x88, 0x01, 0x58, 0x1f}, body[4:]...), codec.ErrShape},
		{"other identity", swapped, codec.ErrBadSignature},
		{"signature changed", flipped, codec.ErrBadSignature},
		{"generation 1 as two bytes", append(append([]byte{}, body[:36]...), append([]byte{0x18, 0x01}, body[37:]...)...), codec.ErrNotCanonical},
		{"generation negative", append(append([]byte{}, body[:36]...), append([]byte{0x20}, body[37:]...)...), codec.ErrShape},
	} {
		if _, err := codec.BundleOwner(tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// BundleOwner never panics, and accepts only heads whose signature holds.
func FuzzBundleOwner(f *testing.F) {
	_, body := testBundle(f, 1)
	f.Add(body)
	f.Add(body[:60])
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := codec.BundleOwner(b)
		if err != nil {
			requireSentinel(t, err)
			return
		}
		if len(pub) != 32 {
			t.Fatalf("owner of %d bytes", len(pub))
		}
	})
}
