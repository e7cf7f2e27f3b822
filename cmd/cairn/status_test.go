package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/uplink"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// cairn status reaches a running relay through status.sock in its data
// directory and shows its uplink; with no relay it fails and says where it
// looked.
func TestStatusShowsUplink(t *testing.T) {
	broker := uplinktest.Mosquitto(t)
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "cairn.toml")
	if err := os.WriteFile(conf, []byte("[[uplink]]\nurl = \""+broker.URL()+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, data, "--config", conf)

	var rep statusReport
	deadline := time.Now().Add(clientWait)
	for {
		out, errOut, code := runCairn(t, "status", "--data", data, "--json")
		if code != 0 {
			t.Fatalf("cairn status --json: exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("cairn status --json: %v\n%s", err, out)
		}
		if len(rep.Uplinks) == 1 && rep.Uplinks[0].Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uplink not connected after %v: %+v", clientWait, rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, errOut, code := runCairn(t, "status", "--data", data)
	if code != 0 || !strings.Contains(out, "uplink:0 "+broker.URL()+": connected, MQTT 5; queued 0") {
		t.Fatalf("cairn status: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("cairn status:\n%s", out)

	r.stop()
	if _, errOut, code := runCairn(t, "status", "--data", data); code == 0 || !strings.Contains(errOut, "status.sock") {
		t.Errorf("cairn status with no relay: exit %d, %q", code, errOut)
	}
}

// With http.tls on, the text status gives the listener's URLs as https
// and the fingerprint of the relay's CA.
func TestPrintStatusHTTPS(t *testing.T) {
	rep := statusReport{Version: "v0.3.0", DataDir: "/var/lib/cairn", Uptime: "1m0s", HTTP: "[::]:8080", HTTPScheme: "https", HTTPCA: "AB:CD"}
	var b bytes.Buffer
	printStatus(&b, rep, time.Now())
	for _, want := range []string{"  metrics https://[::]:8080/metrics, status page https://[::]:8080/status\n", "  https CA (phones install it from /ca) SHA-256 AB:CD\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

// The text status shows per uplink the MQTT version (in use, or last
// spoken while disconnected), the resend counts and the tag sets
// subscribed for (served, watched, near), as --json does.
func TestPrintStatusUplinks(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rep := statusReport{Version: "v0.3.0", DataDir: "/var/lib/cairn", Uptime: "2h13m0s", Uplinks: []uplink.Status{
		{Link: "uplink:0", URL: "mqtts://a.example:8883", Connected: true, Protocol: "5",
			Queued: 2, QueuedBytes: 300, Published: 1298, Resent: 40, Resending: 7, Received: 88,
			Subscriptions: 64, ServedTags: 21, WatchedTags: 16, NearTags: 3, LastSuccess: now.Add(-3 * time.Second)},
		{Link: "uplink:1", URL: "mqtt://nats.example:1883", Protocol: "3.1.1",
			Published: 5, Resent: 1, Resending: 10000, ResendDropped: 12,
			LastError: "connection lost: EOF", LastErrorAt: now.Add(-time.Minute)},
		{Link: "uplink:2", URL: "ws://b.example:8080"},
	}}
	var b bytes.Buffer
	printStatus(&b, rep, now)
	out := b.String()
	for _, want := range []string{
		"  uplink:0 mqtts://a.example:8883: connected, MQTT 5; queued 2 (300 bytes); published 1298 (40 resent), received 88; resending 7; 64 subscriptions (21 served, 16 watched, 3 near tags); last success 3s ago\n",
		"  uplink:1 mqtt://nats.example:1883: disconnected (last MQTT 3.1.1); queued 0 (0 bytes); published 5 (1 resent), received 0; resending 10000 (12 dropped at the bound); 0 subscriptions (0 served, 0 watched, 0 near tags); last success never\n",
		"    last error 1m0s ago: connection lost: EOF\n",
		"  uplink:2 ws://b.example:8080: disconnected; queued 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
