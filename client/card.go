package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/cairnmesh/cairn/ratchet"
)

// A contact card is what two people exchange to reach each other without
// a server: a QR code or a string to paste. It is
//
//	"cairn1:" ‖ base64url, no padding, of a prekey bundle without its
//	ML-KEM prekey and one-time prekeys (ratchet's bundle encoding: version,
//	Ed25519 identity, generation, signed X25519 prekey, its signature,
//	empty, empty, [])
//
// 140 bytes, 194 characters: a version 9 QR code at error correction
// level L in byte mode. The signature makes a card unforgeable but not
// fresh: a card is good for as long as its owner keeps that generation of
// signed prekey (the current and the previous one). A card is enough to
// send the first message, classical (X3DH); the ML-KEM prekey is 1,184
// bytes, far too large for a QR code, and comes with a bundle fetched
// through a relay (docs/crypto.md, "Contact cards").
const (
	CardPrefix = "cairn1:"
	// maxCardChars refuses long input before decoding; a card is 194.
	maxCardChars = 256
)

// ErrBadCard is returned, wrapped, for a string that is not a valid card.
var ErrBadCard = errors.New("bad contact card")

// EncodeCard returns the contact card of b, without b's ML-KEM prekey and
// one-time prekeys.
func EncodeCard(b *ratchet.Bundle) string {
	return CardPrefix + base64.RawURLEncoding.EncodeToString(b.WithoutKEM().Encode())
}

// DecodeCard parses and verifies a contact card. It accepts exactly what
// EncodeCard produces: the prefix, canonical base64url without padding, a
// bundle in its exact encoding with no ML-KEM prekey and no one-time
// prekeys, and a valid signature. Surrounding white space is the caller's
// to trim.
func DecodeCard(s string) (*ratchet.Bundle, error) {
	if len(s) > maxCardChars {
		return nil, fmt.Errorf("%w: %d characters, a card has at most %d", ErrBadCard, len(s), maxCardChars)
	}
	enc, ok := strings.CutPrefix(s, CardPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: does not start with %q", ErrBadCard, CardPrefix)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCard, err)
	}
	b, err := ratchet.ParseBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCard, err)
	}
	if b.HasKEM() || len(b.OneTime) > 0 {
		return nil, fmt.Errorf("%w: carries prekeys a card leaves out", ErrBadCard)
	}
	if err := b.Verify(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCard, err)
	}
	return b, nil
}
