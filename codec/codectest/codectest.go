// Package codectest holds wire inputs for testing anything that reads Cairn's
// clear-text formats: a catalogue of bad input, each entry with the codec
// sentinel error it must produce, and known-good envelopes.
//
// The codec package's own tests hold every entry to its sentinel, so other
// packages can rely on them: a relay test publishes each BadEnvelopes entry
// over MQTT and expects the reason codec.Reason(entry.Want), and nothing
// stored. All variables are read-only after package initialisation; do not
// modify them.
package codectest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/cairnmesh/cairn/codec"
)

// Bad is one bad wire input.
type Bad struct {
	Name string // unique in its list; usable as a subtest name
	Hex  string // the input bytes, lower-case hex
	Want error  // the codec sentinel error the input must produce (errors.Is)
	Note string // what is wrong, and what a lenient decoder would do instead
}

// Bytes returns the input. It panics on bad hex, which the codec tests rule
// out for every entry.
func (b Bad) Bytes() []byte {
	data, err := hex.DecodeString(b.Hex)
	if err != nil {
		panic("codectest: " + b.Name + ": " + err.Error())
	}
	return data
}

// BadString is one bad textual input: a did:key or a topic's tag segment.
type BadString struct {
	Name  string
	Input string
	Want  error
	Note  string
}

// BadAuth is one bad MQTT username and password pair.
type BadAuth struct {
	Name     string
	Username string
	Password string
	Want     error
	Note     string
}

// Good is a known-good envelope: a subset of codec/testdata/envelopes.json
// (the codec tests check that they agree).
type Good struct {
	Name string
	Hex  string // the envelope, lower-case hex
	ID   string // its id, lower-case hex
	Note string
}

// Bytes returns the envelope.
func (g Good) Bytes() []byte {
	data, err := hex.DecodeString(g.Hex)
	if err != nil {
		panic("codectest: " + g.Name + ": " + err.Error())
	}
	return data
}

// Check does what a relay does with every envelope it receives, before it
// stores anything: decode, and for a receipt also decode and verify the body.
// Each BadEnvelopes entry fails Check with its Want; each GoodEnvelopes entry
// passes.
func Check(data []byte) (*codec.Envelope, error) {
	e, err := codec.DecodeEnvelope(data)
	if err != nil {
		return nil, err
	}
	if e.Kind == codec.KindReceipt {
		if _, err := codec.OpenReceipt(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Fixed Ed25519 seeds for the signed entries; the same as the codec vectors.
var (
	aliceKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x01}, ed25519.SeedSize))
	bobKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x02}, ed25519.SeedSize))
	alicePub = aliceKey.Public().(ed25519.PublicKey)
	bobPub   = bobKey.Public().(ed25519.PublicKey)
	someIDs  = []codec.ID{{0x01}, {0x02}}
)

// GoodEnvelopes are valid envelopes, from codec/testdata/envelopes.json.
var GoodEnvelopes = []Good{
	{"message-20", "870101488f54b4ddca02918b1a00015180010054000102030405060708090a0b0c0d0e0f10111213",
		"b48ac4c7d9228c1c7bb28a4d344c5daa", "20-byte message for bob, ttl 1 day, normal priority"},
	{"message-20-forwarded", "870101488f54b4ddca02918b19fd20010354000102030405060708090a0b0c0d0e0f10111213",
		"b48ac4c7d9228c1c7bb28a4d344c5daa", "the same after 3 hops and 6 hours: same id"},
	{"bundle-request-empty", "87010448f6e49452c079ab15190258010040",
		"97e621f883fef949185a7f05968fb349", "empty body"},
	{"transfer-limits", "8701054800000000000000001affffffff0218ff5818000102030405060708090a0b0c0d0e0f1011121314151617",
		"1693f35d93805def15374306a344d241", "largest ttl and hops, urgent, all-zero tag"},
	{"receipt", "870102488f54b4ddca02918b1a00093a80020058888358208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3948250b48ac4c7d9228c1c7bb28a4d344c5daa500036434f4b566f8164e10590d9b3115b5840022d998e68fdba0a62e256503224d0ec74611164a661099078678a0be1e5be0d7c4d53e791d5c0a7a8ceba22029a57fbd6d8f38bd5a1112c7957b370e471770a",
		"36465788884024c3526f9893b2c7307f", "bob's signed receipt for message-20 and message-1k"},
}

