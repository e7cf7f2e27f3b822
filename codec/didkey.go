package codec

import (
	"crypto/ed25519"
	"fmt"
	"strings"
)

// Spec constants from the W3C did:key method (w3c-ccg.github.io/did-method-key)
// and the multicodec table: "did:key:" + multibase base58btc ('z') of the
// varint multicodec ed25519-pub (0xed → 0xed 0x01) or x25519-pub
// (0xec → 0xec 0x01) followed by the raw 32-byte key.
const (
	didKeyPrefix   = "did:key:"
	multibaseB58   = 'z'
	maxDIDKeyChars = 64 // an Ed25519 did:key is 56 characters; refuse long input before decoding
)

var (
	multicodecEd25519Pub = [2]byte{0xed, 0x01}
	multicodecX25519Pub  = [2]byte{0xec, 0x01}
)

// X25519KeySize is the size of an X25519 public key in bytes.
const X25519KeySize = 32

// FormatDIDKey returns the did:key of an Ed25519 public key
// ("did:key:z6Mk…").
func FormatDIDKey(pub ed25519.PublicKey) string {
	return formatDIDKey(multicodecEd25519Pub, pub)
}

// FormatX25519DIDKey returns the did:key of a 32-byte X25519 public key
// ("did:key:z6LS…"), the form the did:key method gives key-agreement keys.
func FormatX25519DIDKey(pub []byte) string {
	return formatDIDKey(multicodecX25519Pub, pub)
}

func formatDIDKey(codec [2]byte, pub []byte) string {
	b := make([]byte, 0, 2+len(pub))
	b = append(b, codec[:]...)
	b = append(b, pub...)
	return didKeyPrefix + string(multibaseB58) + base58Encode(b)
}

// ParseDIDKey parses an Ed25519 did:key, refusing any other key type and any
// string that is not the canonical encoding of its key.
func ParseDIDKey(s string) (ed25519.PublicKey, error) {
	b, err := parseDIDKey(s, multicodecEd25519Pub, "an Ed25519")
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}

// ParseX25519DIDKey parses an X25519 did:key ("did:key:z6LS…") into the
// 32-byte public key, refusing any other key type and any string that is not
// the canonical encoding of its key. It does not check that the key is a
// point of large order; X25519 itself refuses such keys when used.
func ParseX25519DIDKey(s string) ([]byte, error) {
	return parseDIDKey(s, multicodecX25519Pub, "an X25519")
}

func parseDIDKey(s string, codec [2]byte, what string) ([]byte, error) {
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
	// Both key types are 32 bytes.
	if len(b) != 2+ed25519.PublicKeySize || b[0] != codec[0] || b[1] != codec[1] {
		return nil, fmt.Errorf("%w: not %s public key", ErrBadDID, what)
	}
	pub := b[2:]
	if formatDIDKey(codec, pub) != s {
		return nil, fmt.Errorf("%w: not canonical", ErrBadDID)
	}
	return pub, nil
}
