package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// runCairnIn is runCairn with stdin, and stdout as bytes.
func runCairnIn(t *testing.T, stdin []byte, args ...string) (stdout []byte, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientWait)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, cairnBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("cairn %s: %v", strings.Join(args, " "), err)
	}
	return o.Bytes(), e.String(), code
}

// A relay moves to a new SD card: its envelopes exported from one data
// directory, imported into another, and delivered from there. check and
// compact on the way; all of them refuse while the relay runs.
func TestStoreMoveToNewCard(t *testing.T) {
	old, fresh := t.TempDir(), t.TempDir()
	r := startRelay(t, old)
	bob := relaytest.NewIdentity()
	var sent []*codec.Envelope
	for i := range 5 {
		e := relaytest.Message(bob.Tag, codec.Prio(i%3), 3600)
		r.publish(t, e.Encode())
		sent = append(sent, e)
	}
	for _, cmd := range []string{"check", "compact", "export", "import"} {
		_, stderr, code := runCairnIn(t, nil, "store", cmd, "--data", old)
		if code == 0 || !strings.Contains(stderr, "is a relay running?") {
			t.Errorf("store %s with the relay running: exit %d, %s", cmd, code, stderr)
		}
	}
	r.stop()

	out, stderr, code := runCairnIn(t, nil, "store", "check", "--data", old)
	if code != 0 || !bytes.Contains(out, []byte("envelopes 5 ")) || !bytes.HasSuffix(out, []byte("ok\n")) {
		t.Fatalf("store check: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = runCairnIn(t, nil, "store", "compact", "--data", old)
	if code != 0 || !bytes.Contains(out, []byte("compacted")) {
		t.Fatalf("store compact: exit %d\n%s%s", code, out, stderr)
	}
	export, stderr, code := runCairnIn(t, nil, "store", "export", "--data", old)
	if code != 0 || !strings.Contains(stderr, "exported 5 envelopes") {
		t.Fatalf("store export: exit %d\n%s", code, stderr)
	}
	var got []codec.ID
	sr := codec.NewStreamReader(bytes.NewReader(export))
	for {
		raw, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := codec.DecodeEnvelope(raw)
		if err != nil || e.TTL > 3600 || e.TTL < 3500 {
			t.Fatalf("exported envelope %x: %v", raw, err)
		}
		got = append(got, e.ID())
	}
	if !slices.Equal(got, ids(sent)) {
		t.Fatalf("exported %v, want %v in arrival order", got, ids(sent))
	}

	_, stderr, code = runCairnIn(t, export, "store", "import", "--data", fresh)
	if code != 0 || !strings.Contains(stderr, "imported 5 of 5 envelopes") {
		t.Fatalf("store import: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runCairnIn(t, export, "store", "import", "--data", fresh)
	if code != 0 || !strings.Contains(stderr, "imported 0 of 5 envelopes") || !strings.Contains(stderr, "5 duplicate") {
		t.Fatalf("store import again: exit %d\n%s", code, stderr)
	}

	r = startRelay(t, fresh)
	recv := r.receiveHex(t, bob, 5)
	want := []codec.ID{sent[2].ID(), sent[1].ID(), sent[4].ID(), sent[0].ID(), sent[3].ID()} // urgent first, then oldest
	if !slices.Equal(ids(recv), want) {
		t.Errorf("the new relay delivered %v, want %v", ids(recv), want)
	}
}

// import reads untrusted bytes: a stream cut short or malformed stops it
// with a reason, after storing what came before; bad envelopes in good
// framing are counted by reason and the rest stored.
func TestStoreImportBadInput(t *testing.T) {
	dir := t.TempDir()
	good := relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, 60)
	for _, c := range codectest.BadStreams {
		in := append(codec.AppendStreamItem(nil, good.Encode()), c.Bytes()...)
		_, stderr, code := runCairnIn(t, in, "store", "import", "--data", dir)
		if code == 0 || !strings.Contains(stderr, "import stopped after") || !strings.Contains(stderr, "imported") {
			t.Errorf("%s: exit %d\n%s", c.Name, code, stderr)
		}
	}
	var in []byte
	bad := 0
	for _, c := range codectest.BadEnvelopes {
		if b := c.Bytes(); len(b) <= codec.MaxEnvelopeBytes && bad < 40 {
			in = codec.AppendStreamItem(in, b)
			bad++
		}
	}
	other := relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, 60)
	in = codec.AppendStreamItem(in, other.Encode())
	_, stderr, code := runCairnIn(t, in, "store", "import", "--data", dir)
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("imported 1 of %d envelopes", bad+1)) ||
		!strings.Contains(stderr, fmt.Sprintf("import: %d envelopes refused", bad)) {
		t.Errorf("bad envelopes: exit %d\n%s", code, stderr)
	}
}
