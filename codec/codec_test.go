package codec_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	bob := codec.TagOf(pubOf(seedBob))
	tests := []struct {
		name string
		e    codec.Envelope
		size int // encoded bytes
	}{
		{"message-20", codec.Envelope{Kind: codec.KindMessage, To: bob, TTL: 86400, Prio: codec.PrioNormal, Body: counting(20)}, 40},
		{"empty-body", codec.Envelope{Kind: codec.KindBundleRequest, To: bob, Body: []byte{}}, 16},
		{"nil-body", codec.Envelope{Kind: codec.KindBundleRequest, To: bob}, 16},
		{"ttl-23", codec.Envelope{Kind: codec.KindMessage, TTL: 23}, 16},
		{"ttl-24", codec.Envelope{Kind: codec.KindMessage, TTL: 24}, 17},
		{"ttl-255", codec.Envelope{Kind: codec.KindMessage, TTL: 255}, 17},
		{"ttl-256", codec.Envelope{Kind: codec.KindMessage, TTL: 256}, 18},
		{"ttl-65536", codec.Envelope{Kind: codec.KindMessage, TTL: 65536}, 20},
		{"ttl-max", codec.Envelope{Kind: codec.KindMessage, TTL: codec.MaxTTLSeconds}, 20},
		{"hops-max", codec.Envelope{Kind: codec.KindTransfer, Hops: codec.MaxHops, Prio: codec.PrioUrgent}, 17},
		{"body-23", codec.Envelope{Kind: codec.KindMessage, Body: counting(23)}, 16 + 23},
		{"body-24", codec.Envelope{Kind: codec.KindMessage, Body: counting(24)}, 17 + 24},
		{"body-1k", codec.Envelope{Kind: codec.KindMessage, Body: counting(1024)}, 18 + 1024},
		{"largest", codec.Envelope{Kind: codec.KindMessage, Body: make([]byte, codec.MaxEnvelopeBytes-18)}, codec.MaxEnvelopeBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := tt.e.Encode()
			if len(wire) != tt.size {
				t.Errorf("encoded %d bytes, want %d", len(wire), tt.size)
			}
			if hand := handEncode(&tt.e); !bytes.Equal(wire, hand) {
				t.Fatalf("Encode = %x, independent encoding %x", wire, hand)
			}
			got, err := codec.DecodeEnvelope(wire)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.e.Kind || got.To != tt.e.To || got.TTL != tt.e.TTL || got.Prio != tt.e.Prio ||
				got.Hops != tt.e.Hops || !bytes.Equal(got.Body, tt.e.Body) {
				t.Errorf("round trip gave %+v", got)
			}
			if got.Body == nil {
				t.Error("decoded body is nil; want an empty slice")
			}
			if got.ID() != tt.e.ID() {
				t.Error("ID changed in the round trip")
			}
		})
	}
}

func TestDecodeEnvelopeDoesNotRetainInput(t *testing.T) {
	wire := (&codec.Envelope{Kind: codec.KindMessage, To: codec.Tag{1, 2, 3}, Body: counting(20)}).Encode()
	e, err := codec.DecodeEnvelope(wire)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wire {
		wire[i] = 0xee
	}
	if !bytes.Equal(e.Body, counting(20)) || e.To != (codec.Tag{1, 2, 3}) {
		t.Fatalf("decoded envelope aliases its input: %+v", e)
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	// The full catalogue is in codectest (TestBadEnvelopes); these pin the
	// edges of each limit from both sides.
	at := func(e codec.Envelope) []byte { return e.Encode() }
	tests := []struct {
		name string
		wire []byte
		want error // nil: accepted
	}{
		{"size-at-limit", at(codec.Envelope{Kind: codec.KindMessage, Body: make([]byte, codec.MaxEnvelopeBytes-18)}), nil},
		{"size-over-limit", at(codec.Envelope{Kind: codec.KindMessage, Body: make([]byte, codec.MaxEnvelopeBytes-17)}), codec.ErrTooLarge},
		{"size-far-over-limit", make([]byte, 10*codec.MaxEnvelopeBytes), codec.ErrTooLarge},
		{"kind-5", cborArray(cborUint(1), cborUint(5), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(0), cborBytes(nil)), nil},
		{"kind-6", cborArray(cborUint(1), cborUint(6), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(0), cborBytes(nil)), codec.ErrKind},
		{"prio-2", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(2), cborUint(0), cborBytes(nil)), nil},
		{"prio-3", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(3), cborUint(0), cborBytes(nil)), codec.ErrPrio},
		{"hops-255", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(255), cborBytes(nil)), nil},
		{"hops-256", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(256), cborBytes(nil)), codec.ErrRange},
		{"ttl-2^32-1", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(1<<32-1), cborUint(0), cborUint(0), cborBytes(nil)), nil},
		{"ttl-2^32", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(1<<32), cborUint(0), cborUint(0), cborBytes(nil)), codec.ErrRange},
		{"to-8", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(0), cborBytes(nil)), nil},
		{"to-16", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 16)), cborUint(0), cborUint(0), cborUint(0), cborBytes(nil)), codec.ErrShape},
		{"version-1", cborArray(cborUint(1), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(0), cborBytes(nil)), nil},
		{"version-0", cborArray(cborUint(0), cborUint(1), cborBytes(make([]byte, 8)), cborUint(0), cborUint(0), cborUint(0), cborBytes(nil)), codec.ErrVersion},
		{"nil-input", nil, codec.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := codec.DecodeEnvelope(tt.wire)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || e != nil {
				t.Fatalf("got %v, %v; want %v", e, err, tt.want)
			}
		})
	}
}

