package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets, in the manner of
// HdrHistogram: values below 512 ns have a bucket each, and above that each
// power of two is split into 256 buckets, so a reported value is at most
// 1/256 (0.4 %) above the true one. Min, max, count and mean are exact.
// It covers every uint64 in 14,592 counters.
//
// The zero value is empty and ready to use. A Histogram is not safe for
// concurrent use; give each goroutine its own and Merge them.
type Histogram struct {
	counts   []uint64
	total    uint64
	min, max time.Duration
	sum      float64 // nanoseconds
}

const (
	subBits    = 8
	subBuckets = 1 << subBits                         // per power of two
	numBuckets = subBuckets + (64-subBits)*subBuckets // e runs 0…55
)

// bucketOf returns the index of the bucket holding v.
func bucketOf(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [256, 512)
	return subBuckets + e*subBuckets + int(v>>e) - subBuckets
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	e := (i - subBuckets) / subBuckets
	m := uint64((i-subBuckets)%subBuckets + subBuckets)
	return m<<e + (1<<e - 1)
}

// Record adds one duration; a negative one counts as 0.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(uint64(d))]++
	if h.total == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.total++
	h.sum += float64(d)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min and Max return the exact extremes; 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the exact mean; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the smallest
// recorded value v such that at least q of all values are ≤ v, rounded up
// to its bucket's top and never beyond Max. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketHigh(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
