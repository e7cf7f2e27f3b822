package codec

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Spec constants from DESIGN.md "Envelope v1".
const (
	TagSize = 8  // bytes in a routing tag
	IDSize  = 16 // bytes in an envelope id

	tagContext = "cairn/tag/v1"
)

// Tag is a routing tag: the first 8 bytes of SHA-256("cairn/tag/v1" ‖ Ed25519
// public key). Relays route on it and learn nothing else about the recipient.
// The zero value is a valid (if unlikely) tag.
type Tag [TagSize]byte

// TagOf returns the routing tag of an Ed25519 public key.
func TagOf(pub ed25519.PublicKey) Tag {
	h := sha256.New()
	h.Write([]byte(tagContext))
	h.Write(pub)
	var t Tag
	copy(t[:], h.Sum(nil))
	return t
}

// String returns the tag as 16 lower-case hex digits, its form in MQTT topics.
func (t Tag) String() string { return hex.EncodeToString(t[:]) }

// ParseTag parses the 16 lower-case hex digits of a topic segment. Upper-case
// digits are refused so that each tag has exactly one topic.
func ParseTag(s string) (Tag, error) {
	var t Tag
	if len(s) != 2*TagSize {
		return t, fmt.Errorf("%w: %d characters, want %d", ErrBadTagString, len(s), 2*TagSize)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return t, fmt.Errorf("%w: %q is not lower-case hex", ErrBadTagString, s)
		}
	}
	hex.Decode(t[:], []byte(s))
	return t, nil
}

// ID identifies an envelope: the first 16 bytes of SHA-256 over the
// deterministic CBOR of [version, kind, to, prio, body]. ttl and hops change
// in transit and are left out, so every copy of an envelope has the same id.
type ID [IDSize]byte

// String returns the id as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }
