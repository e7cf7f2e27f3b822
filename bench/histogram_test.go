package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	// Every value lies within its bucket, buckets are contiguous and
	// ordered, and a bucket is at most 1/256 of its values wide.
	for _, v := range []uint64{0, 1, 255, 256, 511, 512, 513, 1023, 1024, 1<<20 + 12345, 1<<40 - 1, math.MaxInt64, math.MaxUint64} {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		hi := bucketHigh(i)
		lo := uint64(0)
		if i > 0 {
			lo = bucketHigh(i-1) + 1
		}
		if v < lo || v > hi {
			t.Errorf("%d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= 512 && float64(hi-lo+1) > float64(lo)/256 {
			t.Errorf("bucket %d = [%d, %d] wider than 1/256 of %d", i, lo, hi, lo)
		}
	}
	for i := 1; i < numBuckets; i++ {
		if bucketOf(bucketHigh(i-1)+1) != i || bucketOf(bucketHigh(i)) != i {
			t.Fatalf("bucket %d is not contiguous with %d", i, i-1)
		}
	}
}

func TestQuantileSmallExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.01, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.991, 100}, {1, 100}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if h.Min() != 1 || h.Max() != 100 || h.Count() != 100 || h.Mean() != 50 {
		t.Errorf("min %v max %v count %d mean %v", h.Min(), h.Max(), h.Count(), h.Mean())
	}
}

func TestQuantileAgainstSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	var all []time.Duration
	for i := range 200_000 {
		// Log-normal around 1 ms, with a tail to seconds.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.5) * float64(time.Millisecond))
		all = append(all, d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	slices.Sort(all)
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := all[int(math.Ceil(q*float64(len(all))))-1]
		got := a.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/256 {
			t.Errorf("Quantile(%v) = %v, exact %v: off by more than 1/256", q, got, exact)
		}
	}
	if a.Max() != all[len(all)-1] || a.Min() != all[0] || a.Count() != uint64(len(all)) {
		t.Errorf("max %v min %v count %d, want %v %v %d", a.Max(), a.Min(), a.Count(), all[len(all)-1], all[0], len(all))
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h, e Histogram
	h.Merge(&e)
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Error("empty histogram reports values")
	}
	h.Record(-5)
	if h.Quantile(0.5) != 0 || h.Count() != 1 {
		t.Error("negative duration not counted as 0")
	}
}
