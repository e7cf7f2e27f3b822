package uplink

import (
	"math/rand/v2"
	"time"
)

// backoff is a capped exponential wait with jitter: the n-th wait is drawn
// uniformly from [d/2, d] with d = min·2ⁿ capped at max, so that relays that
// lost the same broker at once do not return at once. The zero value is
// not usable; it is not safe for concurrent use.
type backoff struct {
	min, max time.Duration
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d < b.max {
		b.n++
	}
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }
