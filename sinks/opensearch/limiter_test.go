package opensearch

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// step is one thing that happens to a limiter in a table test.
type step struct {
	hold    int           // acquire this many more slots (they stay held)
	free    int           // release this many
	advance time.Duration // move the clock
	obs     []sample      // then observe these, in order
	want    int           // the limit after the step (0: not checked)
}

// round is n samples of full batches that took d each.
func round(n int, d time.Duration) []sample {
	out := make([]sample, n)
	for i := range out {
		out[i] = sample{took: d, full: true}
	}
	return out
}

func TestLimiterAIMD(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	throttled := sample{took: 5 * ms, throttled: true}
	tests := []struct {
		name     string
		min, max int
		adaptive bool
		start    int // when set, the limit after slow start (0: a new limiter)
		// pushback: the node has just throttled before every step (a 429 to a request sent
		// under an older limit, which moves nothing), so that latency is judged.
		pushback bool
		steps    []step
		changes  []string // why the limit changed, in order
	}{
		{
			name: "disabled: always max", min: 1, max: 8, adaptive: false,
			steps: []step{{hold: 8, advance: time.Second, obs: []sample{throttled, throttled}, want: 8}},
		},
		{
			name: "slow start doubles until the first shrink", min: 1, max: 16, adaptive: true,
			steps: []step{
				{want: 1},
				{hold: 1, advance: time.Second, obs: round(3, 10*ms), want: 1}, // a round is at least minRound
				{obs: round(1, 10*ms), want: 2},
				{hold: 1, advance: time.Second, obs: round(4, 10*ms), want: 4},
				{hold: 2, advance: time.Second, obs: round(4, 10*ms), want: 8},
				{hold: 4, advance: time.Second, obs: []sample{throttled}, want: 4},
				{advance: time.Second, obs: round(4, 10*ms), want: 5},
			},
			changes: []string{"slow_start", "slow_start", "slow_start", "throttled", "round"},
		},
		{
			name: "throttling halves, once per change", min: 1, max: 16, adaptive: true, start: 16,
			steps: []step{
				{hold: 16, advance: time.Second, obs: []sample{throttled}, want: 8},
				// The other requests sent at 16 come back throttled too: already answered.
				{obs: []sample{throttled, throttled, throttled}, want: 8},
				// Sent after the change, and throttled again: halve again.
				{advance: 10 * ms, obs: []sample{throttled}, want: 4},
			},
			changes: []string{"throttled", "throttled"},
		},
		{
			name: "never below min, never above max", min: 3, max: 4, adaptive: true, start: 4,
			steps: []step{
				{hold: 4, advance: time.Second, obs: []sample{throttled}, want: 3},
				{advance: time.Second, obs: []sample{throttled}, want: 3},
				{advance: time.Second, obs: round(4, 10*ms), want: 4},
				{advance: time.Second, obs: round(4, 10*ms), want: 4},
			},
			changes: []string{"throttled", "round"},
		},
		{
			name: "the limit last throttled is probed ever less often", min: 1, max: 8, adaptive: true, start: 4,
			steps: []step{
				{hold: 4, advance: time.Second, obs: []sample{throttled}, want: 2},
				{advance: time.Second, obs: round(4, 10*ms), want: 3},
				{advance: time.Second, obs: round(4, 10*ms), want: 4}, // one good round under 4, then 4 again
				{advance: time.Second, obs: []sample{throttled}, want: 2},
				{advance: time.Second, obs: round(4, 10*ms), want: 3},
				{advance: time.Second, obs: round(4, 10*ms), want: 3}, // now two
				{advance: time.Second, obs: round(4, 10*ms), want: 4},
				{advance: time.Second, obs: []sample{throttled}, want: 2},
				{advance: time.Second, obs: round(4, 10*ms), want: 3},
				{advance: time.Second, obs: round(12, 10*ms), want: 3}, // now four
				{advance: time.Second, obs: round(4, 10*ms), want: 4},
				{advance: time.Second, obs: round(4, 10*ms), want: 5}, // 4 holds now: on
			},
			changes: []string{"throttled", "round", "round", "throttled", "round", "round", "throttled", "round", "round", "round"},
		},
		{
			name: "a saturated round with steady latency adds one", min: 1, max: 8, adaptive: true, start: 8,
			steps: []step{
				{hold: 8, advance: time.Second, obs: []sample{throttled}, want: 4},
				{advance: time.Second, obs: round(3, 10*ms), want: 4}, // not a whole round yet
				{obs: round(1, 10*ms), want: 5},
				{advance: time.Second, obs: round(5, 11*ms), want: 6}, // 0.45 requests queued
				{advance: time.Second, obs: round(6, 11*ms), want: 6}, // 0.55: hold
			},
			changes: []string{"throttled", "round", "round"},
		},
		{
			// Latency cannot say whether requests wait in the node or for weir's own CPU
			// until the node pushes back: before that, good rounds grow the limit to max.
			name: "before any 429, latency neither holds nor shrinks", min: 1, max: 6, adaptive: true, start: 2,
			steps: []step{
				{hold: 2, advance: time.Second, obs: round(4, 10*ms), want: 3},
				{hold: 1, advance: time.Second, obs: round(4, 25*ms), want: 4}, // 1.8 queued
				{hold: 1, advance: time.Second, obs: round(4, 50*ms), want: 5}, // 5x the floor
				{hold: 1, advance: time.Second, obs: round(5, 50*ms), want: 6},
				{hold: 1, advance: time.Second, obs: round(6, 50*ms), want: 6}, // max
				// A 429 halves the limit, and from then on latency counts: 6 x 0.5 = 3,
				// and 3 requests at 5x the floor is 2.4 queued.
				{advance: time.Second, obs: []sample{{took: 5 * ms, throttled: true}}, want: 3},
				{advance: time.Second, obs: round(4, 50*ms), want: 3},
				{advance: time.Second, obs: round(4, 50*ms), want: 2},
				// A minute after the 429, latency no longer counts.
				{advance: pushbackHold + time.Second, obs: round(4, 50*ms), want: 3},
			},
			changes: []string{"round", "round", "round", "round", "throttled", "latency", "round"},
		},
		{
			name: "not saturated: no growth", min: 1, max: 8, adaptive: true, start: 8,
			steps: []step{
				// 2 slots in use when the limit drops to 4, and no more after.
				{hold: 8, free: 6, advance: time.Second, obs: []sample{throttled}, want: 4},
				{advance: time.Second, obs: round(4, 10*ms), want: 4},
				{advance: time.Second, obs: round(4, 10*ms), want: 4},
			},
			changes: []string{"throttled"},
		},
		{
			name: "a failure or a late throttle in the round: no growth", min: 1, max: 8, adaptive: true, start: 8,
			steps: []step{
				{hold: 8, advance: time.Second, obs: []sample{throttled}, want: 4},
				{advance: time.Second, obs: append(round(3, 10*ms), sample{failed: true}), want: 4},
				// A throttle from a request sent before the change (took 5s) spoils the round.
				{advance: time.Second, obs: append(round(3, 10*ms), sample{took: 5 * time.Second, throttled: true}), want: 4},
				{obs: round(1, 10*ms), want: 4},
				{obs: round(4, 10*ms), want: 5},
			},
			changes: []string{"throttled", "round"},
		},
		{
			name: "rising latency takes a quarter off; a queue of a half or more holds", min: 1, max: 16, adaptive: true, start: 8, pushback: true,
			steps: []step{
				{hold: 8, advance: time.Second, obs: round(8, 10*ms), want: 9},
				{hold: 1, advance: time.Second, obs: round(9, 18*ms), want: 9},         // 1.8x the floor, 4 queued: hold
				{advance: time.Second, obs: round(9, 25*ms), want: 9},                  // 2.5x once: hold
				{advance: time.Second, obs: round(9, 25*ms), want: 7},                  // twice: 9 * 0.75 = 6.75
				{advance: time.Second, obs: round(7, 10500*time.Microsecond), want: 8}, // back near the floor: 0.33 queued
				{advance: time.Second, obs: round(8, 100*ms), want: 8},
				{advance: time.Second, obs: round(8, 18*ms), want: 8}, // slow, then not: no trend
				{advance: time.Second, obs: round(8, 100*ms), want: 8},
				{advance: time.Second, obs: round(8, 100*ms), want: 6}, // 7.75 * 0.75 = 5.8
			},
			changes: []string{"round", "latency", "round", "latency"},
		},
		{
			// The window keeps the fraction: 3 * 0.75 = 2.25 allows 2, 1.69 still 2, 1.27 one.
			name: "shrinks keep their fractions", min: 1, max: 8, adaptive: true, start: 2, pushback: true,
			steps: []step{
				{hold: 2, advance: time.Second, obs: round(4, 10*ms), want: 3},
				{hold: 1, advance: time.Second, obs: round(4, 25*ms), want: 3},
				{advance: time.Second, obs: round(4, 25*ms), want: 2},
				{advance: time.Second, obs: round(4, 25*ms), want: 2},
				{advance: time.Second, obs: round(4, 25*ms), want: 2},
				{advance: time.Second, obs: round(4, 25*ms), want: 2},
				{advance: time.Second, obs: round(4, 25*ms), want: 1},
			},
			changes: []string{"round", "latency", "latency"},
		},
		{
			name: "small batches do not set the floor", min: 1, max: 8, adaptive: true, start: 8,
			steps: []step{
				{hold: 8, advance: time.Second, obs: []sample{throttled}, want: 4},
				// Retries of a few refused items: fast, but not full batches. No full batch in
				// the round, so no judgement of latency and no growth.
				{advance: time.Second, obs: []sample{{took: ms}, {took: ms}, {took: ms}, {took: ms}}, want: 4},
				{advance: time.Second, obs: round(4, 30*ms), want: 5},
				{advance: time.Second, obs: round(5, 30*ms), want: 6},
			},
			changes: []string{"throttled", "round", "round"},
		},
		{
			name: "the floor forgets after two windows", min: 1, max: 16, adaptive: true, start: 8, pushback: true,
			steps: []step{
				{hold: 8, advance: time.Second, obs: round(8, 10*ms), want: 9},
				// The node became slower for good: 2.5x the old floor shrinks the limit...
				{hold: 1, advance: time.Second, obs: round(9, 25*ms), want: 9},
				{advance: time.Second, obs: round(9, 25*ms), want: 7},
				// ...while the 10ms floor is in the current or the previous window...
				{advance: floorWindow, obs: round(7, 25*ms), want: 7},
				{advance: time.Second, obs: round(7, 25*ms), want: 5}, // 6.75 * 0.75
				// ...and no longer: 25ms is the floor now, and the limit grows again.
				{advance: floorWindow, obs: round(5, 25*ms), want: 6},
			},
			changes: []string{"round", "latency", "latency", "round"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
			var changes []string
			l := newLimiter(tt.min, tt.max, tt.adaptive, clock, func(_ int, why string) { changes = append(changes, why) })
			if tt.start != 0 {
				l.window, l.limit, l.slowStart = float64(tt.start), tt.start, false
			}
			for i, s := range tt.steps {
				for range s.hold {
					// The limit only bounds new acquisitions; the test holds past it freely.
					l.mu.Lock()
					l.inFlight++
					l.peak = max(l.peak, l.inFlight)
					l.mu.Unlock()
				}
				for range s.free {
					l.release()
				}
				clock.advance(s.advance)
				if tt.pushback {
					l.mu.Lock()
					l.throttledAt = clock.Now()
					l.mu.Unlock()
				}
				for _, o := range s.obs {
					l.observe(o)
				}
				if s.want != 0 {
					limit, _ := l.current()
					require.Equal(t, s.want, limit, "after step %d", i)
				}
			}
			assert.Equal(t, tt.changes, changes)
		})
	}
}

