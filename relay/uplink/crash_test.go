package uplink_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/relay/relaytest"
	"github.com/cairnmesh/cairn/relay/uplink/uplinktest"
)

// Relay A is killed with SIGKILL three times while it streams a backlog to
// the broker, each time with publishes awaiting their PUBACK. Nothing is
// lost; what A published but had not marked sent is published again, B's
// store drops the duplicates by id, and bob's application sees each
// message once.
func TestRelayKilledMidStream(t *testing.T) {
	const n = 3000
	broker := uplinktest.Mosquitto(t)
	b := startRelay(t, relayConfig(t, t.TempDir(), broker.URL()))
	bob := relaytest.NewIdentity()
	inbox := subscribe(t, b, bob)
	eventually(t, "B subscribed upstream", func() bool { return status(b).Subscriptions >= 2 })

	// A's backlog is queued while it cannot reach the broker.
	cfgA := relayConfig(t, t.TempDir(), "mqtt://127.0.0.1:"+uplinktest.FreePort(t))
	a := openRelay(t, cfgA)
	ids := queue(t, a, bob.Tag, n)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cfgA.Uplinks[0].URL = broker.URL()
	for kill := 1; kill <= 3; kill++ {
		child := startChild(t, cfgA)
		target := kill * n / 5
		eventually(t, "bob received more", func() bool { return inbox.count() >= target })
		child.kill()
		t.Logf("A killed with %d of %d at bob", inbox.count(), n)
	}
	startChild(t, cfgA)
	eventually(t, "bob received all", func() bool { return inbox.count() == n })
	for _, id := range ids {
		if !inbox.has(id) {
			t.Fatalf("bob lacks %s", id)
		}
	}
	if inbox.dups != 0 {
		t.Errorf("bob's application saw %d duplicates", inbox.dups)
	}
	t.Logf("B dropped %d duplicates resent after the kills", b.Stats().Duplicates)
}

// Three NATS nodes in one cluster, JetStream replicating the MQTT streams
// three ways; A talks to node 1, B to node 2, and node 3 is killed in the
// middle of the stream. Nothing is lost.
func TestNATSClusterNodeLost(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: not with -short")
	}
	const n = 2000
	nodes := uplinktest.NATSCluster(t, 3)
	a := startRelay(t, relayConfig(t, t.TempDir(), nodes[0].URL()))
	b := startRelay(t, relayConfig(t, t.TempDir(), nodes[1].URL()))
	bob := relaytest.NewIdentity()
	inbox := subscribe(t, b, bob)
	eventually(t, "B subscribed upstream", func() bool { return status(b).Subscriptions >= 2 })
	eventually(t, "A connected", func() bool { return status(a).Connected })

	start := time.Now()
	ids := queue(t, a, bob.Tag, n)
	eventually(t, "bob received some", func() bool { return inbox.count() >= n/5 })
	nodes[2].Kill()
	t.Logf("node 3 killed with %d of %d at bob", inbox.count(), n)
	eventually(t, "bob received all", func() bool { return inbox.count() == n })
	t.Logf("%d envelopes through the cluster in %v", n, time.Since(start).Round(time.Millisecond))
	for _, id := range ids {
		if !inbox.has(id) {
			t.Fatalf("bob lacks %s", id)
		}
	}
	if inbox.dups != 0 {
		t.Errorf("bob's application saw %d duplicates", inbox.dups)
	}
}

// TestMeasureUplink prints uplink throughput and catch-up time for a
// 10,000-envelope backlog, Mosquitto (MQTT 5 and 3.1.1, over TCP and
// WebSocket) and NATS side by side in one run, N rounds:
//
//	CAIRN_UPLINK_MEASURE=N go test -run TestMeasureUplink -v ./relay/uplink/
func TestMeasureUplink(t *testing.T) {
	if os.Getenv("CAIRN_UPLINK_MEASURE") == "" {
		t.Skip("set CAIRN_UPLINK_MEASURE=1 to measure")
	}
	const n = 10_000
	type row struct {
		name                string
		drained, delivered  time.Duration
		live, liveDelivered time.Duration
	}
	var rows []row
	tcp := func(b *uplinktest.Broker) string { return b.URL() }
	ws := func(b *uplinktest.Broker) string { return b.WSURL() }
	brokers := []struct {
		name, protocol string
		start          func(testing.TB) *uplinktest.Broker
		url            func(*uplinktest.Broker) string
	}{
		{"mosquitto 5", "5", uplinktest.Mosquitto, tcp},
		{"mosquitto 3.1.1", "3.1.1", uplinktest.Mosquitto, tcp},
		{"mosquitto ws 5", "5", uplinktest.MosquittoWebSockets, ws},
		{"mosquitto ws 3.1.1", "3.1.1", uplinktest.MosquittoWebSockets, ws},
		{"nats 3.1.1", "auto", uplinktest.NATS, tcp},
	}
	// CAIRN_UPLINK_MEASURE=N runs every broker N times, interleaved, so
	// that a change in the machine's load spreads over all of them.
	rounds, _ := strconv.Atoi(os.Getenv("CAIRN_UPLINK_MEASURE"))
	var runs []int
	for range max(rounds, 1) {
		for i := range brokers {
			runs = append(runs, i)
		}
	}
	t.Logf("load average at start: %s", loadAvg())
	for k, i := range runs {
		br := brokers[i]
		// A subtest, so that each run's broker and relays are gone
		// before the next starts.
		t.Run(fmt.Sprintf("%d/%s", k, br.name), func(t *testing.T) {
			broker := br.start(t)
			a, _, bob, inbox := twoRelaysAt(t, br.url(broker), "", br.protocol)
			// Catch-up: a backlog queued offline, then the broker returns.
			broker.Stop()
			eventually(t, "A sees the broker gone", func() bool { return !status(a).Connected })
			queue(t, a, bob.Tag, n)
			start := time.Now()
			broker.Start()
			eventually(t, "A drained", func() bool { return status(a).Queued == 0 })
			r := row{name: br.name, drained: time.Since(start)}
			eventually(t, "bob received all", func() bool { return inbox.count() == n })
			r.delivered = time.Since(start)
			// Live: the same number ingested while connected.
			start = time.Now()
			queue(t, a, bob.Tag, n)
			eventually(t, "A drained", func() bool { return status(a).Queued == 0 })
			r.live = time.Since(start)
			eventually(t, "bob received all", func() bool { return inbox.count() == 2*n })
			r.liveDelivered = time.Since(start)
			rows = append(rows, r)
		})
	}
	rate := func(d time.Duration) float64 { return n / d.Seconds() }
	t.Logf("%d envelopes of 40-byte bodies, max_inflight %d, one machine, loopback", n, 64)
	t.Logf("load average at end: %s", loadAvg())
	t.Logf("%-18s %22s %22s %26s", "broker", "catch-up: A drained", "catch-up: at bob (B)", "live ingest→A drained")
	for _, r := range rows {
		t.Logf("%-18s %10v %7.0f/s %10v %7.0f/s %12v %7.0f/s", r.name,
			r.drained.Round(time.Millisecond), rate(r.drained),
			r.delivered.Round(time.Millisecond), rate(r.delivered),
			r.live.Round(time.Millisecond), rate(r.live))
	}
}

// loadAvg returns the machine's load averages over 1, 5 and 15 minutes.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
