package codec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cairnmesh/cairn/codec"
)

// The byte-by-byte examples in docs/protocol.md are generated from the
// committed vectors in testdata/, between <!-- vector:NAME --> and
// <!-- end vector --> markers. TestProtocolDoc fails when they differ (or
// rewrites them with -update), so the document cannot drift from the vectors
// the code is tested against.
const protocolDoc = "../docs/protocol.md"

var docBlock = regexp.MustCompile(`(?s)<!-- vector:([a-z0-9-]+) -->\n.*?<!-- end vector -->`)

func TestProtocolDoc(t *testing.T) {
	blocks := docBlocks(t, loadVectors(t))
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var unknown []string
	out := docBlock.ReplaceAllFunc(doc, func(m []byte) []byte {
		name := string(docBlock.FindSubmatch(m)[1])
		seen[name] = true
		body, ok := blocks[name]
		if !ok {
			unknown = append(unknown, name)
			return m
		}
		return []byte("<!-- vector:" + name + " -->\n```text\n" + body + "```\n<!-- end vector -->")
	})
	if len(unknown) > 0 {
		t.Errorf("%s has blocks with no generator: %v", protocolDoc, unknown)
	}
	for name := range blocks {
		if !seen[name] {
			t.Errorf("%s lacks the block <!-- vector:%s -->", protocolDoc, name)
		}
	}
	if *update {
		if err := os.WriteFile(protocolDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(out, doc) {
		t.Errorf("%s examples differ from testdata vectors; rerun go test ./codec -run TestProtocolDoc -update and review", protocolDoc)
	}
}

func find[T any](t *testing.T, list []T, name func(T) string, want string) T {
	t.Helper()
	i := slices.IndexFunc(list, func(x T) bool { return name(x) == want })
	if i < 0 {
		t.Fatalf("no vector %q", want)
	}
	return list[i]
}

// docBlocks renders each annotated example from the vectors.
func docBlocks(t *testing.T, vs *vectorSet) map[string]string {
	env := func(name string) envelopeVector {
		return find(t, vs.Envelopes, func(v envelopeVector) string { return v.Name }, name)
	}
	ident := func(name string) identityVector {
		return find(t, vs.Identities, func(v identityVector) string { return v.Name }, name)
	}
	blocks := map[string]string{}

	envelopeLabels := func(v envelopeVector) []string {
		return []string{
			"array of 7 items: envelope v1",
			"version: 1",
			fmt.Sprintf("kind: %d (%s)", v.Kind, codec.Kind(v.Kind)),
			"to: byte string of 8, the routing tag",
			fmt.Sprintf("ttl: %d seconds", v.TTL),
			fmt.Sprintf("prio: %d (%s)", v.Prio, codec.Prio(v.Prio)),
			fmt.Sprintf("hops: %d", v.Hops),
			fmt.Sprintf("body: byte string of %d", len(v.Body)/2),
		}
	}
	for _, name := range []string{"message-20", "message-20-forwarded", "transfer-limits", "bundle-request-empty", "receipt"} {
		v := env(name)
		blocks["envelope-"+name] = annotateCBOR(t, unhex(t, v.Hex), envelopeLabels(v)) +
			fmt.Sprintf("\n%d bytes; id %s\n", len(v.Hex)/2, v.ID)
	}

	m := env("message-20")
	blocks["id-preimage-message-20"] = annotateCBOR(t, unhex(t, m.IDPreimage), []string{
		"array of 5 items: the id preimage",
		"version: 1",
		fmt.Sprintf("kind: %d", m.Kind),
		"to: byte string of 8",
		fmt.Sprintf("prio: %d", m.Prio),
		fmt.Sprintf("body: byte string of %d", len(m.Body)/2),
	}) + fmt.Sprintf("\nSHA-256 of these %d bytes, first 16 bytes:\n%s  # id\n", len(m.IDPreimage)/2, m.ID)

	bob := ident("bob")
	blocks["tag-bob"] = annotateSegments(t, []segment{
		{"636169726e2f7461672f7631", `"cairn/tag/v1" (12 ASCII bytes)`},
		{bob.PublicKey, "bob's Ed25519 public key (32 bytes)"},
	}) + fmt.Sprintf("\nSHA-256 of these 44 bytes, first 8 bytes:\n%s  # tag; topic cairn/v1/inbox/%s\n", bob.Tag, bob.Tag)

	r := find(t, vs.Receipts, func(v receiptVector) string { return v.Name }, "bob-acks-two")
	labels := []string{"array of 3 items: receipt body", "owner: byte string of 32, bob's public key",
		fmt.Sprintf("ids: array of %d", len(r.IDs))}
	for i := range r.IDs {
		labels = append(labels, fmt.Sprintf("id %d: byte string of 16", i))
	}
	labels = append(labels, "signature: byte string of 64")
	segs := []segment{{"636169726e2f726563656970742f7631", `"cairn/receipt/v1" (16 ASCII bytes)`}}
	for i, id := range r.IDs {
		segs = append(segs, segment{id, fmt.Sprintf("id %d", i)})
	}
	blocks["receipt-body"] = annotateCBOR(t, unhex(t, r.Body), labels) +
		fmt.Sprintf("\n%d bytes. The signature is Ed25519 by the owner over:\n", len(r.Body)/2) + annotateSegments(t, segs)

	a := find(t, vs.Auth, func(v authVector) string { return v.Name }, "alice-2023")
	raw := unhex(t, a.Raw)
	blocks["auth-alice"] = "signed message:\n" + annotateSegments(t, []segment{
		{"636169726e2f617574682f7631", `"cairn/auth/v1" (13 ASCII bytes)`},
		{hex.EncodeToString(raw[:8]), fmt.Sprintf("Unix milliseconds %d, 8 bytes big-endian", binary.BigEndian.Uint64(raw[:8]))},
	}) + "\ntoken bytes (72):\n" + annotateSegments(t, []segment{
		{hex.EncodeToString(raw[:8]), "the same 8-byte stamp"},
		{hex.EncodeToString(raw[8:]), "Ed25519 signature over the signed message (64 bytes)"},
	}) + fmt.Sprintf("\nMQTT username: %s\nMQTT password: %s\n", a.Username, a.Password)

	alice := ident("alice")
	blocks["didkey-alice"] = annotateSegments(t, []segment{
		{"ed01", "multicodec ed25519-pub (0xed) as an unsigned varint"},
		{alice.PublicKey, "alice's Ed25519 public key (32 bytes)"},
	}) + fmt.Sprintf("\nbase58btc of these 34 bytes, after \"did:key:\" and the multibase prefix 'z':\n%s\n", alice.DIDKey)
	return blocks
}

const commentColumn = 44

func line(out *strings.Builder, depth int, hexText, comment string) {
	text := strings.Repeat("  ", depth) + hexText
	if comment == "" {
		out.WriteString(text + "\n")
		return
	}
	pad := max(commentColumn-utf8.RuneCountInString(text), 1)
	out.WriteString(text + strings.Repeat(" ", pad) + "# " + comment + "\n")
}

// annotateCBOR prints data item by item, one comment per head from labels
// in pre-order. It knows the three major types the formats use: unsigned
// integers, byte strings and arrays.
func annotateCBOR(t *testing.T, data []byte, labels []string) string {
	t.Helper()
	var out strings.Builder
	var walk func(depth int)
	walk = func(depth int) {
		if len(data) == 0 || len(labels) == 0 {
			t.Fatalf("annotation ran out of data or labels")
		}
		major, ai := data[0]>>5, data[0]&0x1f
		headLen := 1
		n := uint64(ai)
		if ai >= 24 {
			headLen += 1 << (ai - 24)
			n = 0
			for _, c := range data[1:headLen] {
				n = n<<8 | uint64(c)
			}
		}
		line(&out, depth, hex.EncodeToString(data[:headLen]), labels[0])
		data, labels = data[headLen:], labels[1:]
		switch major {
		case 0:
		case 2:
			payload := data[:n]
			for len(payload) > 0 {
				k := min(16, len(payload))
				line(&out, depth+1, hex.EncodeToString(payload[:k]), "")
				payload = payload[k:]
			}
			data = data[n:]
		case 4:
			for range n {
				walk(depth + 1)
			}
		default:
			t.Fatalf("annotateCBOR: major type %d", major)
		}
	}
	walk(0)
	if len(data) != 0 || len(labels) != 0 {
		t.Fatalf("annotateCBOR: %d bytes and %d labels left", len(data), len(labels))
	}
	return out.String()
}

type segment struct{ hex, comment string }

// annotateSegments prints concatenated byte fields, 16 bytes a line.
func annotateSegments(t *testing.T, segs []segment) string {
	t.Helper()
	var out strings.Builder
	for _, s := range segs {
		b := unhex(t, s.hex)
		comment := s.comment
		for len(b) > 0 {
			k := min(16, len(b))
			line(&out, 0, hex.EncodeToString(b[:k]), comment)
			b, comment = b[k:], ""
		}
	}
	return out.String()
}