func TestQueued(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tt := range []struct {
		limit       int
		floor, mean time.Duration
		want        float64
	}{
		{1, 10 * ms, 20 * ms, 0.5},
		{2, 10 * ms, 20 * ms, 1},
		{4, 10 * ms, 12500 * time.Microsecond, 0.8},
		{8, 10 * ms, 10 * ms, 0},
		{8, 10 * ms, 5 * ms, 0}, // a mean under the floor: nothing waits
		{8, 0, 0, 0},
	} {
		assert.InDelta(t, tt.want, queued(tt.limit, tt.floor, tt.mean), 1e-9, "%+v", tt)
	}
}

func TestLimiterAcquire(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	l := newLimiter(1, 2, true, clock, func(int, string) {})
	l.window, l.limit, l.slowStart = 2, 2, false
	ctx := context.Background()
	require.NoError(t, l.acquire(ctx))
	require.NoError(t, l.acquire(ctx))

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.acquire(short), context.DeadlineExceeded, "both slots are taken")

	got := make(chan error, 1)
	go func() { got <- l.acquire(ctx) }()
	select {
	case <-got:
		t.Fatal("acquired past the limit")
	case <-time.After(20 * time.Millisecond):
	}
	l.release()
	require.NoError(t, <-got, "a release wakes the waiter")

	// Throttled down to 1 with 2 held: a release does not let a third in...
	clock.advance(time.Second)
	l.observe(sample{took: time.Millisecond, throttled: true})
	limit, inFlight := l.current()
	require.Equal(t, [2]int{1, 2}, [2]int{limit, inFlight})
	l.release()
	go func() { got <- l.acquire(ctx) }()
	select {
	case <-got:
		t.Fatal("acquired past a lowered limit")
	case <-time.After(20 * time.Millisecond):
	}
	// ...but growing the limit does, after a good round of minRound requests.
	clock.advance(time.Second)
	for range minRound {
		l.observe(sample{took: time.Millisecond, full: true})
	}
	require.NoError(t, <-got, "a rise wakes the waiter")
	limit, inFlight = l.current()
	assert.Equal(t, [2]int{2, 2}, [2]int{limit, inFlight})
}

