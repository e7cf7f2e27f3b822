package codec_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairnmesh/cairn/codec"
)

// update rewrites the generated files under testdata/ and the generated
// example blocks of docs/protocol.md. Without it the tests compare what the
// generator produces with what is committed, and fail on any difference.
var update = flag.Bool("update", false, "rewrite testdata vectors and docs/protocol.md examples")

// The vectors are generated from fixed Ed25519 seeds (RFC 8032 private keys),
// so they are reproducible byte for byte: Ed25519 signatures are
// deterministic.
var (
	seedZero  = make([]byte, ed25519.SeedSize)
	seedAlice = bytes.Repeat([]byte{0x01}, ed25519.SeedSize)
	seedBob   = bytes.Repeat([]byte{0x02}, ed25519.SeedSize)
)

func keyOf(seed []byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed) }

func pubOf(seed []byte) ed25519.PublicKey { return keyOf(seed).Public().(ed25519.PublicKey) }

// counting returns n bytes 00 01 02 …, a stand-in for ciphertext that is easy
// to follow in a hex dump.
func counting(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

type identityVector struct {
	Name        string `json:"name"`
	Seed        string `json:"seed"`          // Ed25519 seed, hex
	PublicKey   string `json:"public_key"`    // hex
	DIDKeyBytes string `json:"did_key_bytes"` // multicodec ed25519-pub ‖ key, hex: what base58btc encodes
	DIDKey      string `json:"did_key"`
	TagPreimage string `json:"tag_preimage"` // "cairn/tag/v1" ‖ key, hex
	Tag         string `json:"tag"`
}

type envelopeVector struct {
	Name       string `json:"name"`
	Note       string `json:"note"`
	Kind       uint8  `json:"kind"`
	To         string `json:"to"`
	TTL        uint32 `json:"ttl"`
	Prio       uint8  `json:"prio"`
	Hops       uint8  `json:"hops"`
	Body       string `json:"body"`
	Hex        string `json:"hex"`         // the whole envelope
	IDPreimage string `json:"id_preimage"` // CBOR [version, kind, to, prio, body]
	ID         string `json:"id"`
}

type receiptVector struct {
	Name          string   `json:"name"`
	Seed          string   `json:"seed"`
	Owner         string   `json:"owner"`
	IDs           []string `json:"ids"`
	SignedMessage string   `json:"signed_message"` // "cairn/receipt/v1" ‖ ids
	Signature     string   `json:"signature"`
	Body          string   `json:"body"`     // CBOR [owner, [id, …], signature]
	Envelope      string   `json:"envelope"` // name of the envelope vector that carries Body
}

type authVector struct {
	Name          string `json:"name"`
	Seed          string `json:"seed"`
	UnixMilli     uint64 `json:"unix_milli"`
	SignedMessage string `json:"signed_message"` // "cairn/auth/v1" ‖ 8-byte stamp
	Raw           string `json:"raw"`            // stamp ‖ signature, before base64url
	Username      string `json:"username"`
	Password      string `json:"password"`
}

// vectorSet is everything the generator writes.
type vectorSet struct {
	Identities []identityVector
	Envelopes  []envelopeVector
	Receipts   []receiptVector
	Auth       []authVector
}

var vectorFiles = []struct {
	name string
	get  func(*vectorSet) any
}{
	{"identities.json", func(v *vectorSet) any { return &v.Identities }},
	{"envelopes.json", func(v *vectorSet) any { return &v.Envelopes }},
	{"receipts.json", func(v *vectorSet) any { return &v.Receipts }},
	{"auth.json", func(v *vectorSet) any { return &v.Auth }},
}

// generateVectors builds the vectors with the package under test. The
// expected bytes in them are checked against independent constructions in
// TestVectors, so a generator that drifted with a broken encoder would fail
// there, not silently rewrite the truth.
func generateVectors() *vectorSet {
	var vs vectorSet
	for _, id := range []struct {
		name string
		seed []byte
	}{{"zero", seedZero}, {"alice", seedAlice}, {"bob", seedBob}} {
		pub := pubOf(id.seed)
		tag := codec.TagOf(pub)
		vs.Identities = append(vs.Identities, identityVector{
			Name:        id.name,
			Seed:        hex.EncodeToString(id.seed),
			PublicKey:   hex.EncodeToString(pub),
			DIDKeyBytes: hex.EncodeToString(append([]byte{0xed, 0x01}, pub...)),
			DIDKey:      codec.FormatDIDKey(pub),
			TagPreimage: hex.EncodeToString(append([]byte("cairn/tag/v1"), pub...)),
			Tag:         tag.String(),
		})
	}

	bob := codec.TagOf(pubOf(seedBob))
	alice := codec.TagOf(pubOf(seedAlice))
	msg20 := &codec.Envelope{Kind: codec.KindMessage, To: bob, TTL: 86400, Prio: codec.PrioNormal, Body: counting(20)}
	msg1k := &codec.Envelope{Kind: codec.KindMessage, To: bob, TTL: 604800, Prio: codec.PrioBulk, Hops: 2, Body: counting(1024)}
	acked := []codec.ID{msg20.ID(), msg1k.ID()}
	receipt := codec.SignReceipt(keyOf(seedBob), acked)
	envs := []struct {
		name, note string
		e          *codec.Envelope
	}{
		{"message-20", "a 20-byte message body for bob, fresh from the sender", msg20},
		{"message-20-forwarded", "the same envelope after 3 relays and 6 hours: ttl and hops differ, the id does not",
			&codec.Envelope{Kind: msg20.Kind, To: msg20.To, TTL: 86400 - 6*3600, Prio: msg20.Prio, Hops: 3, Body: msg20.Body}},
		{"message-1k", "a 1 KiB body: two-byte length", msg1k},
		{"bundle-request-empty", "an empty body is the byte string 40, never null", &codec.Envelope{Kind: codec.KindBundleRequest, To: alice, TTL: 600, Prio: codec.PrioNormal, Body: []byte{}}},
		{"bundle-256", "a 256-byte body: the length 256 needs a two-byte argument", &codec.Envelope{Kind: codec.KindBundle, To: alice, TTL: 2592000, Prio: codec.PrioBulk, Body: counting(256)}},
		{"transfer-limits", "the largest ttl and hops on the wire, urgent priority, a 24-byte body (one-byte length)",
			&codec.Envelope{Kind: codec.KindTransfer, To: codec.Tag{}, TTL: codec.MaxTTLSeconds, Prio: codec.PrioUrgent, Hops: codec.MaxHops, Body: counting(24)}},
		{"receipt", "bob's receipt for message-20 and message-1k, addressed to his own tag", receipt.Envelope(604800, codec.PrioUrgent)},
	}
	for _, x := range envs {
		id := x.e.ID()
		vs.Envelopes = append(vs.Envelopes, envelopeVector{
			Name: x.name, Note: x.note,
			Kind: uint8(x.e.Kind), To: x.e.To.String(), TTL: x.e.TTL, Prio: uint8(x.e.Prio), Hops: x.e.Hops,
			Body:       hex.EncodeToString(x.e.Body),
			Hex:        hex.EncodeToString(x.e.Encode()),
			IDPreimage: hex.EncodeToString(idPreimage(x.e)),
			ID:         id.String(),
		})
	}

	for _, r := range []struct {
		name, envelope string
		seed           []byte
		ids            []codec.ID
	}{
		{"bob-acks-two", "receipt", seedBob, acked},
		{"alice-acks-one", "", seedAlice, acked[:1]},
	} {
		rc := codec.SignReceipt(keyOf(r.seed), r.ids)
		v := receiptVector{
			Name: r.name, Seed: hex.EncodeToString(r.seed), Owner: hex.EncodeToString(rc.Owner),
			SignedMessage: hex.EncodeToString(receiptMessage(r.ids)),
			Signature:     hex.EncodeToString(rc.Signature),
			Body:          hex.EncodeToString(rc.Encode()),
			Envelope:      r.envelope,
		}
		for _, id := range r.ids {
			v.IDs = append(v.IDs, id.String())
		}
		vs.Receipts = append(vs.Receipts, v)
	}

	for _, a := range []struct {
		name string
		seed []byte
		ms   uint64
	}{
		{"alice-2023", seedAlice, 1700000000000},
		{"bob-epoch", seedBob, 0},
		{"zero-max-stamp", seedZero, 1<<64 - 1},
	} {
		pw := codec.SignAuthToken(keyOf(a.seed), a.ms)
		raw, _ := base64.RawURLEncoding.DecodeString(pw[len("v1."):])
		vs.Auth = append(vs.Auth, authVector{
			Name: a.name, Seed: hex.EncodeToString(a.seed), UnixMilli: a.ms,
			SignedMessage: hex.EncodeToString(append([]byte("cairn/auth/v1"), raw[:8]...)),
			Raw:           hex.EncodeToString(raw),
			Username:      codec.FormatDIDKey(pubOf(a.seed)),
			Password:      pw,
		})
	}
	return &vs
}

// cborHead is an independent, minimal encoder of a CBOR head in the shortest
// form (RFC 8949 section 4.2.1), used to check the package's encoder.
func cborHead(major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n <= 0xff:
		return []byte{m | 24, byte(n)}
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{m | 25}, uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{m | 26}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{m | 27}, n)
}

