package codec_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
)

// Every decoder is fuzzed for one property: it either fails with one of the
// package's sentinel errors, or what it returns encodes back to exactly the
// input. Together with the decoders' shape checks this is the "one wire form
// per value" guarantee. Seeds live in testdata/fuzz/FuzzX/ and are written by
// TestFuzzSeeds -update from the vectors and the codectest catalogue.

func requireSentinel(t *testing.T, err error) {
	t.Helper()
	if codec.Reason(err) == "other" {
		t.Fatalf("error without a codec sentinel: %v", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := codec.DecodeEnvelope(data)
		if err != nil {
			requireSentinel(t, err)
			return
		}
		if again := e.Encode(); !bytes.Equal(again, data) {
			t.Fatalf("decoded %x, encodes to %x", data, again)
		}
		if e.ID() != e.ID() {
			t.Fatal("ID is not stable")
		}
		if e.Kind == codec.KindReceipt {
			if _, err := codec.OpenReceipt(e); err != nil {
				requireSentinel(t, err)
			}
		}
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := codec.DecodeReceipt(body)
		if err != nil {
			requireSentinel(t, err)
			return
		}
		if again := r.Encode(); !bytes.Equal(again, body) {
			t.Fatalf("decoded %x, encodes to %x", body, again)
		}
		if err := r.Verify(codec.TagOf(r.Owner)); err != nil && !errors.Is(err, codec.ErrBadSignature) {
			t.Fatalf("Verify of a decoded receipt: %v", err)
		}
	})
}

func FuzzDecodeBundleRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := codec.DecodeBundleRequest(body)
		if err != nil {
			requireSentinel(t, err)
			return
		}
		if again := r.Encode(); !bytes.Equal(again, body) {
			t.Fatalf("decoded %x, encodes to %x", body, again)
		}
	})
}

func FuzzParseDIDKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		key, err := codec.ParseDIDKey(s)
		if err != nil {
			if !errors.Is(err, codec.ErrBadDID) {
				t.Fatalf("error without ErrBadDID: %v", err)
			}
			return
		}
		if again := codec.FormatDIDKey(key); again != s {
			t.Fatalf("parsed %q, formats as %q", s, again)
		}
	})
}

func FuzzParseTag(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := codec.ParseTag(s)
		if err != nil {
			if !errors.Is(err, codec.ErrBadTagString) {
				t.Fatalf("error without ErrBadTagString: %v", err)
			}
			return
		}
		if tag.String() != s {
			t.Fatalf("parsed %q, formats as %q", s, tag.String())
		}
	})
}

func FuzzVerifyAuthToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, username, password string) {
		tok, err := codec.VerifyAuthToken(username, password)
		if err != nil {
			if !errors.Is(err, codec.ErrBadToken) {
				t.Fatalf("error without ErrBadToken: %v", err)
			}
			return
		}
		// Without the private key the token cannot be re-signed; what can
		// be re-encoded must match: the username from the key, and the
		// password from its own bytes with the verified stamp.
		if again := codec.FormatDIDKey(tok.Key); again != username {
			t.Fatalf("username %q, key formats as %q", username, again)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(password, "v1."))
		if err != nil || "v1."+base64.RawURLEncoding.EncodeToString(raw) != password {
			t.Fatalf("accepted password %q does not re-encode", password)
		}
		stamp := fmt.Sprintf("%016x", tok.UnixMill)
		if hex.EncodeToString(raw[:8]) != stamp {
			t.Fatalf("stamp %s, token says %d", hex.EncodeToString(raw[:8]), tok.UnixMill)
		}
	})
}

// fuzzTargets lists every fuzz target, so that TestFuzzSeeds fails when one
// has no committed seeds.
var fuzzTargets = []string{"FuzzDecodeEnvelope", "FuzzDecodeReceipt", "FuzzDecodeBundleRequest", "FuzzParseDIDKey", "FuzzParseTag", "FuzzVerifyAuthToken", "FuzzReadStream"}

