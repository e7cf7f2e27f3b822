package uplink

import (
	"testing"
	"time"
)

// With protocol "auto", a broker found to speak 3.1.1 only is spoken to in
// 3.1.1 for reprobeAfter; the first connection after that tries MQTT 5
// again, and a success forgets the fallback.
func TestFallbackReprobes(t *testing.T) {
	var f fallback
	t0 := time.Unix(1_000_000, 0)
	if f.only311(t0) || f.reprobing() {
		t.Fatal("a fresh uplink skips MQTT 5")
	}
	f.set(true, t0)
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{0, true}, {time.Minute, true}, {reprobeAfter - time.Second, true}, {reprobeAfter, false}, {3 * reprobeAfter, false}} {
		if got := f.only311(t0.Add(tc.after)); got != tc.want {
			t.Errorf("%v after the fallback: only311 = %v, want %v", tc.after, got, tc.want)
		}
	}
	if !f.reprobing() {
		t.Error("after a fallback, trying MQTT 5 is not a re-probe")
	}
	f.set(true, t0.Add(reprobeAfter)) // refused again: another hour
	if !f.only311(t0.Add(reprobeAfter + time.Minute)) {
		t.Error("refused again, but MQTT 5 is tried at once")
	}
	f.set(false, t0.Add(2*reprobeAfter))
	if f.only311(t0.Add(2*reprobeAfter)) || f.reprobing() {
		t.Error("MQTT 5 accepted, but the fallback is remembered")
	}
}
