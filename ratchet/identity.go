package ratchet

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"math/big"

	"github.com/cairnmesh/cairn/codec"
)

// SeedSize is the size of an identity's secret: an Ed25519 seed (RFC 8032).
const SeedSize = ed25519.SeedSize

// Identity is a user's private identity: an Ed25519 signing key and the
// X25519 agreement key derived from it. The zero value is not usable; make
// one with GenerateIdentity or ParseIdentity. An Identity is immutable and
// safe for concurrent use.
type Identity struct {
	seed      [SeedSize]byte
	signing   ed25519.PrivateKey
	agreement *ecdh.PrivateKey
	public    PublicIdentity
}

// PublicIdentity is the public half of an Identity. It is comparable with
// ==. The zero value is not a valid identity.
type PublicIdentity struct {
	signing   [ed25519.PublicKeySize]byte
	agreement [keySize]byte
}

// GenerateIdentity returns a new random identity.
func GenerateIdentity() (*Identity, error) {
	var seed [SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("generating identity: %w", err)
	}
	return ParseIdentity(seed[:])
}

// ParseIdentity returns the identity whose secret is seed, as returned by
// (*Identity).Bytes.
func ParseIdentity(seed []byte) (*Identity, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrBadIdentity, len(seed), SeedSize)
	}
	id := &Identity{signing: ed25519.NewKeyFromSeed(seed)}
	copy(id.seed[:], seed)
	// The X25519 scalar of an Ed25519 key is the first half of SHA-512 of
	// the seed (RFC 8032 section 5.1.5); X25519 clamps it (RFC 7748).
	// Its public key is the Montgomery form of the Ed25519 public key.
	h := sha512.Sum512(seed)
	agreement, err := ecdh.X25519().NewPrivateKey(h[:keySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadIdentity, err)
	}
	id.agreement = agreement
	copy(id.public.signing[:], id.signing.Public().(ed25519.PublicKey))
	copy(id.public.agreement[:], agreement.PublicKey().Bytes())
	return id, nil
}

// Bytes returns the identity's secret seed, for a keystore. Keep it secret.
func (id *Identity) Bytes() []byte { return append([]byte(nil), id.seed[:]...) }

// Public returns the public half of the identity.
func (id *Identity) Public() PublicIdentity { return id.public }

// SigningKey returns the Ed25519 private key, for receipts and the MQTT
// auth token (package codec).
func (id *Identity) SigningKey() ed25519.PrivateKey { return id.signing }

// NewPublicIdentity returns the public identity of an Ed25519 public key.
func NewPublicIdentity(pub ed25519.PublicKey) (PublicIdentity, error) {
	var p PublicIdentity
	if len(pub) != ed25519.PublicKeySize {
		return p, fmt.Errorf("%w: %d bytes, want %d", ErrBadIdentity, len(pub), ed25519.PublicKeySize)
	}
	u, err := edwardsToMontgomery(pub)
	if err != nil {
		return p, err
	}
	copy(p.signing[:], pub)
	p.agreement = u
	return p, nil
}

// ParsePublicIdentity parses an identity's did:key ("did:key:z6Mk…").
func ParsePublicIdentity(did string) (PublicIdentity, error) {
	pub, err := codec.ParseDIDKey(did)
	if err != nil {
		return PublicIdentity{}, fmt.Errorf("%w: %w", ErrBadIdentity, err)
	}
	return NewPublicIdentity(pub)
}

// DID returns the did:key of the signing key ("did:key:z6Mk…"): the user's
// address.
func (p PublicIdentity) DID() string { return codec.FormatDIDKey(p.signing[:]) }

// AgreementDID returns the did:key of the X25519 agreement key
// ("did:key:z6LS…"), the keyAgreement entry of the DID document.
func (p PublicIdentity) AgreementDID() string { return codec.FormatX25519DIDKey(p.agreement[:]) }

// SigningKey returns the Ed25519 public key.
func (p PublicIdentity) SigningKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), p.signing[:]...)
}

// AgreementKey returns the 32-byte X25519 public key.
func (p PublicIdentity) AgreementKey() []byte { return append([]byte(nil), p.agreement[:]...) }

// Tag returns the routing tag that envelopes for this identity carry.
func (p PublicIdentity) Tag() codec.Tag { return codec.TagOf(p.signing[:]) }

func (p PublicIdentity) agreementKey() (*ecdh.PublicKey, error) {
	return ecdh.X25519().NewPublicKey(p.agreement[:])
}

// p25519 is the field prime 2^255 - 19.
var p25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// edwardsToMontgomery maps an Ed25519 public key to the X25519 public key
// of the same secret: u = (1 + y) / (1 - y) mod p (RFC 7748 section 4.1).
// Public keys only, so math/big's variable time is harmless. It refuses a
// non-canonical y and y = 1, which has no image; a key that is not on the
// curve maps to some u whose DH either fails (low order) or yields a secret
// nobody else can compute.
func edwardsToMontgomery(pub []byte) ([keySize]byte, error) {
	var u [keySize]byte
	be := make([]byte, keySize)
	for i := range keySize {
		be[i] = pub[keySize-1-i]
	}
	be[0] &= 0x7f // the sign of x
	y := new(big.Int).SetBytes(be)
	if y.Cmp(p25519) >= 0 {
		return u, fmt.Errorf("%w: non-canonical Ed25519 key", ErrBadIdentity)
	}
	den := new(big.Int).Sub(big.NewInt(1), y)
	den.Mod(den, p25519)
	if den.Sign() == 0 {
		return u, fmt.Errorf("%w: Ed25519 key has no X25519 form", ErrBadIdentity)
	}
	num := new(big.Int).Add(big.NewInt(1), y)
	v := num.Mul(num, den.ModInverse(den, p25519))
	v.Mod(v, p25519)
	v.FillBytes(be)
	for i := range keySize {
		u[i] = be[keySize-1-i]
	}
	return u, nil
}
