package store

import (
	"context"
	"log/slog"
	"time"
)

// floodLogInterval is the least time between two Info lines of one kind
// of event that a client can cause once per request (an eviction per Put
// into a full tag, an auth key forgotten per new identity).
const floodLogInterval = 10 * time.Second

// floodLog summarizes events that arrive at request rate. The first event
// of a kind after a quiet interval is logged at once (count=1); later ones
// are counted and logged as one line per kind, at that kind's level, when
// the interval has passed since its last line, with the count and the
// attributes of the last event. Every event is also logged at Debug, one
// line each.
//
// A line per event would let one flooding sender write a log line per
// envelope: on a Raspberry Pi that is SD-card wear, and journald, past its
// rate limit (10,000 lines in 30 s by default), drops every line of the
// service — errors included — for the rest of the window.
//
// Only the committer goroutine uses a floodLog (in finish and at Close),
// so it has no lock.
type floodLog struct {
	log   *slog.Logger
	now   func() time.Duration
	kinds map[floodKind]*floodTally
}

// floodKind is one summarized line: its level, message and reason.
type floodKind struct {
	level       slog.Level
	msg, reason string
}

type floodTally struct {
	logged time.Duration // now() at the last Info line; meaningful when lines > 0
	lines  int
	count  uint64      // events since the last Info line
	last   []slog.Attr // of the last event
}

func newFloodLog(log *slog.Logger, now func() time.Duration) *floodLog {
	return &floodLog{log: log, now: now, kinds: make(map[floodKind]*floodTally)}
}

// event records one event. msg is the Debug line for one event, summary
// the line at level for several.
func (f *floodLog) event(level slog.Level, msg, summary, reason string, attrs ...slog.Attr) {
	if f.log.Enabled(context.Background(), slog.LevelDebug) {
		f.log.LogAttrs(context.Background(), slog.LevelDebug, msg, append(attrs, slog.String("reason", reason))...)
	}
	k := floodKind{level, summary, reason}
	t := f.kinds[k]
	if t == nil {
		t = &floodTally{}
		f.kinds[k] = t
	}
	t.count++
	t.last = attrs
}

// flush writes a line for every kind with events not yet logged whose
// interval has passed, or for all of them when force is set (Close).
func (f *floodLog) flush(force bool) {
	if len(f.kinds) == 0 {
		return
	}
	now := f.now()
	for k, t := range f.kinds {
		if t.count == 0 {
			if t.lines > 0 && now-t.logged >= floodLogInterval {
				delete(f.kinds, k) // quiet for an interval: the next event logs at once
			}
			continue
		}
		if !force && t.lines > 0 && now-t.logged < floodLogInterval {
			continue
		}
		attrs := make([]slog.Attr, 0, len(t.last)+2)
		attrs = append(attrs, slog.String("reason", k.reason), slog.Uint64("count", t.count))
		for _, a := range t.last {
			attrs = append(attrs, slog.Attr{Key: "last_" + a.Key, Value: a.Value})
		}
		f.log.LogAttrs(context.Background(), k.level, k.msg, attrs...)
		t.logged, t.lines, t.count, t.last = now, t.lines+1, 0, nil
	}
}
