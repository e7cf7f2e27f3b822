package codec

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Spec constants from DESIGN.md "MQTT": the password is "v1." + base64url
// without padding of (8-byte big-endian Unix milliseconds ‖ Ed25519 signature
// over "cairn/auth/v1" ‖ those 8 bytes). The username is the client's did:key.
const (
	authContext     = "cairn/auth/v1"
	authTokenPrefix = "v1."
	authRawBytes    = 8 + ed25519.SignatureSize
)

// AuthToken is a decoded, verified MQTT password.
type AuthToken struct {
	Key      ed25519.PublicKey
	UnixMill uint64 // client's clock when it signed; only its increase matters
}

// SignAuthToken returns the MQTT password for key at unixMilli. Clients use
// their clock but need not be right: relays only require each token to be
// newer than the last they accepted for that key.
func SignAuthToken(key ed25519.PrivateKey, unixMilli uint64) string {
	raw := make([]byte, 8, authRawBytes)
	binary.BigEndian.PutUint64(raw, unixMilli)
	raw = append(raw, ed25519.Sign(key, authMessage(raw[:8]))...)
	return authTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

func authMessage(stamp []byte) []byte {
	return append([]byte(authContext), stamp...)
}

// VerifyAuthToken checks an MQTT username (a did:key) and password (a token).
// It does not check freshness: the caller compares UnixMill with the last
// accepted value for Key.
func VerifyAuthToken(username, password string) (*AuthToken, error) {
	key, err := ParseDIDKey(username)
	if err != nil {
		return nil, fmt.Errorf("%w: username: %w", ErrBadToken, err)
	}
	enc, ok := strings.CutPrefix(password, authTokenPrefix)
	if !ok || len(enc) != base64.RawURLEncoding.EncodedLen(authRawBytes) {
		return nil, fmt.Errorf("%w: want v1. and %d base64url characters", ErrBadToken, base64.RawURLEncoding.EncodedLen(authRawBytes))
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if !ed25519.Verify(key, authMessage(raw[:8]), raw[8:]) {
		return nil, fmt.Errorf("%w: %w", ErrBadToken, ErrBadSignature)
	}
	return &AuthToken{Key: key, UnixMill: binary.BigEndian.Uint64(raw[:8])}, nil
}
