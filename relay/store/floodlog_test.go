package store

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFloodLog(t *testing.T) {
	var logs bytes.Buffer
	var now time.Duration
	f := newFloodLog(slog.New(slog.NewTextHandler(&logs, nil)), func() time.Duration { return now })
	evict := func(id string) {
		f.event(slog.LevelInfo, "envelope evicted", "envelopes evicted", "quota_tag", slog.String("id", id))
	}
	step := func(d time.Duration, want ...string) {
		t.Helper()
		now += d
		f.flush(false)
		if got := infoLines(logs.String(), "envelopes evicted"); !slices.Equal(got, want) {
			t.Fatalf("at %v: Info lines %q, want %q", now, got, want)
		}
	}

	evict("a")
	step(0, "reason=quota_tag count=1 last_id=a") // the first at once
	for _, id := range []string{"b", "c", "d"} {
		evict(id)
		step(time.Second, "reason=quota_tag count=1 last_id=a") // counted
	}
	step(floodLogInterval-3*time.Second, "reason=quota_tag count=1 last_id=a",
		"reason=quota_tag count=3 last_id=d") // one line for the interval
	step(floodLogInterval-time.Nanosecond, "reason=quota_tag count=1 last_id=a",
		"reason=quota_tag count=3 last_id=d") // nothing new: nothing written
	step(time.Nanosecond, "reason=quota_tag count=1 last_id=a",
		"reason=quota_tag count=3 last_id=d") // a quiet interval forgets the kind
	if len(f.kinds) != 0 {
		t.Errorf("%d kinds kept after a quiet interval", len(f.kinds))
	}
	evict("e")
	step(time.Millisecond, "reason=quota_tag count=1 last_id=a",
		"reason=quota_tag count=3 last_id=d", "reason=quota_tag count=1 last_id=e") // at once again

	// Kinds are counted apart, and Close's forced flush writes what is left.
	evict("f")
	f.event(slog.LevelWarn, "receipt not kept for links", "receipts not kept for links", "quota", slog.String("id", "g"))
	f.flush(false)
	if !strings.Contains(logs.String(), `level=WARN msg="receipts not kept for links" reason=quota count=1 last_id=g`) {
		t.Errorf("Warn kind not logged at once:\n%s", logs.String())
	}
	f.flush(true)
	if got := infoLines(logs.String(), "envelopes evicted"); got[len(got)-1] != "reason=quota_tag count=1 last_id=f" {
		t.Errorf("forced flush: Info lines %q", got)
	}
	if strings.Contains(logs.String(), "DEBUG") {
		t.Errorf("Debug lines written at Info level:\n%s", logs.String())
	}
}

// A flood of evictions costs the log one line per interval, and Debug still
// has every one.
func TestFloodLogDebugHasEveryEvent(t *testing.T) {
	var logs bytes.Buffer
	var now time.Duration
	f := newFloodLog(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), func() time.Duration { return now })
	for range 20_000 { // 20 s at 1,000 evictions/s
		f.event(slog.LevelInfo, "envelope evicted", "envelopes evicted", "quota_tag", slog.String("id", "x"))
		now += time.Millisecond
		f.flush(false)
	}
	if n := strings.Count(logs.String(), `level=DEBUG msg="envelope evicted" id=x reason=quota_tag`); n != 20_000 {
		t.Errorf("%d Debug lines, want 20000", n)
	}
	if got := len(infoLines(logs.String(), "envelopes evicted")); got != 2 { // at the start and 10 s later
		t.Errorf("%d Info lines for 20 s of evictions, want 2", got)
	}
}
