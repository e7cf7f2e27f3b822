package uplink

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket: rate tokens per second, holding at most one
// second's worth. It is safe for concurrent use.
type limiter struct {
	rate float64 // tokens per second

	mu     sync.Mutex // guards tokens and last
	tokens float64
	last   time.Time
}

func newLimiter(perSecond int) *limiter {
	return &limiter{rate: float64(perSecond), tokens: float64(perSecond), last: time.Now()}
}

// wait takes one token, sleeping until there is one; false if ctx ended.
func (l *limiter) wait(ctx context.Context) bool {
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens--
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d == 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
