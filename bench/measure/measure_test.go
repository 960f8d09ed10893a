package measure

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketBoundsContainValue(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1 << 20, 1<<40 + 12345, math.MaxUint64}
	for range 10000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	prev := -1
	for _, v := range slices.Sorted(slices.Values(values)) {
		i := bucket(v)
		require.Less(t, i, bucketCount, "value %d", v)
		require.GreaterOrEqual(t, i, prev, "buckets are monotonic in the value")
		prev = i
		lo, hi := bounds(i)
		require.LessOrEqual(t, lo, v)
		require.GreaterOrEqual(t, hi, v)
		// Precision: the bucket is at most 1/128 of its lower edge wide.
		if lo >= linearMax {
			require.LessOrEqual(t, float64(hi-lo+1)/float64(lo), 1.0/subCount+1e-12)
		}
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values func() []int64
		want   map[float64]int64 // quantile → exact answer
	}{
		{"empty", func() []int64 { return nil }, map[float64]int64{0.5: 0, 0.99: 0}},
		{"one value", func() []int64 { return []int64{42} }, map[float64]int64{0: 42, 0.5: 42, 0.999: 42, 1: 42}},
		{"uniform 1..100000", func() []int64 {
			v := make([]int64, 100000)
			for i := range v {
				v[i] = int64(i + 1)
			}
			return v
		}, map[float64]int64{0.5: 50000, 0.9: 90000, 0.99: 99000, 0.999: 99900, 1: 100000}},
		{"bimodal", func() []int64 {
			v := make([]int64, 0, 1000)
			for range 990 {
				v = append(v, 10*int64(time.Millisecond))
			}
			for range 10 {
				v = append(v, int64(time.Second))
			}
			return v
		}, map[float64]int64{0.5: 10 * int64(time.Millisecond), 0.99: 10 * int64(time.Millisecond), 0.999: int64(time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h Histogram
			for _, v := range tc.values() {
				h.Record(v)
			}
			for q, want := range tc.want {
				got := h.Quantile(q)
				assert.GreaterOrEqual(t, got, want, "q=%v is never under-reported", q)
				assert.InDelta(t, float64(want), float64(got), float64(want)/subCount+1, "q=%v within 1/128", q)
			}
		})
	}
}

func TestQuantileMatchesSortedSample(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	var h Histogram
	vals := make([]int64, 50000)
	for i := range vals {
		// Log-normal-ish latencies from 100µs to ~1s.
		vals[i] = int64(math.Exp(r.NormFloat64()*1.2+math.Log(5e6))) + 1e5
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		assert.InEpsilon(t, float64(exact), float64(got), 1.0/subCount, "q=%v", q)
	}
	assert.Equal(t, vals[0], h.Min())
	assert.Equal(t, vals[len(vals)-1], h.Max())
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	t.Parallel()
	var a, b, all Histogram
	for i := range int64(1000) {
		v := i * i * 37
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	assert.Equal(t, all.Count(), m.Count())
	assert.Equal(t, all.Min(), m.Min())
	assert.Equal(t, all.Max(), m.Max())
	assert.InDelta(t, all.Mean(), m.Mean(), 1e-6)
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		assert.Equal(t, all.Quantile(q), m.Quantile(q))
	}
	m.Reset()
	assert.Zero(t, m.Count())
	m.Record(-5)
	assert.Zero(t, m.Max(), "negative values count as 0")
}

func TestRecordDoesNotAllocate(t *testing.T) {
	var h Histogram
	allocs := testing.AllocsPerRun(1000, func() { h.RecordDuration(3 * time.Millisecond) })
	assert.Zero(t, allocs)
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{5}, Summary{5, 5, 5, 5}},
		{"odd", []float64{3, 1, 2}, Summary{1, 2, 3, 2}},
		{"even", []float64{4, 1, 3, 2}, Summary{1, 2.5, 4, 2.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tc.in)
			assert.Equal(t, tc.want, Summarize(tc.in))
			assert.Equal(t, in, tc.in, "input untouched")
		})
	}
}

func TestIntervals(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	iv := NewIntervals(time.Second)
	_, ok := iv.Sample(0, t0)
	assert.False(t, ok, "the first sample is the baseline")
	r, ok := iv.Sample(1000, t0.Add(time.Second))
	require.True(t, ok)
	assert.InDelta(t, 1000, r, 1e-9)
	r, ok = iv.Sample(4000, t0.Add(3*time.Second)) // a late tick: 3000 over 2 s
	require.True(t, ok)
	assert.InDelta(t, 1500, r, 1e-9)
	_, ok = iv.Sample(4100, t0.Add(3*time.Second+100*time.Millisecond))
	assert.False(t, ok, "a 100 ms tail is dropped")
	r, ok = iv.Sample(6100, t0.Add(4*time.Second+100*time.Millisecond))
	require.True(t, ok)
	assert.InDelta(t, 2000, r, 1e-9, "the dropped tail's documents are not lost from the next interval's baseline")
	assert.Equal(t, []float64{1000, 1500, 2000}, iv.Rates())
	assert.Equal(t, Summary{Min: 1000, Median: 1500, Max: 2000, Mean: 1500}, iv.Summary())
}

func TestCounterAndRound(t *testing.T) {
	t.Parallel()
	var c Counter
	c.Add(3)
	c.Add(4)
	assert.Equal(t, int64(7), c.Load())
	assert.Equal(t, 1.23, Round(1.2345, 2))
}
