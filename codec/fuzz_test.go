package codec_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// FuzzEnvelopeDifferential holds DecodeEnvelope and Encode, written by hand,
// to the CBOR library-based code they replaced (envelope_reference_test.go):
// the same inputs accepted, the same envelope and the input back from Encode,
// and for a refused input the same reason. The reasons agree on every input
// found so far, multi-fault ones included (envelopeMutants), so any
// difference fails.
func FuzzEnvelopeDifferential(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		e, err := codec.DecodeEnvelope(in)
		want, wantErr := codec.DecodeEnvelopeReference(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%x: DecodeEnvelope: %v; reference: %v", data, err, wantErr)
		}
		if err != nil {
			if e != nil {
				t.Fatalf("%x: an envelope with the error %v", data, err)
			}
			if got, wantReason := codec.Reason(err), codec.Reason(wantErr); got != wantReason {
				t.Fatalf("%x: reason %s (%v), reference %s (%v)", data, got, err, wantReason, wantErr)
			}
			return
		}
		clear(in) // the envelope must not alias its input
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("%x: decoded %+v, reference %+v", data, e, want)
		}
		if again := e.Encode(); !bytes.Equal(again, data) {
			t.Fatalf("decoded %x, encodes to %x", data, again)
		}
		if again := codec.EncodeEnvelopeReference(e); !bytes.Equal(again, data) {
			t.Fatalf("decoded %x, reference encodes to %x", data, again)
		}
	})
}

// envelopeMutants are envelopes with faults the catalogue has no entry for,
// most of them two at once: which fault is reported follows the order of
// docs/protocol.md ("Decoding untrusted bytes"), and quirks of the library
// the reference decoder is built on. Want is what the reference decoder
// gives; they are seeds of FuzzEnvelopeDifferential.
var envelopeMutants = []struct {
	name, hex string
	want      error
	note      string
}{
	{"text-kind-truncated-body", "8701616148000102030405060718" + "1e01004361" + "62", codec.ErrMalformed, "well-formedness before type"},
	{"text-body-trailing", "870101480001020304050607181e010063616263" + "00", codec.ErrTrailing, "trailing bytes before type"},
	{"long-version-text-body", "87180101480001020304050607181e010063616263", codec.ErrShape, "type before the shortest form"},
	{"version-2-long-ttl", "87020148000102030405060719001e010043616263", codec.ErrNotCanonical, "the shortest form before values"},
	{"version-2-to-7-bytes", "8702014700010203040506181e010043616263", codec.ErrVersion, "the version before the tag's length"},
	{"to-7-bytes-ttl-2^32", "87010147000102030405061b0000000100000000010043616263", codec.ErrShape, "the tag's length before the ttl"},
	{"null-ttl", "870101480001020304050607f6010043616263", codec.ErrNotCanonical,
		"the library read null as ttl 0, refused on re-encoding: not wrong_shape as null-body is"},
	{"undefined-hops", "870101480001020304050607181e01f743616263", codec.ErrNotCanonical, "as null-ttl"},
	{"simple-1-kind", "8701e1480001020304050607181e010043616263", codec.ErrNotCanonical, "the library read simple(1) as kind 1"},
	{"simple-32-prio", "870101480001020304050607181ef8200043616263", codec.ErrNotCanonical, "as simple-1-kind"},
	{"simple-31-two-bytes", "870101480001020304050607181ef81f0043616263", codec.ErrMalformed, "simple values below 32 take one byte"},
	{"half-float-nan-kind", "8701f97e00480001020304050607181e010043616263", codec.ErrShape, ""},
	{"bad-utf8-kind", "870161ff480001020304050607181e010043616263", codec.ErrMalformed, "the library checked text for UTF-8 before its type"},
	{"bool-kind-bad-utf8-ttl", "8701f548000102030405060761ff010043616263", codec.ErrShape, "the first item's fault"},
	{"bad-utf8-to", "87010168ffffffffffffffff181e010043616263", codec.ErrShape, "no UTF-8 check where a byte string belongs"},
	{"bytes-kind-long-length", "8701580100480001020304050607181e010043616263", codec.ErrShape, ""},
	{"map-kind-duplicate-keys", "8701a200000000480001020304050607181e010043616263", codec.ErrShape, "no duplicate-key check: wrong type first"},
	{"tag-after-bool-kind", "8701f5480001020304050607c11e010043616263", codec.ErrTagged, "well-formedness before type"},
	{"indefinite-at-depth-5", "870101480001020304050607181e010081818181" + "9fff", codec.ErrShape, "the depth limit before the indefinite length"},
	{"break-as-body", "870101480001020304050607181e0100ff", codec.ErrMalformed, ""},
	{"array-head-long-kind-6", "98070106480001020304050607181e010043616263", codec.ErrNotCanonical, "the shortest form before values"},
	{"array-head-long-6-items", "98060101480001020304050607181e0100", codec.ErrShape, "the item count before the shortest form"},
	{"null-body-to-empty", "87010140181e0100f6", codec.ErrShape, ""},
	{"bare-text", "6161", codec.ErrShape, ""},
	{"bare-text-bad-utf8", "61ff", codec.ErrMalformed, "UTF-8 is checked before the type"},
	{"bare-null", "f6", codec.ErrShape, ""},
	{"bare-simple", "e1", codec.ErrShape, ""},
	{"bare-uint-trailing", "0100", codec.ErrTrailing, ""},
	{"map-17-pairs", "b1", codec.ErrMalformed, "the library's map limit counts as malformed"},
	{"array-4097-items", "991001", codec.ErrShape, "refused before reading the items"},
	{"array-2^63-items", "9b8000000000000000", codec.ErrMalformed, "a length that overflows an int"},
	{"bytes-2^63", "5b8000000000000000", codec.ErrMalformed, ""},
	{"indefinite-int", "1f", codec.ErrMalformed, "integers have no indefinite length"},
	{"tag-indefinite", "df", codec.ErrMalformed, "nor do tags"},
	{"tag-alone", "c1", codec.ErrTagged, "the tag is refused before its content is looked for"},
}