// base is a valid envelope the structural entries below are edits of:
//
//	87                    array(7)
//	   01                 version 1
//	   01                 kind 1 (message)
//	   48 0001020304050607  to: bytes(8)
//	   18 1e              ttl 30
//	   01                 prio 1 (normal)
//	   00                 hops 0
//	   43 616263          body: bytes(3)
const base = "87" + "01" + "01" + "480001020304050607" + "181e" + "01" + "00" + "43616263"

// BadEnvelopes are inputs that codec.DecodeEnvelope, or for well-formed
// receipts codec.OpenReceipt (see Check), must refuse with Want.
var BadEnvelopes = []Bad{
	// Truncated or empty.
	{"empty", "", codec.ErrMalformed, "no bytes at all"},
	{"truncated-head", "87", codec.ErrMalformed, "array head with none of its 7 items"},
	{"truncated-in-tag", "8701014800010203", codec.ErrMalformed, "input ends inside the 8-byte tag"},
	{"truncated-body", base[:len(base)-2], codec.ErrMalformed, "body claims 3 bytes, 2 follow"},
	{"length-beyond-input", "870101480001020304050607181e01005b7fffffffffffffff00", codec.ErrMalformed,
		"body claims 2^63-1 bytes: must fail on the claim, never allocate for it"},
	{"reserved-additional-info", "870101480001020304050607181e01005c", codec.ErrMalformed, "additional information 28 is reserved in RFC 8949"},
	{"break-outside-indefinite", "ff", codec.ErrMalformed, "a lone break code"},

	// Size cap, checked before parsing.
	{"oversize", oversize(), codec.ErrTooLarge,
		"a well-formed envelope one byte over MaxEnvelopeBytes: refused on length alone"},

	// Wrong types.
	{"not-an-array-map", "a0", codec.ErrShape, "an empty map"},
	{"not-an-array-uint", "01", codec.ErrShape, "a bare integer"},
	{"not-an-array-bytes", "43616263", codec.ErrShape, "a bare byte string"},
	{"empty-array", "80", codec.ErrShape, "no items"},
	{"text-body", "870101480001020304050607181e010063616263", codec.ErrShape,
		"body is a text string (major type 3): a lenient decoder would take the UTF-8 bytes"},
	{"text-to", "870101680001020304050607181e010043616263", codec.ErrShape, "to is a text string"},
	{"negative-kind", "870120480001020304050607181e010043616263", codec.ErrShape, "kind -1 (major type 1)"},
	{"negative-ttl", "870101480001020304050607381d010043616263", codec.ErrShape, "ttl -30"},
	{"negative-hops-min", "870101480001020304050607181e013bffffffffffffffff43616263", codec.ErrShape,
		"hops -2^64, the most negative CBOR integer: does not fit int64 either"},
	{"float-kind", "8701f93c00480001020304050607181e010043616263", codec.ErrShape, "kind 1.0 as a half float"},
	{"float-ttl", "870101480001020304050607fa41f00000010043616263", codec.ErrShape, "ttl 30.0 as a single float"},
	{"bool-prio", "870101480001020304050607181ef50043616263", codec.ErrShape, "prio true"},
	{"null-body", "870101480001020304050607181e0100f6", codec.ErrShape,
		"body null: the CBOR library reads null as an empty byte string; it is a wrong type, not another spelling of 40"},
	{"undefined-body", "870101480001020304050607181e0100f7", codec.ErrShape, "body undefined"},
	{"null-to", "870101f6181e010043616263", codec.ErrShape, "to null"},
	{"array-body", "870101480001020304050607181e010080", codec.ErrShape, "body an empty array"},
	{"map-body", "870101480001020304050607181e0100a0", codec.ErrShape, "body an empty map"},
	{"simple-value-body", "870101480001020304050607181e0100f8ff", codec.ErrShape, "body simple(255)"},
	{"nested-array", "8181818181818101", codec.ErrShape, "arrays nested 7 deep: refused at the nesting limit or by type"},

	// Wrong item count.
	{"extra-item", "880101480001020304050607181e01004361626300", codec.ErrShape, "8 items: a trailing 0 after the body"},
	{"missing-item", "860101480001020304050607181e0100", codec.ErrShape, "6 items: no body"},
	{"missing-hops", "860101480001020304050607181e0143616263", codec.ErrShape, "6 items: hops left out"},

	// Bytes after the envelope.
	{"trailing-byte", base + "00", codec.ErrTrailing, "one 00 after a complete envelope"},
	{"trailing-envelope", base + base, codec.ErrTrailing, "two envelopes in one message"},

	// Indefinite lengths.
	{"indefinite-array", "9f" + base[2:] + "ff", codec.ErrIndefinite, "the envelope as an indefinite-length array"},
	{"indefinite-body", "870101480001020304050607181e01005f4161426263ff", codec.ErrIndefinite,
		"body as an indefinite-length byte string of chunks 'a' and 'bc'"},
	{"indefinite-to", "8701015f44000102034404050607ff181e010043616263", codec.ErrIndefinite, "to in two chunks"},

	// CBOR tags.
	{"tagged-self-describe", "d9d9f7" + base, codec.ErrTagged, "tag 55799 (self-described CBOR) before the envelope"},
	{"tagged-ttl", "870101480001020304050607c1181e010043616263", codec.ErrTagged, "ttl tagged as epoch time (tag 1)"},
	{"tagged-body", "870101480001020304050607181e0100c243616263", codec.ErrTagged, "body tagged as a bignum (tag 2)"},

	// Non-shortest encodings (RFC 8949 section 4.2.1).
	{"long-version", "87180101480001020304050607181e010043616263", codec.ErrNotCanonical, "version 1 in two bytes (18 01)"},
	{"long-ttl", "87010148000102030405060719001e010043616263", codec.ErrNotCanonical, "ttl 30 in three bytes (19 001e)"},
	{"long-ttl-small", "8701014800010203040506071817010043616263", codec.ErrNotCanonical, "ttl 23 as 18 17: fits in the head"},
	{"long-hops", "870101480001020304050607181e01180043616263", codec.ErrNotCanonical, "hops 0 as 18 00"},
	{"long-prio", "870101480001020304050607181e1b00000000000000010043616263", codec.ErrNotCanonical, "prio 1 in nine bytes"},
	{"long-body-length", "870101480001020304050607181e01005803616263", codec.ErrNotCanonical, "body length 3 as 58 03"},
	{"long-to-length", "87010158080001020304050607181e010043616263", codec.ErrNotCanonical, "to length 8 as 58 08"},
	{"long-array-length", "9807" + base[2:], codec.ErrNotCanonical, "array length 7 as 98 07"},

	// Wrong tag length.
	{"to-7-bytes", "8701014700010203040506181e010043616263", codec.ErrShape, "a 7-byte routing tag"},
	{"to-9-bytes", "87010149000102030405060708181e010043616263", codec.ErrShape, "a 9-byte routing tag"},
	{"to-empty", "87010140181e010043616263", codec.ErrShape, "an empty routing tag"},
	{"to-32-bytes", "8701015820" + strings.Repeat("00", 32) + "181e010043616263", codec.ErrShape,
		"a whole public key where its 8-byte tag belongs"},

	// Unknown values.
	{"version-0", "870001480001020304050607181e010043616263", codec.ErrVersion, "version 0"},
	{"version-2", "870201480001020304050607181e010043616263", codec.ErrVersion, "version 2: not understood, so not forwarded"},
	{"version-huge", "871bffffffffffffffff01480001020304050607181e010043616263", codec.ErrVersion, "version 2^64-1"},
	{"kind-0", "870100480001020304050607181e010043616263", codec.ErrKind, "kind 0"},
	{"kind-6", "870106480001020304050607181e010043616263", codec.ErrKind, "kind 6, one past transfer"},
	{"kind-257", "8701190101480001020304050607181e010043616263", codec.ErrKind,
		"kind 257: a decoder that truncates to 8 bits would read kind 1 (message)"},
	{"prio-3", "870101480001020304050607181e030043616263", codec.ErrPrio, "prio 3, one past urgent"},
	{"prio-257", "870101480001020304050607181e1901010043616263", codec.ErrPrio,
		"prio 257: a decoder that truncates to 8 bits would read normal"},

	// Out of range.
	{"hops-256", "870101480001020304050607181e0119010043616263", codec.ErrRange,
		"hops 256, one past MaxHops: a decoder that truncates would read 0 and restart the count"},
	{"hops-max-uint64", "870101480001020304050607181e011bffffffffffffffff43616263", codec.ErrRange, "hops 2^64-1"},
	{"ttl-2^32", "8701014800010203040506071b0000000100000000010043616263", codec.ErrRange,
		"ttl 2^32, one past MaxTTLSeconds: a decoder that truncates would read 0"},
	{"ttl-max-uint64", "8701014800010203040506071bffffffffffffffff010043616263", codec.ErrRange, "ttl 2^64-1"},

	// Receipts (kind 2): the envelope is well formed, the body is not, or
	// does not verify. Built from fixed keys, so the bytes never change.
	{"receipt-bad-signature", receiptEnvelope(bobPub, flipSignature(codec.SignReceipt(bobKey, someIDs))), codec.ErrBadSignature,
		"bob's receipt with one bit of the signature flipped"},
	{"receipt-ids-changed", receiptEnvelope(bobPub, withIDs(codec.SignReceipt(bobKey, someIDs), []codec.ID{{0x01}, {0x03}})), codec.ErrBadSignature,
		"a valid signature over other ids: a relay must not delete id 03"},
	{"receipt-ids-reordered", receiptEnvelope(bobPub, withIDs(codec.SignReceipt(bobKey, someIDs), []codec.ID{{0x02}, {0x01}})), codec.ErrBadSignature,
		"the ids swapped: the signature covers their order"},
	{"receipt-for-another-tag", receiptEnvelope(alicePub, codec.SignReceipt(bobKey, someIDs)), codec.ErrWrongOwner,
		"bob's valid receipt addressed to alice's tag: would delete alice's mail"},
	{"receipt-zero-ids", receiptEnvelope(bobPub, codec.SignReceipt(bobKey, nil)), codec.ErrEmptyReceipt,
		"a validly signed receipt for no ids"},
	{"receipt-too-many-ids", receiptEnvelope(bobPub, codec.SignReceipt(bobKey, make([]codec.ID, codec.MaxReceiptIDs+1))), codec.ErrTooLarge,
		"MaxReceiptIDs+1 ids, validly signed"},
	{"receipt-id-15-bytes", receiptBody(bobPub, array(bstr(bobPub), array(bstr(make([]byte, 15))), bstr(make([]byte, 64)))), codec.ErrShape,
		"an id one byte short"},
	{"receipt-id-17-bytes", receiptBody(bobPub, array(bstr(bobPub), array(bstr(make([]byte, 16)), bstr(make([]byte, 17))), bstr(make([]byte, 64)))), codec.ErrShape,
		"the second id one byte long"},
	{"receipt-owner-31-bytes", receiptBody(bobPub, array(bstr(bobPub[:31]), array(bstr(make([]byte, 16))), bstr(make([]byte, 64)))), codec.ErrShape,
		"an owner key one byte short"},
	{"receipt-signature-63-bytes", receiptBody(bobPub, array(bstr(bobPub), array(bstr(make([]byte, 16))), bstr(make([]byte, 63)))), codec.ErrShape,
		"a signature one byte short"},
	{"receipt-ids-not-array", receiptBody(bobPub, array(bstr(bobPub), bstr(make([]byte, 16)), bstr(make([]byte, 64)))), codec.ErrShape,
		"one id as a bare byte string instead of a list"},
	{"receipt-4-items", receiptBody(bobPub, array(bstr(bobPub), array(bstr(make([]byte, 16))), bstr(make([]byte, 64)), []byte{0x00})), codec.ErrShape,
		"an extra item after the signature"},
	{"receipt-null-owner", receiptBody(bobPub, array([]byte{0xf6}, array(bstr(make([]byte, 16))), bstr(make([]byte, 64)))), codec.ErrShape,
		"owner null"},
	{"receipt-body-not-cbor", receiptBody(bobPub, []byte{0xff}), codec.ErrMalformed, "the body is a lone break code"},
	{"receipt-body-empty", receiptBody(bobPub, []byte{}), codec.ErrMalformed, "a receipt with an empty body"},
	{"receipt-body-trailing", receiptBody(bobPub, append(codec.SignReceipt(bobKey, someIDs).Encode(), 0x00)), codec.ErrTrailing,
		"a valid receipt body followed by 00"},
	{"receipt-body-indefinite-ids", receiptBody(bobPub, indefiniteIDs(codec.SignReceipt(bobKey, someIDs))), codec.ErrIndefinite,
		"the id list as an indefinite-length array"},
	{"receipt-body-long-owner-length", receiptBody(bobPub, longOwnerLength(codec.SignReceipt(bobKey, someIDs))), codec.ErrNotCanonical,
		"owner length 32 as 59 0020 instead of 58 20"},
	{"receipt-body-tagged", receiptBody(bobPub, append([]byte{0xd9, 0xd9, 0xf7}, codec.SignReceipt(bobKey, someIDs).Encode()...)), codec.ErrTagged,
		"the body tagged as self-described CBOR"},
}

