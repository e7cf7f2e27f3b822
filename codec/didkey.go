package codec

import (
	"crypto/ed25519"
	"fmt"
	"strings"
)

// Spec constants from the W3C did:key method (w3c-ccg.github.io/did-method-key)
// and the multicodec table: "did:key:" + multibase base58btc ('z') of the
// varint multicodec ed25519-pub (0xed → 0xed 0x01) followed by the raw key.
const (
	didKeyPrefix   = "did:key:"
	multibaseB58   = 'z'
	maxDIDKeyChars = 64 // an Ed25519 did:key is 56 characters; refuse long input before decoding
)

var multicodecEd25519Pub = [2]byte{0xed, 0x01}

// FormatDIDKey returns the did:key of an Ed25519 public key
// ("did:key:z6Mk…").
func FormatDIDKey(pub ed25519.PublicKey) string {
	b := make([]byte, 0, 2+ed25519.PublicKeySize)
	b = append(b, multicodecEd25519Pub[:]...)
	b = append(b, pub...)
	return didKeyPrefix + string(multibaseB58) + base58Encode(b)
}

// ParseDIDKey parses an Ed25519 did:key, refusing any other key type and any
// string that is not the canonical encoding of its key.
func ParseDIDKey(s string) (ed25519.PublicKey, error) {
	if len(s) > maxDIDKeyChars {
		return nil, fmt.Errorf("%w: %d characters", ErrBadDID, len(s))
	}
	rest, ok := strings.CutPrefix(s, didKeyPrefix)
	if !ok || len(rest) == 0 || rest[0] != multibaseB58 {
		return nil, fmt.Errorf("%w: want did:key:z…", ErrBadDID)
	}
	b, err := base58Decode(rest[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDID, err)
	}
	if len(b) != 2+ed25519.PublicKeySize || b[0] != multicodecEd25519Pub[0] || b[1] != multicodecEd25519Pub[1] {
		return nil, fmt.Errorf("%w: not an Ed25519 public key", ErrBadDID)
	}
	pub := ed25519.PublicKey(b[2:])
	if FormatDIDKey(pub) != s {
		return nil, fmt.Errorf("%w: not canonical", ErrBadDID)
	}
	return pub, nil
}
