package ratchet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKDFCKLibsignal checks KDF_CK against libsignal's chain key test
// (rust/protocol/src/ratchet/keys.rs): chain key 8ab72d6f… gives next chain
// key 28e8f8fe…, HMAC-SHA256 over 0x02.
func TestKDFCKLibsignal(t *testing.T) {
	ck := [keySize]byte(unhex(t, "8ab72d6f4cc5ac0d387eaf463378ddb28edd07385b1cb01250c715982e7ad48f"))
	mk, next := kdfCK(&ck)
	if want := unhex(t, "28e8f8fee54b801eef7c5cfb2f17f32c7b334485bbb70fac6ec10342a246d15d"); !bytes.Equal(next[:], want) {
		t.Errorf("next chain key = %x, want %x", next, want)
	}
	if mk == next || mk == ck {
		t.Error("message key equals a chain key")
	}
}

// TestHeaderMaskRFC9001 checks the ChaCha20 header protection against the
// example of RFC 9001 appendix A.5.
func TestHeaderMaskRFC9001(t *testing.T) {
	hp := [keySize]byte(unhex(t, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4"))
	sample := unhex(t, "5e5cd55c41f69080575d7999c25a5bfb")
	if got, want := headerMask(&hp, sample, 5), unhex(t, "aefefe7d03"); !bytes.Equal(got, want) {
		t.Errorf("mask = %x, want %x", got, want)
	}
	// The largest block counter must not overflow for a whole keyed header.
	max := bytes.Repeat([]byte{0xff}, sampleSize)
	if got := headerMask(&hp, max, keyedHeaderSize); len(got) != keyedHeaderSize {
		t.Errorf("mask of %d bytes", len(got))
	}
}

// TestDIDKeyW3CVectors checks identities against the W3C did:key method's
// Ed25519 vectors, including the X25519 keyAgreement key it derives, both
// from the seed (private side) and from the public key (birational map).
func TestDIDKeyW3CVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/didkey-w3c.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Seed         string `json:"seed"`
			DID          string `json:"did"`
			AgreementDID string `json:"agreement_did"`
		}
	}
	if err := json.Unmarshal(b, &file); err != nil || len(file.Vectors) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range file.Vectors {
		id, err := ParseIdentity(unhex(t, v.Seed))
		if err != nil {
			t.Fatal(err)
		}
		pub := id.Public()
		if got := pub.DID(); got != v.DID {
			t.Errorf("DID = %s, want %s", got, v.DID)
		}
		if got := pub.AgreementDID(); got != v.AgreementDID {
			t.Errorf("%s: AgreementDID = %s, want %s", v.DID, got, v.AgreementDID)
		}
		parsed, err := ParsePublicIdentity(v.DID)
		if err != nil || parsed != pub {
			t.Errorf("ParsePublicIdentity(%s) = %v, %v; want the seed's identity", v.DID, parsed.AgreementDID(), err)
		}
		if !bytes.Equal(id.Bytes(), unhex(t, v.Seed)) {
			t.Error("Bytes is not the seed")
		}
	}
}

func TestPublicIdentityRefuses(t *testing.T) {
	for name, key := range map[string][]byte{
		"short":         make([]byte, 31),
		"y=1":           append([]byte{1}, make([]byte, 31)...),
		"non-canonical": bytes.Repeat([]byte{0xff}, 32), // y = 2^255-1 ≥ p
	} {
		if _, err := NewPublicIdentity(key); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParsePublicIdentity("did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"); err == nil {
		t.Error("an X25519 did:key parsed as an identity")
	}
}
