package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/client"
	"github.com/cairnmesh/cairn/codec"
)

// Two identities in two --home directories talk through a real `cairn
// relay`, every step a fresh process: Bob is offline when Alice writes; the
// message arrives once; his receipt removes it from the relay; after a
// reply, Alice's next 20-byte text is an established-session message of 62
// bytes on the wire, and Bob's new process opens it from the persisted
// session. Each inbox sends the senders delivery notices (60 bytes, bulk),
// never shown, unless --notices=false.
func TestHandheldsEndToEnd(t *testing.T) {
	// A -race binary sleeps a second at exit unless told not to; eleven
	// runs of it would make that most of the test.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	p := startRelay(t, t.TempDir())
	relay := "mqtt://" + p.addr
	dir := t.TempDir()
	alice, bob := dir+"/alice", dir+"/bob"
	cairn := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCairn(t, args...)
		if code != 0 {
			t.Fatalf("cairn %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	cairn("id", "new", "--home", alice)
	cairn("id", "new", "--home", bob)
	aliceDID := field(t, cairn("id", "show", "--home", alice), "did")
	bobCard := field(t, cairn("id", "show", "--home", bob), "card")
	cairn("contact", "add", "--home", alice, "--name", "bob", bobCard)

	const first, second, reply = "hello from alice #1.", "hello from alice #2.", "hi alice, bob here"
	out := cairn("send", "--home", alice, "--relay", relay, "bob", first)
	if n := sentBytes(t, out); n != 159 {
		t.Errorf("first message (from a card: X3DH, no one-time prekey): %d bytes, want 159", n)
	}

	out = cairn("inbox", "--home", bob, "--relay", relay)
	if strings.Count(out, first) != 1 || !strings.Contains(out, aliceDID+": "+first) {
		t.Fatalf("Bob's inbox:\n%s\nwant the message once, from %s", out, aliceDID)
	}
	if out := cairn("inbox", "--home", bob, "--relay", relay); out != "" {
		t.Errorf("Bob's second inbox shows:\n%s\nwant nothing", out)
	}
	if held := rawInbox(t, p.addr, bob); len(held) != 0 {
		t.Errorf("after the receipt the relay still delivers %d envelopes to Bob", len(held))
	}

	cairn("send", "--home", bob, "--relay", relay, aliceDID, reply)
	if out := cairn("inbox", "--home", alice, "--relay", relay); out != "bob: "+reply+"\n" {
		t.Errorf("Alice's inbox:\n%q\nwant %q", out, "bob: "+reply+"\n")
	}

	out = cairn("send", "--home", alice, "--relay", relay, "bob", second)
	if n := sentBytes(t, out); n != 62 {
		t.Errorf("established-session message reported as %d bytes, want 62", n)
	}
	// Bob holds the message (normal) and Alice's delivery notice for his
	// reply (bulk, so after it): 0xFF 0x01 and one id, 18 bytes of
	// plaintext on the established session.
	held := rawInbox(t, p.addr, bob)
	sizes := make([]int, len(held))
	for i := range held {
		sizes[i] = len(held[i])
	}
	if len(held) != 2 || sizes[0] != 62 || sizes[1] != 60 {
		t.Errorf("the relay delivers envelopes of %v bytes to Bob, want the message of 62 and a notice of 60", sizes)
	}
	if e, err := codec.DecodeEnvelope(held[len(held)-1]); err != nil || e.Prio != codec.PrioBulk {
		t.Errorf("the notice is not bulk: %v %v", e, err)
	}
	out = cairn("inbox", "--home", bob, "--relay", relay)
	if out != aliceDID+": "+second+"\n" {
		t.Errorf("Bob's inbox after restarts (notices are never shown):\n%q\nwant %q", out, aliceDID+": "+second+"\n")
	}
	// Alice reads Bob's notices (for her first and second messages): shown
	// as nothing; with --notices=false Bob sends none for his next one.
	if out := cairn("inbox", "--home", alice, "--relay", relay); out != "" {
		t.Errorf("Alice's inbox with only delivery notices shows:\n%q", out)
	}
	if held := rawInbox(t, p.addr, alice); len(held) != 0 {
		t.Errorf("Alice's notices are still held: %d", len(held))
	}
	cairn("send", "--home", alice, "--relay", relay, "bob", first)
	cairn("inbox", "--home", bob, "--relay", relay, "--notices=false")
	if held := rawInbox(t, p.addr, alice); len(held) != 0 {
		t.Errorf("with --notices=false Bob sent %d envelopes to Alice", len(held))
	}
}

func field(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `:\s+(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s: in\n%s", name, out)
	}
	return m[1]
}

func sentBytes(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`: (\d+) bytes, id [0-9a-f]{32}\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cairn send printed %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// rawInbox reads home's inbox with a plain MQTT client, authenticated with
// the keystore's key, and returns the messages (kind 1) the relay holds,
// as their encoded bytes. To know the backlog is over it publishes a bulk
// marker to the inbox, which the relay delivers after everything older of
// higher or equal priority; then it acknowledges only the marker.
func rawInbox(t *testing.T, addr, home string) [][]byte {
	t.Helper()
	ks, err := client.OpenKeystore(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	stamp, err := ks.NextAuthStamp(time.Now())
	key := ks.Identity().SigningKey()
	ks.Close()
	if err != nil {
		t.Fatal(err)
	}
	tag := codec.TagOf(key.Public().(ed25519.PublicKey))
	got := make(chan []byte, 64)
	mc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID("raw-" + tag.String()).
		SetUsername(codec.FormatDIDKey(key.Public().(ed25519.PublicKey))).
		SetPassword(codec.SignAuthToken(key, stamp)).
		SetConnectTimeout(clientWait))
	if tok := mc.Connect(); !tok.WaitTimeout(clientWait) || tok.Error() != nil {
		t.Fatalf("raw connect: %v", tok.Error())
	}
	defer mc.Disconnect(100)
	if tok := mc.Subscribe("cairn/v1/inbox/"+tag.String(), 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Payload() }); !tok.WaitTimeout(clientWait) || tok.Error() != nil {
		t.Fatalf("raw subscribe: %v", tok.Error())
	}
	marker := &codec.Envelope{Kind: codec.KindMessage, To: tag, TTL: 60, Prio: codec.PrioBulk, Body: make([]byte, 16)}
	rand.Read(marker.Body)
	if tok := mc.Publish("cairn/v1/send", 1, false, marker.Encode()); !tok.WaitTimeout(clientWait) || tok.Error() != nil {
		t.Fatalf("raw publish: %v", tok.Error())
	}
	var held [][]byte
	deadline := time.After(clientWait)
	for {
		select {
		case raw := <-got:
			e, err := codec.DecodeEnvelope(raw)
			if err != nil {
				t.Fatal(err)
			}
			if e.ID() == marker.ID() {
				r := codec.SignReceipt(key, []codec.ID{marker.ID()}).Envelope(60, codec.PrioNormal)
				mc.Publish("cairn/v1/send", 1, false, r.Encode()).WaitTimeout(clientWait)
				return held
			}
			if e.Kind == codec.KindMessage {
				held = append(held, raw)
			}
		case <-deadline:
			t.Fatal("the marker never came back")
		}
	}
}
