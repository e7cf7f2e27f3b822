package client

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Records: what an app keeps beside the keystore (the web client's message
// history) sealed under the keystore's passphrase (docs/crypto.md,
// "Records"):
//
//	record = 0x01 ‖ nonce (24) ‖ XChaCha20-Poly1305(record key, nonce, plaintext, AD = "cairn/record/v1")
//	record key = HKDF-SHA256(secret = the keystore's scrypt key, salt = none, info = "cairn/record/v1")
//
// The record key is derived apart from the key that seals the keystore, so
// the two never encrypt under one key. Each record stands alone: the AEAD
// keeps its contents secret and unaltered, not the set of records (one can
// be deleted, or an older one put back).
const (
	recordVersion = 1
	recordLabel   = "cairn/record/v1"
)

// Errors of SealRecord and OpenRecord.
var (
	ErrNotEncrypted = errors.New("keystore has no passphrase")
	ErrBadRecord    = errors.New("record does not open")
)

// recordAEAD returns the AEAD of records, or ErrNotEncrypted.
func (ks *Keystore) recordAEAD() (cipher.AEAD, error) {
	ks.mu.Lock()
	key := ks.key
	ks.mu.Unlock()
	if key == nil {
		return nil, ErrNotEncrypted
	}
	rk, err := hkdf.Key(sha256.New, key, nil, recordLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("deriving record key: %w", err)
	}
	return chacha20poly1305.NewX(rk)
}

// SealRecord encrypts plaintext under a key derived from the keystore's
// passphrase, for an app to store beside the keystore; OpenRecord opens it
// again. Without a passphrase there is nothing to seal with: the error
// is ErrNotEncrypted, and the app stores its data as it is. Safe for
// concurrent use.
func (ks *Keystore) SealRecord(plaintext []byte) ([]byte, error) {
	aead, err := ks.recordAEAD()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = recordVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], plaintext, []byte(recordLabel)), nil
}

// OpenRecord decrypts a record made by SealRecord with this keystore's
// passphrase; ErrBadRecord when it does not open (damaged, another
// identity's, not a record).
func (ks *Keystore) OpenRecord(record []byte) ([]byte, error) {
	aead, err := ks.recordAEAD()
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(record) < 1+n+aead.Overhead() || record[0] != recordVersion {
		return nil, fmt.Errorf("%w: not a version %d record of at least %d bytes", ErrBadRecord, recordVersion, 1+n+aead.Overhead())
	}
	pt, err := aead.Open(nil, record[1:1+n], record[1+n:], []byte(recordLabel))
	if err != nil {
		return nil, ErrBadRecord
	}
	return pt, nil
}