func cborUint(n uint64) []byte { return cborHead(0, n) }

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }

func cborArray(items ...[]byte) []byte {
	out := cborHead(4, uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func idPreimage(e *codec.Envelope) []byte {
	return cborArray(cborUint(1), cborUint(uint64(e.Kind)), cborBytes(e.To[:]), cborUint(uint64(e.Prio)), cborBytes(e.Body))
}

func handEncode(e *codec.Envelope) []byte {
	return cborArray(cborUint(1), cborUint(uint64(e.Kind)), cborBytes(e.To[:]), cborUint(uint64(e.TTL)),
		cborUint(uint64(e.Prio)), cborUint(uint64(e.Hops)), cborBytes(e.Body))
}

func receiptMessage(ids []codec.ID) []byte {
	m := []byte("cairn/receipt/v1")
	for _, id := range ids {
		m = append(m, id[:]...)
	}
	return m
}

func marshalVectors(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// TestVectorsGenerated checks that the committed vectors are what the
// generator produces today (or rewrites them with -update).
func TestVectorsGenerated(t *testing.T) {
	vs := generateVectors()
	for _, f := range vectorFiles {
		path := filepath.Join("testdata", f.name)
		want := marshalVectors(f.get(vs))
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./codec -run TestVectorsGenerated -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: the wire format changed? Review, then rerun with -update", path)
		}
	}
}

// loadVectors reads the committed vectors, never the generator, so that
// the checks below hold the package to what was reviewed and committed.
func loadVectors(t *testing.T) *vectorSet {
	t.Helper()
	var vs vectorSet
	for _, f := range vectorFiles {
		b, err := os.ReadFile(filepath.Join("testdata", f.name))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(f.get(&vs)); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
	}
	if len(vs.Identities) == 0 || len(vs.Envelopes) == 0 || len(vs.Receipts) == 0 || len(vs.Auth) == 0 {
		t.Fatal("a vector file is empty")
	}
	return &vs
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestVectorsIdentities(t *testing.T) {
	for _, v := range loadVectors(t).Identities {
		t.Run(v.Name, func(t *testing.T) {
			pub := pubOf(unhex(t, v.Seed))
			if got := hex.EncodeToString(pub); got != v.PublicKey {
				t.Fatalf("public key %s, want %s", got, v.PublicKey)
			}
			if got := codec.FormatDIDKey(pub); got != v.DIDKey {
				t.Errorf("FormatDIDKey = %s, want %s", got, v.DIDKey)
			}
			parsed, err := codec.ParseDIDKey(v.DIDKey)
			if err != nil || !parsed.Equal(pub) {
				t.Errorf("ParseDIDKey = %x, %v; want %s", parsed, err, v.PublicKey)
			}
			if want := append([]byte{0xed, 0x01}, pub...); !bytes.Equal(unhex(t, v.DIDKeyBytes), want) {
				t.Errorf("did_key_bytes %s, want %x", v.DIDKeyBytes, want)
			}
			if want := append([]byte("cairn/tag/v1"), pub...); !bytes.Equal(unhex(t, v.TagPreimage), want) {
				t.Errorf("tag_preimage %s, want %x", v.TagPreimage, want)
			}
			sum := sha256.Sum256(unhex(t, v.TagPreimage))
			if got := hex.EncodeToString(sum[:codec.TagSize]); got != v.Tag {
				t.Errorf("SHA-256 of tag preimage starts %s, want %s", got, v.Tag)
			}
			tag := codec.TagOf(pub)
			if tag.String() != v.Tag {
				t.Errorf("TagOf = %s, want %s", tag, v.Tag)
			}
			if parsed, err := codec.ParseTag(v.Tag); err != nil || parsed != tag {
				t.Errorf("ParseTag(%s) = %s, %v", v.Tag, parsed, err)
			}
		})
	}
}

func envelopeOf(t *testing.T, v envelopeVector) *codec.Envelope {
	t.Helper()
	e := &codec.Envelope{Kind: codec.Kind(v.Kind), TTL: v.TTL, Prio: codec.Prio(v.Prio), Hops: v.Hops, Body: unhex(t, v.Body)}
	copy(e.To[:], unhex(t, v.To))
	return e
}

func TestVectorsEnvelopes(t *testing.T) {
	for _, v := range loadVectors(t).Envelopes {
		t.Run(v.Name, func(t *testing.T) {
			want := envelopeOf(t, v)
			wire := unhex(t, v.Hex)
			// Bytes → fields.
			got, err := codec.DecodeEnvelope(wire)
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			if got.Kind != want.Kind || got.To != want.To || got.TTL != want.TTL || got.Prio != want.Prio ||
				got.Hops != want.Hops || !bytes.Equal(got.Body, want.Body) {
				t.Errorf("DecodeEnvelope = %+v, want %+v", got, want)
			}
			// Fields → bytes, by the package and by hand.
			if enc := want.Encode(); !bytes.Equal(enc, wire) {
				t.Errorf("Encode = %x, want %s", enc, v.Hex)
			}
			if hand := handEncode(want); !bytes.Equal(hand, wire) {
				t.Errorf("hand encoding %x differs from vector %s", hand, v.Hex)
			}
			// The id, from the fields and from the preimage.
			if id := want.ID(); id.String() != v.ID {
				t.Errorf("ID = %s, want %s", id, v.ID)
			}
			if id := got.ID(); id.String() != v.ID {
				t.Errorf("ID of decoded envelope = %s, want %s", id, v.ID)
			}
			if pre := idPreimage(want); !bytes.Equal(pre, unhex(t, v.IDPreimage)) {
				t.Errorf("id preimage %s, want %x", v.IDPreimage, pre)
			}
			sum := sha256.Sum256(unhex(t, v.IDPreimage))
			if got := hex.EncodeToString(sum[:codec.IDSize]); got != v.ID {
				t.Errorf("SHA-256 of id preimage starts %s, want %s", got, v.ID)
			}
		})
	}
}

func TestVectorsReceipts(t *testing.T) {
	vs := loadVectors(t)
	for _, v := range vs.Receipts {
		t.Run(v.Name, func(t *testing.T) {
			key := keyOf(unhex(t, v.Seed))
			var ids []codec.ID
			for _, s := range v.IDs {
				ids = append(ids, codec.ID(unhex(t, s)))
			}
			body := unhex(t, v.Body)
			r, err := codec.DecodeReceipt(body)
			if err != nil {
				t.Fatalf("DecodeReceipt: %v", err)
			}
			if hex.EncodeToString(r.Owner) != v.Owner || !slices.Equal(r.IDs, ids) || hex.EncodeToString(r.Signature) != v.Signature {
				t.Errorf("DecodeReceipt = %x %v %x", r.Owner, r.IDs, r.Signature)
			}
			if err := r.Verify(codec.TagOf(r.Owner)); err != nil {
				t.Errorf("Verify: %v", err)
			}
			signed := codec.SignReceipt(key, ids)
			if enc := signed.Encode(); !bytes.Equal(enc, body) {
				t.Errorf("SignReceipt(…).Encode() = %x, want %s", enc, v.Body)
			}
			idItems := make([][]byte, len(ids))
			for i := range ids {
				idItems[i] = cborBytes(ids[i][:])
			}
			hand := cborArray(cborBytes(key.Public().(ed25519.PublicKey)), cborArray(idItems...), cborBytes(unhex(t, v.Signature)))
			if !bytes.Equal(hand, body) {
				t.Errorf("hand encoding %x differs from vector", hand)
			}
			if msg := receiptMessage(ids); !bytes.Equal(msg, unhex(t, v.SignedMessage)) {
				t.Errorf("signed message %s, want %x", v.SignedMessage, msg)
			}
			if !ed25519.Verify(r.Owner, unhex(t, v.SignedMessage), r.Signature) {
				t.Error("signature does not verify over signed_message")
			}
			if v.Envelope == "" {
				return
			}
			i := slices.IndexFunc(vs.Envelopes, func(e envelopeVector) bool { return e.Name == v.Envelope })
			if i < 0 {
				t.Fatalf("no envelope vector %q", v.Envelope)
			}
			e, err := codec.DecodeEnvelope(unhex(t, vs.Envelopes[i].Hex))
			if err != nil {
				t.Fatal(err)
			}
			opened, err := codec.OpenReceipt(e)
			if err != nil {
				t.Fatalf("OpenReceipt: %v", err)
			}
			if !slices.Equal(opened.IDs, ids) {
				t.Errorf("OpenReceipt ids %v, want %v", opened.IDs, ids)
			}
		})
	}
}

func TestVectorsAuth(t *testing.T) {
	for _, v := range loadVectors(t).Auth {
		t.Run(v.Name, func(t *testing.T) {
			key := keyOf(unhex(t, v.Seed))
			if got := codec.SignAuthToken(key, v.UnixMilli); got != v.Password {
				t.Errorf("SignAuthToken = %s, want %s", got, v.Password)
			}
			if got := codec.FormatDIDKey(key.Public().(ed25519.PublicKey)); got != v.Username {
				t.Errorf("username %s, want %s", v.Username, got)
			}
			tok, err := codec.VerifyAuthToken(v.Username, v.Password)
			if err != nil {
				t.Fatalf("VerifyAuthToken: %v", err)
			}
			if tok.UnixMill != v.UnixMilli || !tok.Key.Equal(key.Public()) {
				t.Errorf("VerifyAuthToken = %d %x", tok.UnixMill, tok.Key)
			}
			raw := unhex(t, v.Raw)
			if want := "v1." + base64.RawURLEncoding.EncodeToString(raw); want != v.Password {
				t.Errorf("password %s, want v1.+base64url(raw) = %s", v.Password, want)
			}
			if len(raw) != 72 || binary.BigEndian.Uint64(raw) != v.UnixMilli {
				t.Errorf("raw %s does not start with the stamp %d", v.Raw, v.UnixMilli)
			}
			if msg := append([]byte("cairn/auth/v1"), raw[:8]...); !bytes.Equal(msg, unhex(t, v.SignedMessage)) {
				t.Errorf("signed message %s, want %x", v.SignedMessage, msg)
			}
			if !ed25519.Verify(key.Public().(ed25519.PublicKey), unhex(t, v.SignedMessage), raw[8:]) {
				t.Error("signature does not verify over signed_message")
			}
		})
	}
}
