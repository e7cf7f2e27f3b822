package codec_test

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
)

// checkEntry holds the properties every catalogue entry shares: a unique
// name, and a Want that is one of the codec sentinels.
func checkEntry(t *testing.T, seen map[string]bool, name string, want error) {
	t.Helper()
	if name == "" || seen[name] {
		t.Errorf("entry name %q empty or repeated", name)
	}
	seen[name] = true
	if want == nil || codec.Reason(want) == "other" {
		t.Errorf("%s: Want %v is not a codec sentinel", name, want)
	}
}

// matches reports whether err is want, and whether Reason gives the name of
// want: a relay test expects the reason code of Want.
func matches(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	if got, wantName := codec.Reason(err), codec.Reason(want); got != wantName {
		t.Errorf("Reason = %s, want %s (error %v)", got, wantName, err)
	}
}

func TestBadEnvelopes(t *testing.T) {
	seen := map[string]bool{}
	covered := map[error]bool{}
	for _, c := range codectest.BadEnvelopes {
		checkEntry(t, seen, c.Name, c.Want)
		covered[c.Want] = true
		t.Run(c.Name, func(t *testing.T) {
			if c.Hex != strings.ToLower(c.Hex) {
				t.Error("Hex is not lower case")
			}
			if _, err := hex.DecodeString(c.Hex); err != nil {
				t.Fatalf("Hex: %v", err)
			}
			if c.Note == "" && c.Name != "empty" {
				t.Error("no Note")
			}
			e, err := codectest.Check(c.Bytes())
			if e != nil {
				t.Errorf("Check returned an envelope (kind %v, %d-byte body) with an error", e.Kind, len(e.Body))
			}
			matches(t, err, c.Want)
		})
	}
	// The catalogue must exercise every way DecodeEnvelope and OpenReceipt
	// can fail, so that the relay tests built on it see every reason code.
	for _, want := range []error{
		codec.ErrTooLarge, codec.ErrMalformed, codec.ErrIndefinite, codec.ErrTagged, codec.ErrTrailing,
		codec.ErrShape, codec.ErrNotCanonical, codec.ErrVersion, codec.ErrKind, codec.ErrPrio, codec.ErrRange,
		codec.ErrBadSignature, codec.ErrWrongOwner, codec.ErrEmptyReceipt,
	} {
		if !covered[want] {
			t.Errorf("no BadEnvelopes entry for %v", want)
		}
	}
}

func TestGoodEnvelopes(t *testing.T) {
	vectors := loadVectors(t).Envelopes
	for _, g := range codectest.GoodEnvelopes {
		t.Run(g.Name, func(t *testing.T) {
			e, err := codectest.Check(g.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if e.ID().String() != g.ID {
				t.Errorf("ID = %s, want %s", e.ID(), g.ID)
			}
			i := slices.IndexFunc(vectors, func(v envelopeVector) bool { return v.Name == g.Name })
			if i < 0 {
				t.Fatalf("not in testdata/envelopes.json")
			}
			if vectors[i].Hex != g.Hex || vectors[i].ID != g.ID {
				t.Errorf("differs from testdata/envelopes.json: %s %s", vectors[i].Hex, vectors[i].ID)
			}
		})
	}
}

func TestBadDIDKeys(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range codectest.BadDIDKeys {
		checkEntry(t, seen, c.Name, c.Want)
		t.Run(c.Name, func(t *testing.T) {
			key, err := codec.ParseDIDKey(c.Input)
			if key != nil {
				t.Errorf("returned a key with an error: %x", key)
			}
			matches(t, err, c.Want)
		})
	}
}

func TestBadTagStrings(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range codectest.BadTagStrings {
		checkEntry(t, seen, c.Name, c.Want)
		t.Run(c.Name, func(t *testing.T) {
			tag, err := codec.ParseTag(c.Input)
			if tag != (codec.Tag{}) {
				t.Errorf("returned a tag with an error: %s", tag)
			}
			matches(t, err, c.Want)
		})
	}
}

func TestBadAuthTokens(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range codectest.BadAuthTokens {
		checkEntry(t, seen, c.Name, c.Want)
		t.Run(c.Name, func(t *testing.T) {
			tok, err := codec.VerifyAuthToken(c.Username, c.Password)
			if tok != nil {
				t.Errorf("returned a token with an error: %+v", tok)
			}
			matches(t, err, c.Want)
			if !errors.Is(err, codec.ErrBadToken) {
				t.Errorf("%v does not wrap ErrBadToken", err)
			}
		})
	}
}

func TestBadBundleRequests(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range codectest.BadBundleRequests {
		checkEntry(t, seen, c.Name, c.Want)
		t.Run(c.Name, func(t *testing.T) {
			r, err := codec.DecodeBundleRequest(c.Bytes())
			if r != nil {
				t.Errorf("returned a request with an error: %+v", r)
			}
			matches(t, err, c.Want)
		})
	}
}

func TestGoodBundleRequest(t *testing.T) {
	b, _ := hex.DecodeString(codectest.GoodBundleRequest)
	r, err := codec.DecodeBundleRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (codec.Tag{0, 1, 2, 3, 4, 5, 6, 7}); r.Reply != want {
		t.Errorf("reply %s, want %s", r.Reply, want)
	}
	if again := hex.EncodeToString(r.Encode()); again != codectest.GoodBundleRequest {
		t.Errorf("encodes to %s, want %s", again, codectest.GoodBundleRequest)
	}
	// The 11 bytes docs/crypto.md shows, built by hand.
	if n := len((&codec.BundleRequest{}).Encode()); n != 11 {
		t.Errorf("encoding is %d bytes, want 11", n)
	}
}
