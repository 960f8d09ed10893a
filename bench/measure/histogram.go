// Package measure holds what a benchmark records while it runs: a log-linear latency
// histogram (HDR-like: constant relative precision over the whole range, fixed memory, no
// allocation per value) and per-interval rates summarised as min, median and max.
package measure

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: each power of two is split into 2^subBits linear buckets, so
// a value is reported to within 1/128 (0.8%) of itself.
const subBits = 7

const (
	subCount = 1 << subBits
	// linear values below 2*subCount are their own bucket (exact).
	linearMax = 2 * subCount
	// A uint64 has at most 64-subBits-1 shifted groups above the linear range.
	bucketCount = linearMax + (64-subBits-1)*subCount
)

// Histogram counts non-negative values (nanoseconds, for latencies) in log-linear buckets.
// The zero value is ready to use. It is not safe for concurrent use: give each goroutine its
// own and Merge them, which is what keeps recording free of locks.
type Histogram struct {
	counts [bucketCount]uint64
	n      uint64
	sum    float64
	min    uint64
	max    uint64
}

// bucket returns the index of v's bucket.
func bucket(v uint64) int {
	if v < linearMax {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // >= 1
	m := v >> shift                      // in [subCount, 2*subCount)
	return linearMax + (shift-1)*subCount + int(m-subCount)
}

// bounds returns the smallest and largest value bucket i holds.
func bounds(i int) (lo, hi uint64) {
	if i < linearMax {
		return uint64(i), uint64(i)
	}
	shift := (i-linearMax)/subCount + 1
	m := uint64(subCount + (i-linearMax)%subCount)
	lo = m << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	u := uint64(max(v, 0))
	h.counts[bucket(u)]++
	if h.n == 0 || u < h.min {
		h.min = u
	}
	if u > h.max {
		h.max = u
	}
	h.n++
	h.sum += float64(u)
}

// RecordDuration adds d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are the exact extremes recorded (0 when empty).
func (h *Histogram) Min() int64 { return int64(h.min) }

// Max is the largest value recorded.
func (h *Histogram) Max() int64 { return int64(h.max) }

// Mean is the exact mean (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value below or at which a fraction q of the values lie (q in [0,1]),
// as the upper edge of its bucket clamped to the recorded extremes, the convention of
// HdrHistogram's ValueAtQuantile: a p99 is never reported lower than it was. 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if math.IsNaN(q) || q <= 0 {
		return int64(h.min)
	}
	if q >= 1 {
		return int64(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bounds(i)
			return int64(min(max(hi, h.min), h.max))
		}
	}
	return int64(h.max)
}
