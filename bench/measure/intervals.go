package measure

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Summary describes a series of per-interval rates.
type Summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

// Summarize returns the min, median (the mean of the middle two for an even count), max and
// mean of xs; the zero Summary when xs is empty. xs is not modified.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return Summary{Min: s[0], Median: med, Max: s[len(s)-1], Mean: sum / float64(len(s))}
}

// Intervals turns a growing total into per-interval rates: Sample is called at the end of
// each interval with the running total and the time, and the rate over the interval since the
// previous sample is kept. Intervals shorter than half the nominal length (the tail of a run
// cut short) are dropped, so they do not drag the minimum down.
type Intervals struct {
	nominal time.Duration
	last    float64
	lastAt  time.Time
	started bool
	rates   []float64
}

// NewIntervals returns Intervals whose nominal length is every (1s in weir bench).
func NewIntervals(every time.Duration) *Intervals { return &Intervals{nominal: every} }

// Start sets the baseline total at t.
func (iv *Intervals) Start(total float64, t time.Time) {
	iv.last, iv.lastAt, iv.started = total, t, true
}

// Sample closes the interval ending at t with the given running total and returns its rate
// per second (ok false when the interval was too short to count, or Start was not called).
func (iv *Intervals) Sample(total float64, t time.Time) (rate float64, ok bool) {
	if !iv.started {
		iv.Start(total, t)
		return 0, false
	}
	d := t.Sub(iv.lastAt)
	delta := total - iv.last
	iv.last, iv.lastAt = total, t
	if d <= 0 || d < iv.nominal/2 {
		return 0, false
	}
	rate = delta / d.Seconds()
	iv.rates = append(iv.rates, rate)
	return rate, true
}

// Rates returns the rates kept so far.
func (iv *Intervals) Rates() []float64 { return slices.Clone(iv.rates) }

// Summary summarises the rates kept so far.
func (iv *Intervals) Summary() Summary { return Summarize(iv.rates) }

// Counter is a running total that many goroutines add to and one sampler reads.
type Counter struct{ v atomic.Int64 }

// Add adds n.
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Load returns the total.
func (c *Counter) Load() int64 { return c.v.Load() }

// Round rounds x to d decimal places, for result files people read.
func Round(x float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(x*p) / p
}
