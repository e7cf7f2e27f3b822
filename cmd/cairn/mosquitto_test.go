package main

// The relay driven by Mosquitto's command-line clients (Debian
// mosquitto-clients, installed by scripts/deps.sh): a standard MQTT client
// that shares no code with Cairn.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

const (
	sendTopic   = "cairn/v1/send"
	inboxPrefix = "cairn/v1/inbox/"
)

func TestMosquittoOfflineRecipientReceivesOnConnect(t *testing.T) {
	r := startRelay(t, t.TempDir())
	bob := relaytest.NewIdentity()
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 100)

	r.publish(t, e.Encode()) // anonymous, MQTT 3.1.1
	got := r.receiveRaw(t, bob, bob.Password())
	checkSame(t, got, e)
}

func TestMosquittoLiveRecipient(t *testing.T) {
	r := startRelay(t, t.TempDir())
	bob := relaytest.NewIdentity()
	sub := r.subscribe(t, bob, bob.Password(), "-V", "5")

	// mosquitto_sub buffers its -d output, so the SUBACK cannot be seen as it
	// comes. A first envelope, delivered from the store or live, shows that
	// the subscription is in place; the second is then delivered live.
	probe := relaytest.Message(bob.Tag, codec.PrioNormal, 10)
	r.publish(t, probe.Encode())
	checkSame(t, sub.next(t), probe)

	e := relaytest.Message(bob.Tag, codec.PrioUrgent, 300)
	if rc := r.publish5(t, e.Encode()); rc != 0 {
		t.Fatalf("PUBACK reason %#x, want 0", rc)
	}
	checkSame(t, sub.next(t), e)
}

func TestMosquittoRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*relayProc)
	}{
		{"SIGTERM", (*relayProc).stop},
		{"SIGKILL", (*relayProc).kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			r := startRelay(t, data)
			bob := relaytest.NewIdentity()
			e := relaytest.Message(bob.Tag, codec.PrioBulk, 64)
			r.publish(t, e.Encode())
			tc.stop(r)

			r = startRelay(t, data)
			checkSame(t, r.receiveRaw(t, bob, bob.Password()), e)
		})
	}
}

func TestMosquittoReceiptDeletes(t *testing.T) {
	r := startRelay(t, t.TempDir())
	bob := relaytest.NewIdentity()
	e1 := relaytest.Message(bob.Tag, codec.PrioUrgent, 40)
	e2 := relaytest.Message(bob.Tag, codec.PrioNormal, 40)
	r.publish(t, e1.Encode())
	r.publish(t, e2.Encode())

	// Delivery deletes nothing: both again on a second connection.
	for range 2 {
		got := r.receiveHex(t, bob, 2)
		if len(got) != 2 || got[0].ID() != e1.ID() || got[1].ID() != e2.ID() {
			t.Fatalf("got %s, want [%s %s]", ids(got), e1.ID(), e2.ID())
		}
	}

	// A receipt for e1, published by anyone, leaves only e2: e1, urgent,
	// would come first.
	receipt := codec.SignReceipt(bob.Key, []codec.ID{e1.ID()}).Envelope(600, codec.PrioUrgent)
	if rc := r.publish5(t, receipt.Encode()); rc != 0 {
		t.Fatalf("receipt: PUBACK reason %#x, want 0", rc)
	}
	if got := r.receiveHex(t, bob, 1); got[0].ID() != e2.ID() {
		t.Fatalf("after a receipt for e1 got %s first, want %s", got[0].ID(), e2.ID())
	}

	// A receipt for e2 leaves nothing.
	receipt = codec.SignReceipt(bob.Key, []codec.ID{e2.ID()}).Envelope(600, codec.PrioUrgent)
	if rc := r.publish5(t, receipt.Encode()); rc != 0 {
		t.Fatalf("receipt: PUBACK reason %#x, want 0", rc)
	}
	if got := r.receiveHex(t, bob, 0); len(got) != 0 {
		t.Fatalf("after receipts for both got %s, want nothing", ids(got))
	}
}