// TestLimiterPacing: after a 429, and once a floor is known, requests take their slots at
// least floor / limit apart; before either, after pushbackHold without a 429, for gaps under
// minPaceGap, and with adaptation off, they do not wait.
func TestLimiterPacing(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	l := newLimiter(1, 4, true, clock, func(int, string) {})
	l.window, l.limit, l.slowStart = 3, 3, false
	hold := func(n int) {
		for range n {
			require.NoError(t, l.acquire(ctx))
		}
	}
	releaseAll := func() {
		for _, inFlight := l.current(); inFlight > 0; inFlight-- {
			l.release()
		}
	}
	// A round of minRound at 10ms sets the floor (and grows the limit to 4); nothing has been
	// throttled yet.
	hold(3)
	clock.advance(time.Second)
	for range minRound {
		l.observe(sample{took: 10 * ms, full: true})
	}
	limit, _ := l.current()
	require.Equal(t, 4, limit)
	releaseAll()
	hold(3)
	assert.Empty(t, clock.waits(), "never throttled: no pacing")

	// A 429 (4 x 0.5 leaves a limit of 2) turns pacing on: 10ms / 2 apart.
	clock.advance(time.Second)
	l.observe(sample{took: 10 * ms, full: true, throttled: true})
	limit, _ = l.current()
	require.Equal(t, 2, limit)
	releaseAll()
	start := clock.Now()
	hold(2)
	assert.Equal(t, []time.Duration{5 * ms}, clock.waits(), "the second waits floor/limit")
	assert.Equal(t, start.Add(5*ms), clock.Now())

	// A request long after the last one does not wait.
	l.release()
	clock.advance(time.Second)
	hold(1)
	assert.Len(t, clock.waits(), 1)

	// A cancelled wait returns the context's error and takes no slot.
	l.release()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, l.acquire(cctx), context.Canceled)
	_, inFlight := l.current()
	assert.Equal(t, 1, inFlight)

	// pushbackHold after the last 429, pacing is off again.
	clock.advance(pushbackHold + time.Second)
	hold(1)
	assert.Len(t, clock.waits(), 2, "the cancelled wait, and nothing since")

	// A gap under minPaceGap is not waited for.
	releaseAll()
	l.observe(sample{took: ms, full: true, throttled: true})
	l.mu.Lock()
	l.floorCur, l.floorPrev, l.window, l.limit = ms, 0, 2, 2
	l.mu.Unlock()
	hold(2)
	assert.Len(t, clock.waits(), 2, "1ms / 2 is under minPaceGap")

	// Fixed concurrency never paces.
	fixed := newLimiter(1, 3, false, clock, func(int, string) {})
	fixed.observe(sample{took: 10 * ms, throttled: true})
	fixed.floorCur = 10 * ms
	for range 3 {
		require.NoError(t, fixed.acquire(ctx))
	}
	assert.Len(t, clock.waits(), 2)
}
