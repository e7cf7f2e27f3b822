// Package floodlog logs events that a remote party can cause once per
// request — an envelope refused, a connection refused, an envelope evicted
// from a full inbox — as a summary line per interval instead of a line per
// event.
//
// A line per event lets one misbehaving client write a log line per packet:
// on a Raspberry Pi that is SD-card wear, and journald, past its rate limit
// (by default 10,000 lines in 30 s per service), drops every line of the
// service for the rest of the window, errors included. So the first event
// of a kind (level, summary message and reason) is logged at once with
// count=1; later ones are counted, and when the interval since the kind's
// last line has passed, one line gives how many happened since and the
// attributes of the last one, prefixed "last_". Every event is still logged
// at Debug, one line each.
package floodlog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the least time between two lines of one kind.
const DefaultInterval = 10 * time.Second

// Log summarizes events into a logger. It is safe for concurrent use.
type Log struct {
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex // guards kinds, timer and closed, and orders the lines
	kinds  map[kind]*tally
	timer  *time.Timer // writes counted events when their interval ends; nil when none waits
	closed bool
}

type kind struct {
	level           slog.Level
	summary, reason string
}

type tally struct {
	logged time.Time   // of the kind's last line; zero before the first
	count  uint64      // events since that line
	last   []slog.Attr // of the last event
}

// New returns a Log writing to log, with at least interval between two
// lines of a kind (DefaultInterval when 0).
func New(log *slog.Logger, interval time.Duration) *Log {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Log{log: log, interval: interval, kinds: make(map[kind]*tally)}
}

// Event records one event: msg and attrs (and the reason) at Debug, and the
// summary line at level as described in the package documentation.
func (l *Log) Event(level slog.Level, msg, summary, reason string, attrs ...slog.Attr) {
	ctx := context.Background()
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.LogAttrs(ctx, slog.LevelDebug, msg, append(attrs[:len(attrs):len(attrs)], slog.String("reason", reason))...)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := kind{level, summary, reason}
	t := l.kinds[k]
	if t == nil {
		t = &tally{}
		l.kinds[k] = t
	}
	t.count++
	t.last = attrs
	now := time.Now()
	if t.logged.IsZero() || now.Sub(t.logged) >= l.interval {
		l.write(k, t, now)
		return
	}
	l.schedule(t.logged.Add(l.interval).Sub(now))
}

// Close writes what is counted and not yet logged, at once, and stops the
// Log's timer. Events after Close are logged as before, but what they leave
// counted is written only by another Close.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	now := time.Now()
	for k, t := range l.kinds {
		if t.count > 0 {
			l.write(k, t, now)
		}
	}
}

// schedule makes sure a flush runs within d. l.mu is held.
func (l *Log) schedule(d time.Duration) {
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(d, l.flush)
	}
}

// flush writes the kinds whose interval has ended and schedules itself
// again for those still waiting.
func (l *Log) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	now := time.Now()
	next := time.Duration(-1)
	for k, t := range l.kinds {
		if t.count == 0 {
			continue
		}
		if wait := t.logged.Add(l.interval).Sub(now); wait > 0 {
			if next < 0 || wait < next {
				next = wait
			}
			continue
		}
		l.write(k, t, now)
	}
	if next >= 0 {
		l.schedule(next)
	}
}

// write logs k's line and starts its interval. l.mu is held.
func (l *Log) write(k kind, t *tally, now time.Time) {
	attrs := make([]slog.Attr, 0, len(t.last)+2)
	attrs = append(attrs, slog.String("reason", k.reason), slog.Uint64("count", t.count))
	for _, a := range t.last {
		attrs = append(attrs, slog.Attr{Key: "last_" + a.Key, Value: a.Value})
	}
	l.log.LogAttrs(context.Background(), k.level, k.summary, attrs...)
	t.logged, t.count, t.last = now, 0, nil
}