func TestEnvelopeID(t *testing.T) {
	base := codec.Envelope{Kind: codec.KindMessage, To: codec.Tag{1}, TTL: 100, Prio: codec.PrioNormal, Hops: 1, Body: []byte("x")}
	id := base.ID()
	tests := []struct {
		name string
		edit func(*codec.Envelope)
		same bool
	}{
		{"ttl", func(e *codec.Envelope) { e.TTL = 5 }, true},
		{"hops", func(e *codec.Envelope) { e.Hops = 9 }, true},
		{"kind", func(e *codec.Envelope) { e.Kind = codec.KindTransfer }, false},
		{"to", func(e *codec.Envelope) { e.To[7] = 1 }, false},
		{"prio", func(e *codec.Envelope) { e.Prio = codec.PrioUrgent }, false},
		{"body", func(e *codec.Envelope) { e.Body = []byte("y") }, false},
		{"body-longer", func(e *codec.Envelope) { e.Body = []byte("x\x00") }, false},
		{"body-empty", func(e *codec.Envelope) { e.Body = []byte{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			e.Body = bytes.Clone(base.Body)
			tt.edit(&e)
			if got := e.ID(); (got == id) != tt.same {
				t.Errorf("ID %s, base %s: same=%v, want same=%v", got, id, got == id, tt.same)
			}
		})
	}
	var nilBody, emptyBody codec.Envelope
	emptyBody.Body = []byte{}
	if nilBody.ID() != emptyBody.ID() {
		t.Error("nil and empty body give different ids; they have one wire form")
	}
	if s := id.String(); len(s) != 2*codec.IDSize || s != strings.ToLower(s) {
		t.Errorf("ID.String() = %q", s)
	}
}

func TestTagOf(t *testing.T) {
	// Known answers are in testdata/identities.json (TestVectorsIdentities).
	tags := map[codec.Tag]bool{}
	for _, seed := range [][]byte{seedZero, seedAlice, seedBob} {
		tag := codec.TagOf(pubOf(seed))
		if tags[tag] {
			t.Errorf("two keys share tag %s", tag)
		}
		tags[tag] = true
		if tag != codec.TagOf(pubOf(seed)) {
			t.Error("TagOf is not deterministic")
		}
	}
}

func TestParseTag(t *testing.T) {
	tests := []struct {
		in   string
		want codec.Tag
		err  error
	}{
		{"0000000000000000", codec.Tag{}, nil},
		{"0123456789abcdef", codec.Tag{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, nil},
		{"ffffffffffffffff", codec.Tag{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, nil},
		{"FFFFFFFFFFFFFFFF", codec.Tag{}, codec.ErrBadTagString},
		{"fffffffffffffff", codec.Tag{}, codec.ErrBadTagString},
		{"", codec.Tag{}, codec.ErrBadTagString},
		{"+", codec.Tag{}, codec.ErrBadTagString},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := codec.ParseTag(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("ParseTag(%q) = %s, %v; want %s, %v", tt.in, got, err, tt.want, tt.err)
			}
			if err == nil && got.String() != tt.in {
				t.Errorf("String() = %s, want %s", got, tt.in)
			}
		})
	}
}

func TestReceipt(t *testing.T) {
	bobKey, aliceKey := keyOf(seedBob), keyOf(seedAlice)
	bobTag := codec.TagOf(pubOf(seedBob))
	ids := []codec.ID{{1}, {2}, {3}}
	good := codec.SignReceipt(bobKey, ids)
	with := func(edit func(r *codec.Receipt)) *codec.Receipt {
		r := &codec.Receipt{Owner: good.Owner, IDs: slices.Clone(good.IDs), Signature: bytes.Clone(good.Signature)}
		edit(r)
		return r
	}
	tests := []struct {
		name string
		r    *codec.Receipt
		to   codec.Tag
		want error
	}{
		{"good", good, bobTag, nil},
		{"one-id", codec.SignReceipt(bobKey, ids[:1]), bobTag, nil},
		{"max-ids", codec.SignReceipt(bobKey, make([]codec.ID, codec.MaxReceiptIDs)), bobTag, nil},
		{"too-many-ids", codec.SignReceipt(bobKey, make([]codec.ID, codec.MaxReceiptIDs+1)), bobTag, codec.ErrTooLarge},
		{"no-ids", codec.SignReceipt(bobKey, nil), bobTag, codec.ErrEmptyReceipt},
		{"other-tag", good, codec.TagOf(pubOf(seedAlice)), codec.ErrWrongOwner},
		{"signed-by-other-key", with(func(r *codec.Receipt) { r.Signature = codec.SignReceipt(aliceKey, ids).Signature }), bobTag, codec.ErrBadSignature},
		{"signature-bit-flipped", with(func(r *codec.Receipt) { r.Signature[0] ^= 0x80 }), bobTag, codec.ErrBadSignature},
		{"id-changed", with(func(r *codec.Receipt) { r.IDs[2][15] = 1 }), bobTag, codec.ErrBadSignature},
		{"id-dropped", with(func(r *codec.Receipt) { r.IDs = r.IDs[:2] }), bobTag, codec.ErrBadSignature},
		{"ids-reordered", with(func(r *codec.Receipt) { r.IDs[0], r.IDs[1] = r.IDs[1], r.IDs[0] }), bobTag, codec.ErrBadSignature},
		{"short-key", with(func(r *codec.Receipt) { r.Owner = r.Owner[:31] }), codec.TagOf(good.Owner[:31]), codec.ErrShape},
		{"short-signature", with(func(r *codec.Receipt) { r.Signature = r.Signature[:63] }), bobTag, codec.ErrShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Verify(tt.to); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			// Through the wire: the same answer, from DecodeReceipt or Verify.
			e := tt.r.Envelope(3600, codec.PrioUrgent)
			e.To = tt.to
			decoded, err := codec.DecodeEnvelope(e.Encode())
			if err != nil {
				t.Fatal(err)
			}
			opened, err := codec.OpenReceipt(decoded)
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenReceipt = %v, want %v", err, tt.want)
			}
			if err == nil && !slices.Equal(opened.IDs, tt.r.IDs) {
				t.Errorf("OpenReceipt ids %v, want %v", opened.IDs, tt.r.IDs)
			}
		})
	}
}

