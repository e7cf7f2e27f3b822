package floodlog

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the Log's timer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the attributes after msg of each line at level with msg.
func lines(logs, level, msg string) []string {
	var out []string
	for line := range strings.Lines(logs) {
		if _, rest, ok := strings.Cut(line, " level="+level+` msg="`+msg+`" `); ok {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

var countRE = regexp.MustCompile(`count=(\d+)`)

// counted sums the counts of lines.
func counted(lines []string) (n int) {
	for _, l := range lines {
		c, _ := strconv.Atoi(countRE.FindStringSubmatch(l)[1])
		n += c
	}
	return n
}

func newTestLog(t *testing.T, level slog.Level, interval time.Duration) (*Log, *syncBuffer) {
	var buf syncBuffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})), interval)
	t.Cleanup(l.Close)
	return l, &buf
}

func evicted(l *Log, id string) {
	l.Event(slog.LevelInfo, "envelope evicted", "envelopes evicted", "quota_tag", slog.String("id", id))
}

func TestFirstAtOnceThenOneLinePerInterval(t *testing.T) {
	const interval = 200 * time.Millisecond
	l, buf := newTestLog(t, slog.LevelInfo, interval)
	start := time.Now()
	evicted(l, "a")
	if got := lines(buf.String(), "INFO", "envelopes evicted"); len(got) != 1 || got[0] != "reason=quota_tag count=1 last_id=a" {
		t.Fatalf("after the first event: %q", got)
	}
	for _, id := range []string{"b", "c", "d"} {
		evicted(l, id)
	}
	if got := lines(buf.String(), "INFO", "envelopes evicted"); len(got) != 1 {
		t.Fatalf("events within the interval were logged at once: %q", got)
	}
	// The timer writes the three when the interval ends, not before.
	deadline := time.Now().Add(5 * time.Second)
	for len(lines(buf.String(), "INFO", "envelopes evicted")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if elapsed := time.Since(start); elapsed < interval {
		t.Errorf("second line after %v, before the interval of %v", elapsed, interval)
	}
	if got := lines(buf.String(), "INFO", "envelopes evicted"); len(got) != 2 || got[1] != "reason=quota_tag count=3 last_id=d" {
		t.Fatalf("after the interval: %q", got)
	}
	// Quiet for an interval: the next one is logged at once again.
	time.Sleep(interval)
	evicted(l, "e")
	if got := lines(buf.String(), "INFO", "envelopes evicted"); len(got) != 3 || got[2] != "reason=quota_tag count=1 last_id=e" {
		t.Fatalf("after a quiet interval: %q", got)
	}
	if strings.Contains(buf.String(), "DEBUG") {
		t.Errorf("Debug lines at level Info:\n%s", buf)
	}
}

// Kinds are counted apart, and Close writes at once what is left.
func TestKindsAndClose(t *testing.T) {
	l, buf := newTestLog(t, slog.LevelInfo, time.Hour)
	evicted(l, "a")
	evicted(l, "b")
	l.Event(slog.LevelWarn, "envelope refused", "envelopes refused", "malformed", slog.String("client", "x"))
	l.Event(slog.LevelWarn, "envelope refused", "envelopes refused", "too_large", slog.String("client", "y"))
	l.Event(slog.LevelWarn, "envelope refused", "envelopes refused", "too_large", slog.String("client", "z"))
	l.Close()
	logs := buf.String()
	if got := lines(logs, "INFO", "envelopes evicted"); strings.Join(got, "|") != "reason=quota_tag count=1 last_id=a|reason=quota_tag count=1 last_id=b" {
		t.Errorf("evictions: %q", got)
	}
	got := lines(logs, "WARN", "envelopes refused")
	want := map[string]bool{
		"reason=malformed count=1 last_client=x": true,
		"reason=too_large count=1 last_client=y": true,
		"reason=too_large count=1 last_client=z": true,
	}
	if len(got) != len(want) {
		t.Fatalf("refusals: %q", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected refusal line %q", g)
		}
	}
}

// A flood from many goroutines costs a line per interval, every event is
// counted once, and Debug has each.
func TestFlood(t *testing.T) {
	const interval = 50 * time.Millisecond
	l, buf := newTestLog(t, slog.LevelDebug, interval)
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 2_500 {
				evicted(l, strconv.Itoa(g))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	l.Close()
	logs := buf.String()
	got := lines(logs, "INFO", "envelopes evicted")
	if n := counted(got); n != 20_000 {
		t.Errorf("lines count %d events, want 20000", n)
	}
	if most := 2 + int(elapsed/interval); len(got) > most {
		t.Errorf("%d lines in %v, want at most %d", len(got), elapsed, most)
	}
	if n := strings.Count(logs, `level=DEBUG msg="envelope evicted"`); n != 20_000 {
		t.Errorf("%d Debug lines, want 20000", n)
	}
}
