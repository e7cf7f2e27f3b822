package relay_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/codec/codectest"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

const send = "cairn/v1/send"

func TestOfflineRecipientReceivesOnConnectUrgentFirst(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob := relaytest.NewIdentity()
	alice := v3(t, r, nil) // anonymous senders may publish

	bulk := relaytest.Message(bob.Tag, codec.PrioBulk, 20)
	normal1 := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	urgent := relaytest.Message(bob.Tag, codec.PrioUrgent, 20)
	normal2 := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	for _, e := range []*codec.Envelope{bulk, normal1, urgent, normal2} {
		publish3(t, alice, send, e.Encode())
	}

	in := subscribe3(t, v3(t, r, bob), bob)
	for _, want := range []*codec.Envelope{urgent, normal1, normal2, bulk} {
		got := in.next()
		if got.ID() != want.ID() || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("got %s (%s), want %s (%s)", got.ID(), got.Prio, want.ID(), want.Prio)
		}
		if got.TTL == 0 || got.TTL > want.TTL {
			t.Errorf("delivered ttl %d, sent %d", got.TTL, want.TTL)
		}
	}
	in.quiet()
}

func TestLiveDeliveryAndNoOtherInbox(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob, carol := relaytest.NewIdentity(), relaytest.NewIdentity()
	bobIn := subscribe3(t, v3(t, r, bob), bob)
	carolIn := subscribe3(t, v3(t, r, carol), carol)

	alice := v3(t, r, relaytest.NewIdentity())
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 100)
	publish3(t, alice, send, e.Encode())
	if got := bobIn.next(); got.ID() != e.ID() {
		t.Fatalf("bob got %s, want %s", got.ID(), e.ID())
	}
	carolIn.quiet()
}

func TestDeliveryDoesNotDeleteReceiptDoes(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob := relaytest.NewIdentity()
	alice := v3(t, r, nil)
	e1 := relaytest.Message(bob.Tag, codec.PrioNormal, 30)
	e2 := relaytest.Message(bob.Tag, codec.PrioNormal, 30)
	publish3(t, alice, send, e1.Encode())
	publish3(t, alice, send, e2.Encode())

	// Delivered, not acknowledged by a receipt: delivered again next time.
	c := v3(t, r, bob)
	in := subscribe3(t, c, bob)
	in.next()
	in.next()
	c.Disconnect(100)

	c = v3(t, r, bob)
	in = subscribe3(t, c, bob)
	in.next()
	in.next()
	in.quiet()

	// A receipt for e1 deletes it; e2 stays.
	receipt := codec.SignReceipt(bob.Key, []codec.ID{e1.ID()}).Envelope(600, codec.PrioUrgent)
	publish3(t, c, send, receipt.Encode())
	c.Disconnect(100)

	in = subscribe3(t, v3(t, r, bob), bob)
	if got := in.next(); got.ID() != e2.ID() {
		t.Fatalf("after receipt got %s, want only %s", got.ID(), e2.ID())
	}
	in.quiet()
	if s := r.Stats(); s.Receipts != 1 {
		t.Errorf("receipts applied = %d, want 1", s.Receipts)
	}
}

func TestRestartKeepsEnvelopes(t *testing.T) {
	cfg := relaytest.Config(t)
	r1, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.Serve(); err != nil {
		t.Fatal(err)
	}
	bob := relaytest.NewIdentity()
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 40)
	c := v3(t, r1, nil)
	publish3(t, c, send, e.Encode())
	c.Disconnect(0)
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}

	r2 := relaytest.Start(t, cfg)
	in := subscribe3(t, v3(t, r2, bob), bob)
	if got := in.next(); got.ID() != e.ID() {
		t.Fatalf("after restart got %s, want %s", got.ID(), e.ID())
	}
}