// GoodBundleRequest is a valid bundle request body (kind 4): version 1,
// reply tag 0001020304050607.
const GoodBundleRequest = "82" + "01" + "480001020304050607"

// BadBundleRequests are kind-4 bodies that codec.DecodeBundleRequest must
// refuse with Want. The envelopes carrying them are well formed: a relay
// stores them and does not answer them.
var BadBundleRequests = []Bad{
	{"empty", "", codec.ErrMalformed, "no body"},
	{"empty-array", "80", codec.ErrShape, "[]"},
	{"version-only", "8101", codec.ErrShape, "[1]: no reply tag"},
	{"version-2", "8202480001020304050607", codec.ErrVersion, "an unknown version"},
	{"version-0", "8200480001020304050607", codec.ErrVersion, ""},
	{"reply-7-bytes", "82014700010203040506", codec.ErrShape, "a tag one byte short"},
	{"reply-9-bytes", "820149000102030405060708", codec.ErrShape, "a tag one byte long"},
	{"reply-null", "8201f6", codec.ErrShape, "reply tag null"},
	{"reply-text", "820168" + "3031323334353637", codec.ErrShape, "the tag as a text string"},
	{"three-items", "8301480001020304050607" + "00", codec.ErrShape, "an extra item after the tag"},
	{"trailing", GoodBundleRequest + "00", codec.ErrTrailing, "a valid body followed by 00"},
	{"long-version", "821801480001020304050607", codec.ErrNotCanonical, "version 1 as 18 01"},
	{"long-tag-length", "8201580800010203040506" + "07", codec.ErrNotCanonical, "tag length 8 as 58 08"},
	{"indefinite-array", "9f01480001020304050607ff", codec.ErrIndefinite, ""},
	{"tagged", "d9d9f7" + GoodBundleRequest, codec.ErrTagged, "tagged as self-described CBOR"},
	{"map", "a2" + "00" + "01" + "01" + "480001020304050607", codec.ErrShape, "a map instead of an array"},
	{"negative-version", "8220480001020304050607", codec.ErrShape, "version -1"},
	{"oversize", strings.Repeat("00", codec.MaxEnvelopeBytes+1), codec.ErrTooLarge, "refused on size before parsing"},
}

