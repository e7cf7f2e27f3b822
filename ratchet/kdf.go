package ratchet

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// kdfCK is the Double Ratchet's KDF_CK (section 5.2): HMAC-SHA256 keyed by
// the chain key, over 0x01 for the message key and 0x02 for the next chain
// key.
func kdfCK(ck *[keySize]byte) (mk, next [keySize]byte) {
	h := hmac.New(sha256.New, ck[:])
	h.Write([]byte{ckMessageInput})
	h.Sum(mk[:0])
	h.Reset()
	h.Write([]byte{ckChainInput})
	h.Sum(next[:0])
	return mk, next
}

// rootStep is what one DH ratchet step derives. Each step is taken by one
// party, the one that introduces a new ratchet key (the introducer); it
// opens the introducer's next sending chain and the responder's next
// sending chain, so the responder can answer on a chain that depends on
// the new key without sending a key of its own.
type rootStep struct {
	rk      [keySize]byte // next root key
	ckIntro [keySize]byte // introducer's sending chain
	ckResp  [keySize]byte // responder's sending chain
	hkResp  [keySize]byte // header key of the responder's chain
	nhk     [keySize]byte // header key of the chain the next step opens for its introducer
}

// kdfRK is KDF_RK (section 5.2): HKDF-SHA256 with the root key as salt and
// the DH output as input key material, here expanded to five keys.
func kdfRK(rk *[keySize]byte, dh []byte) rootStep {
	out, err := hkdf.Key(sha256.New, dh, rk[:], infoRoot, 5*keySize)
	if err != nil {
		panic("ratchet: HKDF: " + err.Error()) // only for lengths beyond 255 hashes
	}
	var s rootStep
	for i, k := range []*[keySize]byte{&s.rk, &s.ckIntro, &s.ckResp, &s.hkResp, &s.nhk} {
		copy(k[:], out[i*keySize:])
	}
	return s
}

// sealMessage appends the ChaCha20-Poly1305 encryption of plaintext under
// the message key mk to dst. The AEAD key and nonce come from HKDF over mk,
// as the specification's recommended ENCRYPT does; mk is used once.
func sealMessage(dst []byte, mk *[keySize]byte, plaintext, ad []byte) []byte {
	aead, nonce := messageAEAD(mk)
	return aead.Seal(dst, nonce, plaintext, ad)
}

func openMessage(mk *[keySize]byte, ciphertext, ad []byte) ([]byte, error) {
	aead, nonce := messageAEAD(mk)
	return aead.Open(nil, nonce, ciphertext, ad)
}

func messageAEAD(mk *[keySize]byte) (cipherAEAD, []byte) {
	out, err := hkdf.Key(sha256.New, mk[:], nil, infoMsg, chacha20poly1305.KeySize+chacha20poly1305.NonceSize)
	if err != nil {
		panic("ratchet: HKDF: " + err.Error())
	}
	aead, err := chacha20poly1305.New(out[:chacha20poly1305.KeySize])
	if err != nil {
		panic("ratchet: ChaCha20-Poly1305: " + err.Error()) // only for a wrong key size
	}
	return aead, out[chacha20poly1305.KeySize:]
}

type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// newX25519Key returns a random X25519 key. It reads the scalar from
// crypto/rand rather than calling GenerateKey so that tests with
// testing/cryptotest.SetGlobalRandom get the same keys in every Go release.
func newX25519Key() (*ecdh.PrivateKey, error) {
	var b [keySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generating X25519 key: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(b[:])
}

// dh computes X25519 between priv and the 32-byte public key pub. It fails
// for keys of small order (all-zero output).
func dh(priv *ecdh.PrivateKey, pub []byte) ([]byte, error) {
	p, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return priv.ECDH(p)
}
