package codec

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestDIDKeyW3CVectors checks FormatDIDKey and ParseDIDKey against the
// Ed25519 vectors published with the W3C did:key method.
func TestDIDKeyW3CVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/didkey-w3c.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Source  string
		Vectors []struct {
			Seed            string `json:"seed"`
			DID             string `json:"did"`
			PublicKeyBase58 string `json:"public_key_base58"`
		}
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		t.Run(v.DID, func(t *testing.T) {
			seed, err := hex.DecodeString(v.Seed)
			if err != nil {
				t.Fatal(err)
			}
			pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
			if got := base58Encode(pub); got != v.PublicKeyBase58 {
				t.Errorf("base58 of the key = %s, want %s", got, v.PublicKeyBase58)
			}
			if got := FormatDIDKey(pub); got != v.DID {
				t.Errorf("FormatDIDKey = %s, want %s", got, v.DID)
			}
			got, err := ParseDIDKey(v.DID)
			if err != nil || !got.Equal(pub) {
				t.Errorf("ParseDIDKey = %x, %v; want %x", got, err, pub)
			}
		})
	}
}

func TestBase58(t *testing.T) {
	tests := []struct {
		hex, b58 string
	}{
		{"", ""},
		{"00", "1"},
		{"0000", "11"},
		{"01", "2"},
		{"39", "z"},
		{"3a", "21"},
		{"ff", "5Q"},
		{"0001", "12"},
		{"61", "2g"},       // "a"
		{"626262", "a3gV"}, // "bbb"
		{"636363", "aPEr"}, // "ccc"
		{"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"}, // "simply a long string"
		{"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		if got := base58Encode(b); got != tt.b58 {
			t.Errorf("base58Encode(%s) = %q, want %q", tt.hex, got, tt.b58)
		}
		got, err := base58Decode(tt.b58)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("base58Decode(%q) = %x, %v; want %s", tt.b58, got, err, tt.hex)
		}
	}
	for _, bad := range []string{"0", "O", "I", "l", "+", " ", "2g\x00", "\xff"} {
		if _, err := base58Decode(bad); err == nil {
			t.Errorf("base58Decode(%q) accepted", bad)
		}
	}
}

// TestX25519DIDKeyW3CVectors checks FormatX25519DIDKey and ParseX25519DIDKey
// against the X25519 vectors published with the W3C did:key method.
func TestX25519DIDKeyW3CVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/didkey-w3c-x25519.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Source  string
		Vectors []struct {
			DID             string `json:"did"`
			PublicKeyBase58 string `json:"public_key_base58"`
		}
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range file.Vectors {
		t.Run(v.DID, func(t *testing.T) {
			pub, err := base58Decode(v.PublicKeyBase58)
			if err != nil || len(pub) != X25519KeySize {
				t.Fatalf("base58Decode(%s) = %x, %v", v.PublicKeyBase58, pub, err)
			}
			if got := FormatX25519DIDKey(pub); got != v.DID {
				t.Errorf("FormatX25519DIDKey = %s, want %s", got, v.DID)
			}
			got, err := ParseX25519DIDKey(v.DID)
			if err != nil || !bytes.Equal(got, pub) {
				t.Errorf("ParseX25519DIDKey = %x, %v; want %x", got, err, pub)
			}
			if _, err := ParseDIDKey(v.DID); err == nil {
				t.Error("ParseDIDKey accepted an X25519 did:key")
			}
		})
	}
	ed := FormatDIDKey(make(ed25519.PublicKey, ed25519.PublicKeySize))
	if _, err := ParseX25519DIDKey(ed); err == nil {
		t.Error("ParseX25519DIDKey accepted an Ed25519 did:key")
	}
}