func TestEnvelopeMutants(t *testing.T) {
	for _, m := range envelopeMutants {
		t.Run(m.name, func(t *testing.T) {
			data := unhex(t, m.hex)
			if _, err := codec.DecodeEnvelopeReference(data); !errors.Is(err, m.want) {
				t.Errorf("reference: %v, want %v", err, m.want)
			}
			e, err := codec.DecodeEnvelope(data)
			if e != nil {
				t.Error("an envelope with the error")
			}
			matches(t, err, m.want)
		})
	}
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
// has no committed seeds; TestFuzzTargetsListed checks the list against the
// test files. FuzzBundleOwner's seeds are ratchet's bundle vectors
// (ratchet/testdata/fuzz/FuzzParseBundle), copied: nothing here makes
// bundles from fixed keys.
var fuzzTargets = []string{"FuzzDecodeEnvelope", "FuzzEnvelopeDifferential", "FuzzDecodeReceipt", "FuzzDecodeBundleRequest", "FuzzParseDIDKey", "FuzzParseTag", "FuzzVerifyAuthToken", "FuzzReadStream", "FuzzBundleOwner"}

// TestFuzzTargetsListed fails when a fuzz target in this package's test
// files is missing from fuzzTargets, so that none goes without seeds.
func TestFuzzTargetsListed(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(src)) {
			fn, ok := strings.CutPrefix(line, "func Fuzz")
			if !ok {
				continue
			}
			target := "Fuzz" + fn[:strings.IndexByte(fn, '(')]
			if !slices.Contains(fuzzTargets, target) {
				t.Errorf("%s: %s is not in fuzzTargets", name, target)
			}
		}
	}
}

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
			add("FuzzEnvelopeDifferential", "good-"+v.Name, b)
		}
	}
	for _, m := range envelopeMutants {
		add("FuzzEnvelopeDifferential", "mutant-"+m.name, unhex(t, m.hex))
	}
	for _, c := range codectest.BadEnvelopes {
		if b := c.Bytes(); len(b) <= maxSeedBytes {
			add("FuzzDecodeEnvelope", "bad-"+c.Name, b)
			add("FuzzEnvelopeDifferential", "bad-"+c.Name, b)
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