func TestSignReceiptCopiesIDs(t *testing.T) {
	ids := []codec.ID{{1}}
	r := codec.SignReceipt(keyOf(seedBob), ids)
	ids[0][0] = 9
	if err := r.Verify(codec.TagOf(pubOf(seedBob))); err != nil {
		t.Fatalf("receipt changed with the caller's slice: %v", err)
	}
}

func TestReceiptEnvelope(t *testing.T) {
	r := codec.SignReceipt(keyOf(seedBob), []codec.ID{{1}})
	e := r.Envelope(600, codec.PrioUrgent)
	if e.Kind != codec.KindReceipt || e.To != codec.TagOf(pubOf(seedBob)) || e.TTL != 600 || e.Prio != codec.PrioUrgent || e.Hops != 0 {
		t.Errorf("Envelope() = %+v", e)
	}
	if !bytes.Equal(e.Body, r.Encode()) {
		t.Error("body is not the encoded receipt")
	}
}

func TestOpenReceiptNotAReceipt(t *testing.T) {
	r := codec.SignReceipt(keyOf(seedBob), []codec.ID{{1}})
	for _, k := range []codec.Kind{codec.KindMessage, codec.KindBundle, codec.KindBundleRequest, codec.KindTransfer} {
		e := r.Envelope(600, codec.PrioUrgent)
		e.Kind = k
		if _, err := codec.OpenReceipt(e); !errors.Is(err, codec.ErrNotAReceipt) {
			t.Errorf("kind %v: %v, want ErrNotAReceipt", k, err)
		}
	}
}

func TestDecodeReceiptLimits(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"oversize", make([]byte, codec.MaxEnvelopeBytes+1), codec.ErrTooLarge},
		{"empty", nil, codec.ErrMalformed},
		{"max-ids", codec.SignReceipt(keyOf(seedBob), make([]codec.ID, codec.MaxReceiptIDs)).Encode(), nil},
		{"too-many-ids", codec.SignReceipt(keyOf(seedBob), make([]codec.ID, codec.MaxReceiptIDs+1)).Encode(), codec.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := codec.DecodeReceipt(tt.body)
			if !errors.Is(err, tt.want) || (err == nil) != (r != nil) {
				t.Fatalf("DecodeReceipt = %v, %v; want %v", r != nil, err, tt.want)
			}
		})
	}
}