// BadDIDKeys are usernames that codec.ParseDIDKey must refuse with Want.
var BadDIDKeys = []BadString{
	{"empty", "", codec.ErrBadDID, ""},
	{"prefix-only", "did:key:", codec.ErrBadDID, "no method-specific id"},
	{"multibase-only", "did:key:z", codec.ErrBadDID, "no key bytes"},
	{"other-method", "did:web:example.com", codec.ErrBadDID, "only did:key names a key by itself"},
	{"upper-case-scheme", "DID:KEY:" + codec.FormatDIDKey(alicePub)[len("did:key:"):], codec.ErrBadDID, "the scheme and method are lower case"},
	{"multibase-hex", "did:key:fed01" + hex.EncodeToString(alicePub), codec.ErrBadDID,
		"multibase 'f' (hex) of the right bytes: did:key uses base58btc only, so each key has one did"},
	{"base58-zero", replaceAt(codec.FormatDIDKey(alicePub), 20, '0'), codec.ErrBadDID, "'0' is not in the base58 alphabet"},
	{"base58-capital-o", replaceAt(codec.FormatDIDKey(alicePub), 20, 'O'), codec.ErrBadDID, "'O' is not in the base58 alphabet"},
	{"base58-capital-i", replaceAt(codec.FormatDIDKey(alicePub), 20, 'I'), codec.ErrBadDID, "'I' is not in the base58 alphabet"},
	{"base58-small-l", replaceAt(codec.FormatDIDKey(alicePub), 20, 'l'), codec.ErrBadDID, "'l' is not in the base58 alphabet"},
	{"x25519-key", "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW", codec.ErrBadDID,
		"an X25519 key (multicodec 0xec) from the W3C did:key vectors: cannot sign"},
	{"secp256k1-key", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", codec.ErrBadDID, "a secp256k1 key (multicodec 0xe7)"},
	{"truncated", dropLast(codec.FormatDIDKey(alicePub)), codec.ErrBadDID, "last character dropped"},
	{"extra-character", codec.FormatDIDKey(alicePub) + "z", codec.ErrBadDID, "one character more: 35 bytes"},
	{"leading-one", "did:key:z1" + codec.FormatDIDKey(alicePub)[len("did:key:z"):], codec.ErrBadDID,
		"a leading '1' is a leading zero byte in base58"},
	{"fragment", codec.FormatDIDKey(alicePub) + "#" + codec.FormatDIDKey(alicePub)[len("did:key:"):], codec.ErrBadDID,
		"a DID URL with a fragment, not a DID"},
	{"trailing-newline", codec.FormatDIDKey(alicePub) + "\n", codec.ErrBadDID, "whitespace is not trimmed"},
	{"too-long", "did:key:z" + strings.Repeat("2", 100), codec.ErrBadDID, "refused on length before base58 decoding"},
}

// BadTagStrings are topic segments that codec.ParseTag must refuse with Want.
var BadTagStrings = []BadString{
	{"empty", "", codec.ErrBadTagString, ""},
	{"15-digits", "8f54b4ddca02918", codec.ErrBadTagString, "one digit short"},
	{"17-digits", "8f54b4ddca02918b0", codec.ErrBadTagString, "one digit more"},
	{"upper-case", "8F54B4DDCA02918B", codec.ErrBadTagString, "upper-case hex: each tag has exactly one topic"},
	{"mixed-case", "8f54b4ddca02918B", codec.ErrBadTagString, "one upper-case digit"},
	{"0x-prefix", "0x8f54b4ddca0291", codec.ErrBadTagString, "16 characters, but with a 0x prefix"},
	{"non-hex", "8f54b4ddca02918g", codec.ErrBadTagString, "'g'"},
	{"space", "8f54b4ddca02918", codec.ErrBadTagString, "a trailing space"},
	{"mqtt-wildcard", "8f54b4ddca0291+#", codec.ErrBadTagString, "MQTT wildcards"},
	{"an-id", "b48ac4c7d9228c1c7bb28a4d344c5daa", codec.ErrBadTagString, "an envelope id, not a tag"},
	{"non-ascii", "8f54b4ddca0291\u00e9", codec.ErrBadTagString, "16 bytes, one of them a two-byte UTF-8 character"},
}

// BadAuthTokens are MQTT logins that codec.VerifyAuthToken must refuse with
// Want. Every Want wraps codec.ErrBadToken too.
var BadAuthTokens = []BadAuth{
	{"username-not-did", "alice", codec.SignAuthToken(aliceKey, 1700000000000), codec.ErrBadDID, "the username must be a did:key"},
	{"username-empty", "", codec.SignAuthToken(aliceKey, 1700000000000), codec.ErrBadDID, ""},
	{"password-empty", codec.FormatDIDKey(alicePub), "", codec.ErrBadToken, ""},
	{"prefix-only", codec.FormatDIDKey(alicePub), "v1.", codec.ErrBadToken, ""},
	{"version-2", codec.FormatDIDKey(alicePub), "v2." + codec.SignAuthToken(aliceKey, 1700000000000)[3:], codec.ErrBadToken, "unknown token version"},
	{"no-prefix", codec.FormatDIDKey(alicePub), codec.SignAuthToken(aliceKey, 1700000000000)[3:], codec.ErrBadToken, ""},
	{"padded", codec.FormatDIDKey(alicePub), codec.SignAuthToken(aliceKey, 1700000000000) + "=", codec.ErrBadToken, "base64url without padding only"},
	{"standard-alphabet", codec.FormatDIDKey(alicePub), stdAlphabet(codec.SignAuthToken(aliceKey, 1700000000000)), codec.ErrBadToken,
		"'+' or '/' of standard base64 where base64url has '-' and '_'"},
	{"one-char-short", codec.FormatDIDKey(alicePub), codec.SignAuthToken(aliceKey, 1700000000000)[:98], codec.ErrBadToken, ""},
	{"one-char-more", codec.FormatDIDKey(alicePub), codec.SignAuthToken(aliceKey, 1700000000000) + "A", codec.ErrBadToken, ""},
	{"other-key", codec.FormatDIDKey(bobPub), codec.SignAuthToken(aliceKey, 1700000000000), codec.ErrBadSignature,
		"alice's token presented as bob"},
	{"stamp-changed", codec.FormatDIDKey(alicePub), changeStamp(codec.SignAuthToken(aliceKey, 1700000000000)), codec.ErrBadSignature,
		"a replayed token with a later stamp: the stamp is signed"},
	{"signature-flipped", codec.FormatDIDKey(alicePub), flipLast(codec.SignAuthToken(aliceKey, 1700000000000)), codec.ErrBadSignature,
		"one bit of the signature flipped"},
}

// oversize returns a well-formed envelope of MaxEnvelopeBytes+1 bytes.
func oversize() string {
	// Head: 87 01 01 48 <8> 00 01 00 59 <2-byte length>: 18 bytes.
	e := codec.Envelope{Kind: codec.KindMessage, Prio: codec.PrioNormal, Body: make([]byte, codec.MaxEnvelopeBytes+1-18)}
	s := hex.EncodeToString(e.Encode())
	if len(s) != 2*(codec.MaxEnvelopeBytes+1) {
		panic("codectest: oversize envelope has the wrong size")
	}
	return s
}

func receiptEnvelope(to ed25519.PublicKey, r *codec.Receipt) string {
	return receiptBody(to, r.Encode())
}

// receiptBody wraps body in a valid kind-2 envelope addressed to tag(to).
func receiptBody(to ed25519.PublicKey, body []byte) string {
	e := codec.Envelope{Kind: codec.KindReceipt, To: codec.TagOf(to), TTL: 3600, Prio: codec.PrioUrgent, Body: body}
	return hex.EncodeToString(e.Encode())
}

func flipSignature(r *codec.Receipt) *codec.Receipt {
	sig := bytes.Clone(r.Signature)
	sig[10] ^= 0x01
	return &codec.Receipt{Owner: r.Owner, IDs: r.IDs, Signature: sig}
}

func withIDs(r *codec.Receipt, ids []codec.ID) *codec.Receipt {
	return &codec.Receipt{Owner: r.Owner, IDs: ids, Signature: r.Signature}
}

// indefiniteIDs re-spells the receipt's id list (82 …) as 9f … ff.
func indefiniteIDs(r *codec.Receipt) []byte {
	b := r.Encode()
	// 83, 58 20 <32-byte owner>, then the id list head at offset 35.
	if b[35] != 0x80|byte(len(r.IDs)) {
		panic("codectest: unexpected receipt layout")
	}
	sigStart := len(b) - 66 // 58 40 <64-byte signature>
	out := append([]byte{}, b[:35]...)
	out = append(out, 0x9f)
	out = append(out, b[36:sigStart]...)
	out = append(out, 0xff)
	return append(out, b[sigStart:]...)
}

// longOwnerLength re-spells the owner's length (58 20) as 59 00 20.
func longOwnerLength(r *codec.Receipt) []byte {
	b := r.Encode()
	return append([]byte{b[0], 0x59, 0x00, 0x20}, b[3:]...)
}

// Minimal CBOR building blocks for the malformed receipt bodies, which the
// codec's encoder cannot produce on purpose.
func head(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	}
	return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
}