// maxSeedBytes keeps the oversize catalogue entries (64 KiB and more) out of
// the committed corpus; the catalogue test covers them.
const maxSeedBytes = 4 << 10

// fuzzSeeds returns the named seed inputs of each target: every good vector
// and every catalogue entry that fits.
func fuzzSeeds(t *testing.T) map[string]map[string][]any {
	vs := loadVectors(t)
	seeds := map[string]map[string][]any{}
	add := func(target, name string, args ...any) {
		if seeds[target] == nil {
			seeds[target] = map[string][]any{}
		}
		seeds[target][name] = args
	}
	for _, v := range vs.Envelopes {
		if b := unhex(t, v.Hex); len(b) <= maxSeedBytes {
			add("FuzzDecodeEnvelope", "good-"+v.Name, b)
		}
	}
	for _, c := range codectest.BadEnvelopes {
		if b := c.Bytes(); len(b) <= maxSeedBytes {
			add("FuzzDecodeEnvelope", "bad-"+c.Name, b)
			// The receipt entries' bodies are receipt seeds too.
			if e, err := codec.DecodeEnvelope(b); err == nil && e.Kind == codec.KindReceipt {
				add("FuzzDecodeReceipt", "bad-"+c.Name, e.Body)
			}
		}
	}
	for _, v := range vs.Receipts {
		add("FuzzDecodeReceipt", "good-"+v.Name, unhex(t, v.Body))
	}
	add("FuzzDecodeBundleRequest", "good-bundle-request", unhex(t, codectest.GoodBundleRequest))
	for _, c := range codectest.BadBundleRequests {
		if b := c.Bytes(); len(b) <= maxSeedBytes {
			add("FuzzDecodeBundleRequest", "bad-"+c.Name, b)
		}
	}
	for _, v := range vs.Identities {
		add("FuzzParseDIDKey", "good-"+v.Name, v.DIDKey)
		add("FuzzParseTag", "good-"+v.Name, v.Tag)
	}
	for _, c := range codectest.BadDIDKeys {
		add("FuzzParseDIDKey", "bad-"+c.Name, c.Input)
	}
	for _, c := range codectest.BadTagStrings {
		add("FuzzParseTag", "bad-"+c.Name, c.Input)
	}
	for _, v := range vs.Auth {
		add("FuzzVerifyAuthToken", "good-"+v.Name, v.Username, v.Password)
	}
	for _, c := range codectest.BadAuthTokens {
		add("FuzzVerifyAuthToken", "bad-"+c.Name, c.Username, c.Password)
	}
	add("FuzzReadStream", "good-empty", []byte{})
	add("FuzzReadStream", "good-stream", unhex(t, codectest.GoodStream))
	for _, c := range codectest.BadStreams {
		add("FuzzReadStream", "bad-"+c.Name, c.Bytes())
	}
	return seeds
}

// marshalSeed writes the "go test fuzz v1" corpus file format.
func marshalSeed(args []any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", a)
		default:
			panic(fmt.Sprintf("seed of type %T", a))
		}
	}
	return []byte(b.String())
}

// TestFuzzSeeds fails when a fuzz target has no committed seeds, or when the
// named seeds differ from what the vectors and catalogue give (rerun with
// -update). Other files in the directories, such as crashers the fuzzer
// found, are kept and only checked for the format header.
func TestFuzzSeeds(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, target := range fuzzTargets {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, args := range seeds[target] {
				if err := os.WriteFile(filepath.Join(dir, name), marshalSeed(args), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("%s: no seed corpus (%v); run go test ./codec -run TestFuzzSeeds -update", dir, err)
			continue
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || !bytes.HasPrefix(b, []byte("go test fuzz v1\n")) {
				t.Errorf("%s/%s: not a go test fuzz v1 file (%v)", dir, e.Name(), err)
			}
		}
		for name, args := range seeds[target] {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(b, marshalSeed(args)) {
				t.Errorf("%s/%s: missing or stale (%v); rerun with -update", dir, name, err)
			}
		}
	}
}
