package uplink_test

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"

	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// Anyone on a shared broker can publish to the inbox topics a relay
// subscribes to. An envelope whose to is not the topic's tag is refused,
// acknowledged and not stored, the envelopes after it still arrive, and a
// flood of them costs the log a line per 10 s, not a line each.
func TestWrongTopicArrivalsRefused(t *testing.T) {
	b := uplinktest.Mosquitto(t)
	var logs relaytest.LogBuffer
	r, err := relay.New(relay.Options{Config: relayConfig(t, t.TempDir(), b.URL()), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(); err != nil {
		r.Close()
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			r.Close()
		}
	})
	bob, carol := relaytest.NewIdentity(), relaytest.NewIdentity()
	inbox := subscribe(t, r, bob)
	eventually(t, "subscribed upstream to bob's inbox", func() bool {
		s := status(r)
		return s.Connected && s.Subscriptions >= 2
	})

	intruder := pahov3.NewClient(pahov3.NewClientOptions().AddBroker("tcp://" + b.Addr()).
		SetClientID("intruder").SetAutoReconnect(false))
	if tok := intruder.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("connect to the broker: %v", tok.Error())
	}
	defer intruder.Disconnect(50)
	topic := "cairn/v1/inbox/" + bob.Tag.String()
	const n = 300
	toks := make([]pahov3.Token, n)
	for i := range toks {
		toks[i] = intruder.Publish(topic, 1, false, relaytest.Message(carol.Tag, codec.PrioNormal, 20).Encode())
	}
	genuine := relaytest.Message(bob.Tag, codec.PrioNormal, 20)
	toks = append(toks, intruder.Publish(topic, 1, false, genuine.Encode()))
	for _, tok := range toks {
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish to the broker: %v", tok.Error())
		}
	}
	eventually(t, "bob's envelope after the refused ones", func() bool { return inbox.has(genuine.ID()) })
	if got := r.Store().Stats().Count; got != 1 {
		t.Errorf("store holds %d envelopes, want 1 (bob's)", got)
	}

	summaries := func() (lines, count int) {
		for line := range strings.Lines(logs.String()) {
			_, rest, ok := strings.Cut(line, " count=")
			if !ok || !strings.Contains(line, `level=WARN msg="uplink arrivals refused" `) || !strings.Contains(line, " reason=wrong_topic ") {
				continue
			}
			k, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatalf("count in %q: %v", line, err)
			}
			lines, count = lines+1, count+k
		}
		return lines, count
	}
	if lines, _ := summaries(); lines < 1 || lines > 2 {
		t.Errorf("%d summary lines for %d refusals, want the first at once and at most one more:\n%s", lines, n, logs.String())
	}
	closed = true
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, count := summaries(); count != n {
		t.Errorf("summary lines count %d refusals, want %d:\n%s", count, n, logs.String())
	}
}
