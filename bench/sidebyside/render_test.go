package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnmesh/cairn/bench"
)

// TestRenderMediansAndRatios checks the table make bench prints: medians
// over rounds, Cairn / peer for every peer, mochi alone / Mosquitto, and no
// ratio of lost counts.
func TestRenderMediansAndRatios(t *testing.T) {
	brokers := []broker{{name: "Cairn", cairn: true}, {name: "Mosquitto"}, {name: mochiAlone}}
	w := workload{"1→1 QoS 1 saturation", bench.Config{Publishers: 1, Subscribers: 1, QoS: 1, Duration: time.Second}}
	res := func(msgs ...float64) []*bench.Result {
		var rs []*bench.Result
		for _, m := range msgs {
			// A broker that used 10 µs of CPU per envelope at 1,000 delivered.
			rs = append(rs, &bench.Result{Throughput: m, Delivered: 1000, BrokerCPU: 10 * time.Millisecond, Lost: 3})
		}
		return rs
	}
	results := map[string]map[string][]*bench.Result{
		"Cairn":     {w.name: res(100, 300, 200)}, // median 200
		"Mosquitto": {w.name: res(400, 500, 100)}, // median 400
		mochiAlone:  {w.name: res(100, 100, 800)}, // median 100
	}
	table := render(brokers, []workload{w}, results, 3, Machine{})
	var msgs, cpu, lost string
	for _, l := range strings.Split(table, "\n") {
		switch {
		case strings.Contains(l, "delivered msg/s"):
			msgs = l
		case strings.Contains(l, "broker CPU µs/msg"):
			cpu = l
		case strings.Contains(l, "| lost"):
			lost = l
		}
	}
	cells := func(l string) []string {
		f := strings.Split(strings.TrimSpace(l), "|")
		if len(f) < 2 {
			return nil
		}
		var c []string
		for _, x := range f[1 : len(f)-1] { // the row starts and ends with |
			c = append(c, strings.TrimSpace(x))
		}
		return c
	}
	// workload, metric, Cairn, Mosquitto, mochi, Cairn/Mosquitto, Cairn/mochi, mochi/Mosquitto
	if got, want := cells(msgs), []string{w.name, "delivered msg/s", "200", "400", "100", "0.50×", "2.00×", "0.25×"}; strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("msg/s row %q, want %q", got, want)
	}
	if got := cells(cpu); len(got) != 8 || got[2] != "10.0" || got[5] != "1.00×" {
		t.Errorf("CPU row %q, want 10.0 µs each and ratios 1.00×", got)
	}
	if got := cells(lost); len(got) != 8 || got[2] != "3" || got[5] != "—" || got[7] != "—" {
		t.Errorf("lost row %q, want counts and no ratios", got)
	}
	if !strings.Contains(table, "mochi alone/Mosquitto") {
		t.Error("no mochi alone/Mosquitto column")
	}
}