func TestMosquittoAuthRefused(t *testing.T) {
	r := startRelay(t, t.TempDir())
	bob, mallory := relaytest.NewIdentity(), relaytest.NewIdentity()
	inbox := inboxPrefix + bob.Tag.String()
	connect := func(password string, extra ...string) cliResult {
		args := append([]string{"-u", bob.DID, "-P", password, "-t", inbox, "-q", "1", "-E"}, extra...)
		return r.run(t, "mosquitto_sub", args...)
	}
	refused := func(name string, res cliResult) {
		t.Helper()
		if res.code == 0 {
			t.Errorf("%s: connected (exit 0)", name)
		}
		if !strings.Contains(res.stderr, "not authorised") && !strings.Contains(res.stderr, "Bad User Name or Password") {
			t.Errorf("%s: exit %d without a refusal message: %q", name, res.code, res.stderr)
		}
	}

	refused("token signed by another key", connect(mallory.Password()))
	refused("token signed by another key, MQTT 5", connect(mallory.Password(), "-V", "5"))

	token := bob.Password()
	if res := connect(token); res.code != 0 {
		t.Fatalf("fresh token: exit %d: %s", res.code, res.stderr)
	}
	// Any stamp is good for a key never seen (no clock to compare with);
	// after one is accepted, only later ones are.
	refused("older token", connect(codec.SignAuthToken(bob.Key, 1)))
	refused("replayed token", connect(token))
	refused("replayed token, MQTT 5", connect(token, "-V", "5"))

	// The relay still serves bob with a fresh token.
	if res := connect(bob.Password()); res.code != 0 {
		t.Fatalf("fresh token after refusals: exit %d: %s", res.code, res.stderr)
	}
}

// subackRE matches mosquitto_sub -d's report of a SUBACK's first code.
var subackRE = regexp.MustCompile(`Subscribed \(mid: \d+\): (\d+)`)

func TestMosquittoOtherInboxRefused(t *testing.T) {
	r := startRelay(t, t.TempDir())
	bob, carol := relaytest.NewIdentity(), relaytest.NewIdentity()
	carolInbox := inboxPrefix + carol.Tag.String()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"another tag", []string{"-u", bob.DID, "-P", bob.Password(), "-t", carolInbox}},
		{"another tag, MQTT 5", []string{"-V", "5", "-u", bob.DID, "-P", bob.Password(), "-t", carolInbox}},
		{"wildcard", []string{"-V", "5", "-u", bob.DID, "-P", bob.Password(), "-t", inboxPrefix + "#"}},
		{"anonymous", []string{"-V", "5", "-t", carolInbox}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// -W is a bound: mosquitto_sub gives up at once when every
			// subscription is denied.
			res := r.run(t, "mosquitto_sub", append(tc.args, "-q", "1", "-d", "-W", "20")...)
			if !strings.Contains(res.stderr, "All subscription requests were denied") {
				t.Errorf("exit %d, no denial reported:\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
			}
			m := subackRE.FindStringSubmatch(res.stdout)
			if m == nil {
				t.Fatalf("no SUBACK in mosquitto_sub -d output:\n%s", res.stdout)
			}
			if code, _ := strconv.Atoi(m[1]); code < 0x80 {
				t.Errorf("SUBACK %#x, want a failure code (>= 0x80)", code)
			} else {
				t.Logf("SUBACK %#x", code)
			}
		})
	}
	// Carol, who owns the inbox, may subscribe.
	e := relaytest.Message(carol.Tag, codec.PrioNormal, 20)
	r.publish(t, e.Encode())
	checkSame(t, r.receiveRaw(t, carol, carol.Password()), e)
}

