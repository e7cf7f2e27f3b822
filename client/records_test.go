package client

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// A record sealed under the passphrase opens in the same keystore after a
// reopen, shows none of its plaintext, and follows the documented format
// (an independent HKDF and XChaCha20-Poly1305 open it).
func TestRecordSealOpen(t *testing.T) {
	ks, home := newKeystore(t, "correct horse")
	text := []byte(`{"peer":"did:key:z6Mk…","text":"meet at the north gate"}`)
	rec, err := ks.SealRecord(text)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ks.SealRecord(text)
	if bytes.Equal(rec, again) {
		t.Error("two seals of one plaintext are equal: the nonce is not fresh")
	}
	if bytes.Contains(rec, []byte("north gate")) || len(rec) != 1+24+len(text)+16 || rec[0] != 1 {
		t.Fatalf("record of %d bytes: %x", len(rec), rec)
	}

	rk, err := hkdf.Key(sha256.New, ks.key, nil, "cairn/record/v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := chacha20poly1305.NewX(rk)
	if pt, err := aead.Open(nil, rec[1:25], rec[25:], []byte("cairn/record/v1")); err != nil || !bytes.Equal(pt, text) {
		t.Errorf("the documented construction does not open it: %v", err)
	}
	store, _ := chacha20poly1305.NewX(ks.key)
	if _, err := store.Open(nil, rec[1:25], rec[25:], []byte("cairn/record/v1")); err == nil {
		t.Error("the keystore's own key opens a record: the keys are not separate")
	}

	ks.Close()
	ks2, err := OpenKeystore(home, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	defer ks2.Close()
	if pt, err := ks2.OpenRecord(rec); err != nil || !bytes.Equal(pt, text) {
		t.Fatalf("after reopening: %q, %v", pt, err)
	}
}

// Damaged records, another identity's records and keystores without a
// passphrase are refused with the documented errors.
func TestRecordRefused(t *testing.T) {
	ks, _ := newKeystore(t, "correct horse")
	other, _ := newKeystore(t, "correct horse") // same passphrase, another salt
	rec, err := ks.SealRecord([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.OpenRecord(rec); !errors.Is(err, ErrBadRecord) {
		t.Errorf("another identity's record: %v, want ErrBadRecord", err)
	}
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x04
		if _, err := ks.OpenRecord(bad); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("byte %d flipped: %v, want ErrBadRecord", i, err)
		}
	}
	for _, bad := range [][]byte{nil, rec[:1], rec[:len(rec)-1], append(bytes.Clone(rec), 0)} {
		if _, err := ks.OpenRecord(bad); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%d bytes: %v, want ErrBadRecord", len(bad), err)
		}
	}
	plain, _ := newKeystore(t, "")
	if _, err := plain.SealRecord([]byte("hello")); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("sealing without a passphrase: %v, want ErrNotEncrypted", err)
	}
	if _, err := plain.OpenRecord(rec); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("opening without a passphrase: %v, want ErrNotEncrypted", err)
	}
}
