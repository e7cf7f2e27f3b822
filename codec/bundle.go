package codec

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// Spec constants of the prekey bundle's head (docs/crypto.md, "Prekey
// bundles"; ratchet/bundle.go encodes the whole):
//
//	[1, identity (32), generation, spk (32), spk sig (64), kem, kem sig, one-time]
//
// The signed prekey's signature is Ed25519 by the identity over
// "cairn/spk/v1" ‖ generation (4 bytes, big-endian) ‖ spk.
const (
	bundleVersion   = 1
	bundleItems     = 8
	ctxSignedPrekey = "cairn/spk/v1"
)

// BundleOwner reads the identity key at the head of a prekey bundle (the
// body of a kind-3 envelope) and checks the signed prekey's signature by
// it, so that a relay, which holds no keys and does not parse the rest of
// the bundle, can tell an identity's own publication of its bundle (owner's
// tag = the envelope's to) from an answer to a request or a forgery. It
// reads the head only, in deterministic encoding, and nothing after the
// signature: the requester checks the rest (ratchet.Bundle.Verify). It
// does not retain body.
func BundleOwner(body []byte) (ed25519.PublicKey, error) {
	if len(body) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: bundle of %d bytes", ErrTooLarge, len(body))
	}
	r := headReader{b: body}
	if h := r.byte(); r.err == nil && h != 0x80|bundleItems {
		return nil, fmt.Errorf("%w: bundle is not an array of %d", ErrShape, bundleItems)
	}
	if v := r.byte(); r.err == nil && v != bundleVersion {
		return nil, fmt.Errorf("%w: bundle version %d", ErrVersion, v)
	}
	id := r.bytes(ed25519.PublicKeySize)
	gen := r.uint32()
	spk := r.bytes(32)
	sig := r.bytes(ed25519.SignatureSize)
	if r.err != nil {
		return nil, fmt.Errorf("bundle head: %w", r.err)
	}
	msg := binary.BigEndian.AppendUint32([]byte(ctxSignedPrekey), gen)
	msg = append(msg, spk...)
	if !ed25519.Verify(id, msg, sig) {
		return nil, fmt.Errorf("%w: signed prekey of the bundle", ErrBadSignature)
	}
	return ed25519.PublicKey(append([]byte(nil), id...)), nil
}

// headReader reads the few CBOR items of a bundle's head; the first error
// sticks.
type headReader struct {
	b   []byte
	err error
}

func (r *headReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: bundle ends early", ErrMalformed)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *headReader) byte() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

// bytes reads a byte string of exactly n bytes, 24 ≤ n < 256.
func (r *headReader) bytes(n int) []byte {
	if h := r.take(2); h != nil && (h[0] != 0x58 || int(h[1]) != n) {
		r.err = fmt.Errorf("%w: want a byte string of %d bytes", ErrShape, n)
	}
	return r.take(n)
}

// uint32 reads an unsigned integer below 2³² in its shortest encoding.
func (r *headReader) uint32() uint32 {
	h := r.byte()
	if r.err != nil {
		return 0
	}
	var v uint64
	switch {
	case h < 24:
		return uint32(h)
	case h == 0x18:
		v = uint64(r.byte())
	case h == 0x19:
		if p := r.take(2); p != nil {
			v = uint64(binary.BigEndian.Uint16(p))
		}
	case h == 0x1a:
		if p := r.take(4); p != nil {
			v = uint64(binary.BigEndian.Uint32(p))
		}
	default:
		r.err = fmt.Errorf("%w: generation is not an unsigned integer below 2^32", ErrShape)
		return 0
	}
	if r.err == nil && (h == 0x18 && v < 24 || h == 0x19 && v < 1<<8 || h == 0x1a && v < 1<<16) {
		r.err = fmt.Errorf("%w: generation not in its shortest form", ErrNotCanonical)
	}
	return uint32(v)
}