// A handful of the codec's bad-input catalogue, published with
// mosquitto_pub: MQTT 5 shows each refusal's reason code, MQTT 3.1.1 gets a
// plain PUBACK. Afterwards the relay still serves.
func TestMosquittoBadEnvelopesRefused(t *testing.T) {
	r := startRelay(t, t.TempDir())
	want := map[string]byte{
		"empty":                    0x99,
		"break-outside-indefinite": 0x99,
		"trailing-envelope":        0x99,
		"indefinite-array":         0x99,
		"kind-257":                 0x99,
		"text-body":                0x99,
		"long-ttl":                 0x99,
		"hops-256":                 0x99,
		"oversize":                 0x97,
		"receipt-bad-signature":    0x87,
		"receipt-for-another-tag":  0x87,
		"receipt-body-not-cbor":    0x99,
	}
	seen := 0
	for _, bad := range codectest.BadEnvelopes {
		code, ok := want[bad.Name]
		if !ok {
			continue
		}
		seen++
		t.Run(bad.Name, func(t *testing.T) {
			if rc := r.publish5(t, bad.Bytes()); rc != code {
				t.Errorf("PUBACK reason %#x, want %#x (%v)", rc, code, bad.Want)
			}
			// MQTT 3.1.1 has no reason codes: a plain PUBACK, and the
			// client stays unaware; the relay only logs the refusal.
			r.publish(t, bad.Bytes())
		})
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d catalogue entries named here; renamed?", seen, len(want))
	}

	bob := relaytest.NewIdentity()
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	if rc := r.publish5(t, e.Encode()); rc != 0 {
		t.Fatalf("valid envelope after bad ones: PUBACK reason %#x", rc)
	}
	if got := r.receiveHex(t, bob, 1); got[0].ID() != e.ID() {
		t.Fatalf("after bad input bob got %s, want %s", got[0].ID(), e.ID())
	}
}

// checkSame fails unless raw is sent as the relay delivers it: the same
// bytes except for ttl, which may only have gone down.
func checkSame(t *testing.T, raw []byte, sent *codec.Envelope) {
	t.Helper()
	got, err := codec.DecodeEnvelope(raw)
	if err != nil {
		t.Fatalf("delivered bytes do not decode: %v\n%x", err, raw)
	}
	if got.ID() != sent.ID() {
		t.Fatalf("delivered %s, want %s", got.ID(), sent.ID())
	}
	if got.TTL == 0 || got.TTL > sent.TTL {
		t.Errorf("delivered ttl %d, sent %d", got.TTL, sent.TTL)
	}
	// The decoder accepts only the deterministic encoding, so with ttl put
	// back the envelope must encode to exactly the bytes that were sent.
	got.TTL = sent.TTL
	if want := sent.Encode(); !bytes.Equal(got.Encode(), want) {
		t.Errorf("delivered\n%x\nsent\n%x", raw, want)
	}
}

func ids(es []*codec.Envelope) []codec.ID {
	out := make([]codec.ID, len(es))
	for i, e := range es {
		out[i] = e.ID()
	}
	return out
}

