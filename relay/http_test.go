package relay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/relaytest"
)

// get fetches path from the relay's HTTP listener.
func get(t *testing.T, r *relay.Relay, path string) (int, string, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, r *relay.Relay) map[string]*dto.MetricFamily {
	t.Helper()
	code, ctype, body := get(t, r, "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %q", code, ctype)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value is the sample of family name whose labels include want (name,
// value pairs); ok is false if there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(fams, name, labels...)
	if !ok {
		t.Fatalf("metric %s%v missing", name, labels)
	}
	return v
}

// Envelopes flow from a sender to a subscriber while /metrics is scraped:
// the counters and gauges move by exactly what happened.
func TestMetricsCountEnvelopes(t *testing.T) {
	r := relaytest.Start(t, nil)
	before := scrape(t, r)
	for _, name := range []string{"cairn_envelopes_accepted_total", "cairn_envelopes_delivered_total",
		"cairn_envelopes_evicted_total", "cairn_envelopes_expired_total", "cairn_store_envelopes",
		"cairn_store_bytes", "cairn_mqtt_clients_connected", "cairn_uptime_seconds"} {
		if v := mustValue(t, before, name); v != 0 && name != "cairn_uptime_seconds" {
			t.Errorf("%s = %v before any traffic", name, v)
		}
	}
	if v := mustValue(t, before, "cairn_ready"); v != 1 {
		t.Errorf("cairn_ready = %v while serving", v)
	}

	bob := relaytest.NewIdentity()
	alice := v3(t, r, nil)
	const n = 5
	var size int
	for range n {
		e := relaytest.Message(bob.Tag, codec.PrioNormal, 100)
		size += len(e.Encode())
		publish3(t, alice, send, e.Encode())
	}
	mid := scrape(t, r)
	if v := mustValue(t, mid, "cairn_envelopes_accepted_total"); v != n {
		t.Errorf("accepted = %v, want %d", v, n)
	}
	if v := mustValue(t, mid, "cairn_store_envelopes"); v != n {
		t.Errorf("store envelopes = %v, want %d", v, n)
	}
	if v := mustValue(t, mid, "cairn_store_bytes"); v < float64(size) {
		t.Errorf("store bytes = %v, want at least %d", v, size)
	}
	if v := mustValue(t, mid, "cairn_mqtt_clients_connected"); v != 1 {
		t.Errorf("clients connected = %v, want 1", v)
	}
	// Each publish waited for its PUBACK, so each had a commit of its own.
	if d := mustValue(t, mid, "cairn_store_commits_total") - mustValue(t, before, "cairn_store_commits_total"); d < n {
		t.Errorf("commits grew by %v over %d publishes acknowledged one at a time", d, n)
	}
	if runtime.GOOS == "linux" {
		// Not more: t.TempDir may be on tmpfs, which writes nothing.
		if d := mustValue(t, mid, "cairn_disk_written_bytes_total") - mustValue(t, before, "cairn_disk_written_bytes_total"); d < 0 {
			t.Errorf("disk written bytes went down by %v", -d)
		}
	}

	// Refused: garbage and a duplicate (counted as duplicate, not refused).
	c5 := v5(t, r, nil, nil)
	if code, _ := publish5(t, c5, send, []byte("not cbor")); code < 0x80 {
		t.Fatalf("garbage accepted: %#x", code)
	}
	in := subscribe3(t, v3(t, r, bob), bob)
	for range n {
		in.next()
	}
	deadline := time.Now().Add(wait)
	var after map[string]*dto.MetricFamily
	for {
		after = scrape(t, r)
		if v, _ := value(after, "cairn_envelopes_delivered_total"); v == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := mustValue(t, after, "cairn_envelopes_delivered_total"); v != n {
		t.Errorf("delivered = %v, want %d", v, n)
	}
	refused := after["cairn_envelopes_refused_total"]
	if refused == nil || len(refused.Metric) != 1 || refused.Metric[0].Counter.GetValue() != 1 {
		t.Errorf("refused: %v, want one reason counted once", refused)
	}
	if v := mustValue(t, after, "cairn_mqtt_clients_connected"); v != 3 {
		t.Errorf("clients connected = %v, want 3", v)
	}
	if v := mustValue(t, after, "cairn_uptime_seconds"); v <= mustValue(t, before, "cairn_uptime_seconds") {
		t.Errorf("uptime did not move: %v", v)
	}
}

// /healthz answers while the process runs; /readyz only between Serve and
// Close; /status is a readable page.
func TestHealthReadyStatus(t *testing.T) {
	cfg := relaytest.Config(t)
	r, err := relay.New(relay.Options{Config: cfg, Logger: relaytest.Logger(t), Version: "v9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	h := r.HTTPHandler()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("before Serve: %s = %d, want %d", path, rec.Code, want)
		}
	}
	if err := r.Serve(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, body := get(t, r, path); code != 200 {
			t.Errorf("%s = %d %q", path, code, body)
		}
	}
	code, ctype, page := get(t, r, "/status")
	if code != 200 || ctype != "text/html; charset=utf-8" {
		t.Fatalf("/status: %d %q", code, ctype)
	}
	for _, want := range []string{"v9.9.9-test", r.DID(), "Clients connected", "None configured: offline relay.", `name="viewport"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/status lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script") {
		t.Errorf("/status loads something from elsewhere or runs script")
	}
	if !strings.HasPrefix(r.DID(), "did:key:z6Mk") {
		t.Errorf("relay DID %q", r.DID())
	}
}

// Two relays on simulated air: the radio families carry frames, airtime
// against the budget and the signal of the last frame.
func TestMetricsRadio(t *testing.T) {
	rs := radioPair(t, nil)
	bob := relaytest.NewIdentity()
	publish3(t, v3(t, rs[0], nil), send, relaytest.Message(bob.Tag, codec.PrioNormal, 50).Encode())

	deadline := time.Now().Add(30 * time.Second)
	for {
		fams := scrape(t, rs[1])
		rx, _ := value(fams, "cairn_radio_frames_received_total", "link", "radio:0")
		acc, _ := value(fams, "cairn_envelopes_accepted_total")
		if rx > 0 && acc == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay B heard nothing: received %v frames, accepted %v", rx, acc)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a := scrape(t, rs[0])
	if v := mustValue(t, a, "cairn_radio_up", "link", "radio:0", "state", "ready"); v != 1 {
		t.Errorf("radio up = %v", v)
	}
	if v := mustValue(t, a, "cairn_radio_frames_sent_total", "link", "radio:0"); v < 1 {
		t.Errorf("frames sent = %v", v)
	}
	used := mustValue(t, a, "cairn_radio_airtime_used_seconds", "link", "radio:0")
	budget := mustValue(t, a, "cairn_radio_airtime_budget_seconds", "link", "radio:0")
	if used <= 0 || budget != 36 { // 1 % of an hour
		t.Errorf("airtime used %v of %v s, want > 0 of 36", used, budget)
	}
	if _, ok := value(a, "cairn_link_queue_envelopes", "link", "radio:0"); !ok {
		t.Error("no queue depth for radio:0")
	}
	b := scrape(t, rs[1])
	if v := mustValue(t, b, "cairn_radio_rssi_dbm", "link", "radio:0"); v != -97 {
		t.Errorf("rssi = %v, want -97", v)
	}
	if v := mustValue(t, b, "cairn_radio_snr_db", "link", "radio:0"); v != 6.5 {
		t.Errorf("snr = %v, want 6.5", v)
	}
	if _, _, page := get(t, rs[1], "/status"); !strings.Contains(page, "RSSI -97 dBm") {
		t.Errorf("/status lacks the radio's signal:\n%s", page)
	}
}