func TestDIDKey(t *testing.T) {
	// Published vectors are checked in didkey_test.go; here the round trip
	// and the refusals around a valid key.
	for _, seed := range [][]byte{seedZero, seedAlice, seedBob, bytes.Repeat([]byte{0xff}, 32)} {
		pub := pubOf(seed)
		did := codec.FormatDIDKey(pub)
		if !strings.HasPrefix(did, "did:key:z6Mk") || len(did) != 56 {
			t.Errorf("FormatDIDKey = %q: want did:key:z6Mk… of 56 characters", did)
		}
		got, err := codec.ParseDIDKey(did)
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParseDIDKey(%s) = %x, %v", did, got, err)
		}
		for i := len("did:key:z"); i < len(did); i++ {
			// Changing any one base58 digit must give another key or an error,
			// never the same key.
			alt := []byte(did)
			alt[i] = map[bool]byte{true: '2', false: '3'}[alt[i] != '2']
			if k, err := codec.ParseDIDKey(string(alt)); err == nil && k.Equal(pub) {
				t.Errorf("%s parses to the same key as %s", alt, did)
			}
		}
	}
}

func TestAuthToken(t *testing.T) {
	alice := keyOf(seedAlice)
	user := codec.FormatDIDKey(alice.Public().(ed25519.PublicKey))
	for _, ms := range []uint64{0, 1, 1700000000000, 1<<63 + 5, 1<<64 - 1} {
		t.Run(fmt.Sprint(ms), func(t *testing.T) {
			pw := codec.SignAuthToken(alice, ms)
			if len(pw) != 99 || !strings.HasPrefix(pw, "v1.") {
				t.Errorf("token %q: want v1. and 96 characters", pw)
			}
			tok, err := codec.VerifyAuthToken(user, pw)
			if err != nil {
				t.Fatal(err)
			}
			if tok.UnixMill != ms || !tok.Key.Equal(alice.Public()) {
				t.Errorf("VerifyAuthToken = %+v", tok)
			}
		})
	}
	if codec.SignAuthToken(alice, 1) == codec.SignAuthToken(alice, 2) {
		t.Error("tokens for different stamps are equal")
	}
	// A token is bound to its context: a receipt signature over the same
	// 8 bytes must not pass as a login.
	stampAsID := codec.ID{}
	sig := codec.SignReceipt(alice, []codec.ID{stampAsID}).Signature
	forged := "v1." + b64(append(make([]byte, 8), sig...))
	if _, err := codec.VerifyAuthToken(user, forged); !errors.Is(err, codec.ErrBadSignature) {
		t.Errorf("receipt signature accepted as a token: %v", err)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{codec.ErrTooLarge, "too_large"},
		{codec.ErrMalformed, "malformed"},
		{codec.ErrIndefinite, "indefinite_length"},
		{codec.ErrTagged, "cbor_tag"},
		{codec.ErrTrailing, "trailing_bytes"},
		{codec.ErrShape, "wrong_shape"},
		{codec.ErrNotCanonical, "not_canonical"},
		{codec.ErrVersion, "bad_version"},
		{codec.ErrKind, "bad_kind"},
		{codec.ErrPrio, "bad_prio"},
		{codec.ErrRange, "out_of_range"},
		{codec.ErrBadSignature, "bad_signature"},
		{codec.ErrWrongOwner, "wrong_owner"},
		{codec.ErrBadDID, "bad_did"},
		{codec.ErrBadToken, "bad_token"},
		{codec.ErrEmptyReceipt, "empty_receipt"},
		{codec.ErrNotAReceipt, "not_a_receipt"},
		{codec.ErrBadTagString, "bad_tag_string"},
		{fmt.Errorf("decoding envelope: %w", codec.ErrKind), "bad_kind"},
		// An auth token with a bad signature names the specific cause.
		{fmt.Errorf("%w: %w", codec.ErrBadToken, codec.ErrBadSignature), "bad_signature"},
		{fmt.Errorf("%w: %w", codec.ErrBadToken, codec.ErrBadDID), "bad_did"},
		{io.EOF, "other"},
		{nil, "other"},
	}
	for _, tt := range tests {
		if got := codec.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func TestKindPrioString(t *testing.T) {
	for k, want := range map[codec.Kind]string{0: "kind(0)", 1: "message", 2: "receipt", 3: "bundle", 4: "bundle-request", 5: "transfer", 6: "kind(6)"} {
		if k.String() != want {
			t.Errorf("Kind(%d) = %s, want %s", uint8(k), k, want)
		}
	}
	for p, want := range map[codec.Prio]string{0: "bulk", 1: "normal", 2: "urgent", 3: "prio(3)"} {
		if p.String() != want {
			t.Errorf("Prio(%d) = %s, want %s", uint8(p), p, want)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