// mosquittoTool finds a Mosquitto command-line client. Without one the test
// is skipped, except under CI, where scripts/deps.sh must have installed it.
func mosquittoTool(t *testing.T, name string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if path := filepath.Join("/usr/bin", name); isExecutable(path) {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found; CI must install mosquitto-clients (scripts/deps.sh)", name)
	}
	t.Skipf("%s not found: apt-get install mosquitto-clients, or run `make deps`", name)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// cliResult is what a command-line client did.
type cliResult struct {
	stdout, stderr string
	code           int
}

// run runs a Mosquitto client against the relay and waits for it to exit.
func (p *relayProc) run(t *testing.T, tool string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*clientWait)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, mosquittoTool(t, tool), append([]string{"-h", p.host(), "-p", p.port()}, args...)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	res := cliResult{stdout: o.String(), stderr: e.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after %v\nstdout: %s\nstderr: %s", tool, strings.Join(args, " "), 2*clientWait, res.stdout, res.stderr)
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

// publish sends an envelope with mosquitto_pub at QoS 1, MQTT 3.1.1,
// anonymously, from a file, and fails unless it was acknowledged.
func (p *relayProc) publish(t *testing.T, envelope []byte) {
	t.Helper()
	file := writeTemp(t, envelope)
	if res := p.run(t, "mosquitto_pub", "-t", sendTopic, "-q", "1", "-f", file); res.code != 0 {
		t.Fatalf("mosquitto_pub: exit %d: %s", res.code, res.stderr)
	}
}

// pubackRE matches mosquitto_pub -d's report of a PUBACK.
var pubackRE = regexp.MustCompile(`received PUBACK \(Mid: \d+, RC:(\d+)\)`)

// publish5 sends an envelope with mosquitto_pub -V 5 at QoS 1 and returns
// the PUBACK's reason code.
func (p *relayProc) publish5(t *testing.T, envelope []byte) byte {
	t.Helper()
	file := writeTemp(t, envelope)
	res := p.run(t, "mosquitto_pub", "-V", "5", "-d", "-t", sendTopic, "-q", "1", "-f", file)
	m := pubackRE.FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("mosquitto_pub -V 5 -d: exit %d, no PUBACK:\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	code, _ := strconv.Atoi(m[1])
	return byte(code)
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "envelope-*.cbor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// receiveRaw reads one delivery to id's inbox with mosquitto_sub -N, which
// prints the payload as it is.
func (p *relayProc) receiveRaw(t *testing.T, id *relaytest.Identity, password string) []byte {
	t.Helper()
	res := p.run(t, "mosquitto_sub", "-u", id.DID, "-P", password, "-t", inboxPrefix+id.Tag.String(),
		"-q", "1", "-C", "1", "-W", strconv.Itoa(int(clientWait/time.Second)), "-N")
	if res.code != 0 {
		t.Fatalf("mosquitto_sub: exit %d: %s", res.code, res.stderr)
	}
	return []byte(res.stdout)
}

// quietSeconds is how long receiveHex listens when it expects nothing. It
// can only make a test pass wrongly, never fail wrongly, on a slow machine.
const quietSeconds = 2

// receiveHex collects the deliveries to id's inbox with mosquitto_sub,
// one hex line each. With n > 0 it waits for n; otherwise it listens for
// quietSeconds and returns whatever came.
func (p *relayProc) receiveHex(t *testing.T, id *relaytest.Identity, n int) []*codec.Envelope {
	t.Helper()
	args := []string{"-u", id.DID, "-P", id.Password(), "-t", inboxPrefix + id.Tag.String(), "-q", "1", "-F", "%x"}
	if n > 0 {
		args = append(args, "-C", strconv.Itoa(n), "-W", strconv.Itoa(int(clientWait/time.Second)))
	} else {
		args = append(args, "-W", strconv.Itoa(quietSeconds))
	}
	res := p.run(t, "mosquitto_sub", args...)
	const timedOut = 27 // mosquitto_sub's exit status when -W expires
	if res.code != 0 && !(n == 0 && res.code == timedOut) {
		t.Fatalf("mosquitto_sub: exit %d: %s", res.code, res.stderr)
	}
	var out []*codec.Envelope
	for _, line := range strings.Fields(res.stdout) {
		out = append(out, decodeHex(t, line))
	}
	if len(out) < n {
		t.Fatalf("mosquitto_sub -C %d printed %d envelopes:\n%s", n, len(out), res.stdout)
	}
	return out
}

func decodeHex(t *testing.T, line string) *codec.Envelope {
	t.Helper()
	raw, err := hex.DecodeString(line)
	if err != nil {
		t.Fatalf("mosquitto_sub printed %q: %v", line, err)
	}
	e, err := codec.DecodeEnvelope(raw)
	if err != nil {
		t.Fatalf("delivered envelope does not decode: %v\n%s", err, line)
	}
	return e
}

// liveSub is a mosquitto_sub -F %x running in the background. It flushes
// stdout after each message, so each arrives as it is delivered.
type liveSub struct {
	lines  chan string // stdout, line by line; closed at exit
	stderr *relaytest.LogBuffer
}

// subscribe starts mosquitto_sub on id's inbox; it is killed when the test
// ends.
func (p *relayProc) subscribe(t *testing.T, id *relaytest.Identity, password string, extra ...string) *liveSub {
	t.Helper()
	args := append([]string{"-h", p.host(), "-p", p.port(), "-u", id.DID, "-P", password,
		"-t", inboxPrefix + id.Tag.String(), "-q", "1", "-F", "%x"}, extra...)
	cmd := exec.Command(mosquittoTool(t, "mosquitto_sub"), args...)
	s := &liveSub{lines: make(chan string, 1000), stderr: new(relaytest.LogBuffer)}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return s
}

// next waits for one delivery and returns its bytes.
func (s *liveSub) next(t *testing.T) []byte {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			t.Fatalf("mosquitto_sub exited: %s", s.stderr)
		}
		raw, err := hex.DecodeString(l)
		if err != nil {
			t.Fatalf("mosquitto_sub printed %q: %v", l, err)
		}
		return raw
	case <-time.After(clientWait):
		t.Fatalf("mosquitto_sub: no delivery after %v: %s", clientWait, s.stderr)
		return nil
	}
}