func TestManyEnvelopesFlowThroughTheWindow(t *testing.T) {
	cfg := relaytest.Config(t)
	cfg.MQTT.DeliveryWindow = 4
	r := relaytest.Start(t, cfg)
	bob := relaytest.NewIdentity()
	alice := v3(t, r, nil)
	const n = 300
	want := make([]codec.ID, n)
	toks := make([]pahov3.Token, n)
	for i := range n {
		e := relaytest.Message(bob.Tag, codec.PrioNormal, 50)
		want[i] = e.ID()
		toks[i] = alice.Publish(send, 1, false, e.Encode())
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	in := subscribe3(t, v3(t, r, bob), bob)
	seen := make(map[codec.ID]bool)
	for range n {
		seen[in.next().ID()] = true
	}
	for i, id := range want {
		if !seen[id] {
			t.Fatalf("envelope %d (%s) never delivered", i, id)
		}
	}
	in.quiet()
	if got := r.Stats().Delivered; got != n {
		t.Errorf("delivered counter %d, want %d", got, n)
	}
}

func TestDuplicateIsAcceptedOnce(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob := relaytest.NewIdentity()
	c := v5(t, r, nil, nil)
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	for range 3 {
		if code, reason := publish5(t, c, send, e.Encode()); code != 0 {
			t.Fatalf("reason %#x %s", code, reason)
		}
	}
	// Same id, different ttl and hops: still the same envelope.
	e.TTL, e.Hops = 10, 3
	if code, _ := publish5(t, c, send, e.Encode()); code != 0 {
		t.Fatalf("reason %#x", code)
	}
	if s := r.Store().Stats(); s.Count != 1 {
		t.Errorf("store holds %d, want 1", s.Count)
	}
	if s := r.Stats(); s.Accepted != 1 || s.Duplicates != 3 {
		t.Errorf("accepted %d duplicates %d, want 1 and 3", s.Accepted, s.Duplicates)
	}
}

// Every entry of the shared bad-input catalogue is refused with a reason
// code, nothing is stored, and the client stays connected and served.
func TestBadInputCatalogueRefused(t *testing.T) {
	r := relaytest.Start(t, nil)
	c := v5(t, r, nil, nil)
	for _, bad := range codectest.BadEnvelopes {
		t.Run(bad.Name, func(t *testing.T) {
			before := r.Store().Stats().Count
			code, reason := publish5(t, c, send, bad.Bytes())
			if code < 0x80 {
				t.Fatalf("accepted with reason code %#x", code)
			}
			if reason == "" {
				t.Errorf("reason code %#x without a reason string", code)
			}
			if got := r.Store().Stats().Count; got != before {
				t.Errorf("store count %d → %d", before, got)
			}
			if n := r.Stats().Refused[codec.Reason(bad.Want)]; n == 0 && codec.Reason(bad.Want) != "other" {
				t.Errorf("no refusal counted under %q: %v", codec.Reason(bad.Want), r.Stats().Refused)
			}
		})
	}
	// Still connected and served.
	e := relaytest.Message(relaytest.NewIdentity().Tag, codec.PrioNormal, 20)
	if code, reason := publish5(t, c, send, e.Encode()); code != 0 {
		t.Fatalf("valid envelope after bad ones: %#x %s", code, reason)
	}
}

func TestReceiptForeignOrForgedRefused(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob, mallory := relaytest.NewIdentity(), relaytest.NewIdentity()
	c := v5(t, r, nil, nil)
	e := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	publish5(t, c, send, e.Encode())

	// Mallory signs a receipt for Bob's envelope, addressed to Bob's tag.
	forged := codec.SignReceipt(mallory.Key, []codec.ID{e.ID()}).Envelope(60, codec.PrioNormal)
	forged.To = bob.Tag
	if code, reason := publish5(t, c, send, forged.Encode()); code != 0x87 {
		t.Errorf("forged receipt: reason %#x %q, want 0x87", code, reason)
	}
	// Mallory's own receipt naming Bob's envelope deletes nothing of Bob's.
	own := codec.SignReceipt(mallory.Key, []codec.ID{e.ID()}).Envelope(60, codec.PrioNormal)
	if code, _ := publish5(t, c, send, own.Encode()); code != 0 {
		t.Errorf("mallory's own receipt: reason %#x", code)
	}
	if _, ok, _ := r.Store().Get(e.ID()); !ok {
		t.Error("bob's envelope deleted by someone else's receipt")
	}
}

func TestAuthRefusals(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob := relaytest.NewIdentity()
	connect := func(user, pass string) error {
		o := pahov3.NewClientOptions().AddBroker("tcp://" + r.Addrs()["tcp"]).
			SetClientID(clientID("auth")).SetUsername(user).SetPassword(pass).SetAutoReconnect(false)
		c := pahov3.NewClient(o)
		tok := c.Connect()
		tok.WaitTimeout(wait)
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	good := bob.Password()
	if err := connect(bob.DID, good); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	if err := connect(bob.DID, good); err == nil {
		t.Error("replayed token accepted")
	}
	older := codec.SignAuthToken(bob.Key, 1)
	if err := connect(bob.DID, older); err == nil {
		t.Error("older token accepted")
	}
	other := relaytest.NewIdentity()
	if err := connect(bob.DID, other.Password()); err == nil {
		t.Error("token signed by another key accepted")
	}
	for _, bad := range codectest.BadAuthTokens {
		if bad.Username == "" {
			continue // no username is an anonymous client, allowed by design
		}
		if err := connect(bad.Username, bad.Password); err == nil {
			t.Errorf("%s: accepted", bad.Name)
		}
	}
	// MQTT 5 allows a password without a username; the relay does not.
	conn, err := net.Dial("tcp", r.Addrs()["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	c5 := paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: wait})
	ca, err := c5.Connect(context.Background(), &paho.Connect{ClientID: clientID("pw"), CleanStart: true, PasswordFlag: true, Password: []byte("secret")})
	if err == nil && ca.ReasonCode < 0x80 {
		t.Error("password without username accepted")
	}
	if s := r.Stats(); s.AuthFailed["stale_token"] < 2 || s.AuthFailed["bad_token"] < 1 {
		t.Errorf("auth failures not counted: %v", s.AuthFailed)
	}
	// The last accepted time survives a restart (checked in the store too).
	if err := connect(bob.DID, bob.Password()); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
}

func TestSubscribeOnlyOwnInbox(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob, carol := relaytest.NewIdentity(), relaytest.NewIdentity()
	c := v5(t, r, bob, nil)
	anon := v5(t, r, nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		client *paho.Client
		filter string
	}{
		{"another tag", c, "cairn/v1/inbox/" + carol.Tag.String()},
		{"wildcard", c, "cairn/v1/inbox/#"},
		{"everything", c, "#"},
		{"send", c, send},
		{"upper-case own tag", c, "cairn/v1/inbox/" + strings.ToUpper(bob.Tag.String())},
		{"anonymous own-looking", anon, "cairn/v1/inbox/" + bob.Tag.String()},
	} {
		sa, err := tc.client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: tc.filter, QoS: 1}}})
		if sa == nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if sa.Reasons[0] < 0x80 {
			t.Errorf("%s: granted %#x", tc.name, sa.Reasons[0])
		}
	}
	// Publishing anywhere but send is refused.
	if code, _ := publish5(t, c, "cairn/v1/inbox/"+carol.Tag.String(), relaytest.Message(carol.Tag, 1, 10).Encode()); code < 0x80 {
		t.Errorf("publish to an inbox accepted: %#x", code)
	}
}