func bstr(b []byte) []byte { return append(head(2, len(b)), b...) }

func array(items ...[]byte) []byte {
	out := head(4, len(items))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func replaceAt(s string, i int, c byte) string {
	b := []byte(s)
	b[i] = c
	return string(b)
}

// stdAlphabet returns a token from the same key whose base64url text has a
// '-' or '_', spelled with the standard alphabet's '+' or '/'.
func stdAlphabet(token string) string {
	s := strings.NewReplacer("-", "+", "_", "/").Replace(token)
	if s == token {
		panic("codectest: token has no '-' or '_'")
	}
	return s
}

// changeStamp adds one to the token's timestamp and keeps its signature.
func changeStamp(token string) string {
	raw, err := base64.RawURLEncoding.DecodeString(token[3:])
	if err != nil {
		panic(err)
	}
	raw[7]++
	return token[:3] + base64.RawURLEncoding.EncodeToString(raw)
}

// flipLast flips a bit in the last byte of the token's signature.
func flipLast(token string) string {
	raw, err := base64.RawURLEncoding.DecodeString(token[3:])
	if err != nil {
		panic(err)
	}
	raw[len(raw)-1] ^= 0x01
	return token[:3] + base64.RawURLEncoding.EncodeToString(raw)
}

func dropLast(s string) string { return s[:len(s)-1] }