func TestClientIDOfIdentityCannotBeTakenOver(t *testing.T) {
	r := relaytest.Start(t, nil)
	bob := relaytest.NewIdentity()
	id := clientID("victim")
	v3(t, r, bob, func(o *pahov3.ClientOptions) { o.SetClientID(id) })
	o := pahov3.NewClientOptions().AddBroker("tcp://" + r.Addrs()["tcp"]).SetClientID(id).SetAutoReconnect(false)
	c := pahov3.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(wait) && tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("anonymous client took over an identity's client id")
	}
	// The identity itself may reconnect with its id.
	v3(t, r, bob, func(o *pahov3.ClientOptions) { o.SetClientID(id) })
}

// A client sending nothing but garbage gets every envelope refused and
// counted, but costs the log a line per 10 s, not a line per packet.
func TestRefusalFloodIsSummarized(t *testing.T) {
	var logs relaytest.LogBuffer
	r, err := relay.New(relay.Options{Config: relaytest.Config(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		t.Fatal(err)
	}
	const n = 2_000
	garbage := []byte{0xff}
	_, decodeErr := codec.DecodeEnvelope(garbage)
	reason := codec.Reason(decodeErr)
	c := v3(t, r, nil)
	toks := make([]pahov3.Token, n)
	for i := range toks {
		toks[i] = c.Publish(send, 1, false, garbage)
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	if got := r.Stats().Refused[reason]; got != n {
		t.Errorf("refused under %q: %d, want %d", reason, got, n)
	}
	summaries := func() []string {
		var out []string
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, `level=WARN msg="envelopes refused" reason=`+reason+" ") {
				out = append(out, line)
			}
		}
		return out
	}
	if got := summaries(); len(got) < 1 || len(got) > 2 || !strings.Contains(got[0], " count=1 ") {
		t.Errorf("while flooding: %d summary lines, want the first at once and at most one more:\n%s", len(got), logs.String())
	}
	c.Disconnect(0)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range summaries() {
		_, count, _ := strings.Cut(line, " count=")
		k, _ := strconv.Atoi(strings.Fields(count)[0])
		total += k
	}
	if total != n {
		t.Errorf("summary lines count %d refusals, want %d:\n%s", total, n, logs.String())
	}
	if strings.Contains(logs.String(), `msg="envelope refused"`) {
		t.Error("a refusal logged on its own line at Info level")
	}
}
