package opensearch

import (
	"context"
	"sync"
	"time"

	"github.com/weir-ingest/weir/pipeline"
)

// AIMD constants. A 429 (on the request or on any item) halves the limit at once, as TCP does
// on loss: the write queue that refused is full now. Rising latency is a softer sign, read
// once the node has refused something in the last minute (see pushedBack): requests queue
// inside it before it refuses again, and two slow rounds in a row take a quarter off. A good
// round adds one back. Against a one-slot write queue, halving refused
// fewer documents than a quarter in 12 of 15 paired runs, and indexed faster in 10 of 15
// (bench/RESULTS.md, "Adaptive concurrency"): the window keeps its fraction, so halving 3
// still allows 2.
const (
	throttleDecrease = 0.5
	latencyDecrease  = 0.75
	// latencyRising: two rounds in a row whose mean latency is this many times the floor
	// shrink the limit. By Little's law, limit x (1 - floor/mean) requests are waiting
	// inside the node rather than being served: over 2x the floor, that is more than half.
	latencyRising = 2.0
	// maxQueued: a round grows the limit only while fewer than this many requests are
	// estimated to wait inside the node (TCP Vegas' alpha). At a limit of 2 that allows up
	// to 1.33x the floor, at 4 1.14x; between it and latencyRising the limit holds (neither
	// up nor down), so that noise does not saw it. Half a request rather than one: against
	// the one-slot write queue, growing while up to one waited took the limit on to 3 and 4
	// whenever a round at 2 or 3 came in fast, and each such probe cost a refused batch;
	// half refused half as many documents at the same rate (steady, 15 paired rounds), and
	// against a competing writer matched fixed 3 and 4's rate with under half their
	// refusals (bench/RESULTS.md, "Fourth look").
	maxQueued = 0.5
	// floorWindow: the latency floor is the lowest round mean of the last one to two
	// windows, so that it follows a node or a workload that became slower for good.
	floorWindow = time.Minute
	// minRound: a round is at least this many requests, so that at a limit of one or two a
	// single fast or slow request does not decide (nor set the floor).
	minRound = 4
	// maxProbeWait caps how many good rounds the limit waits, just under the limit that was
	// last throttled, before it tries that limit again.
	maxProbeWait = 16
	// paceGain spreads the requests a limit allows over the latency floor, as TCP paces its window
	// over the round trip: after a 429 (see pushbackHold), once the floor is known, a request goes
	// on the wire no sooner than floor / (paceGain x limit) after the one before. A write queue of
	// one slot refuses bursts, not load: requests sent back to back (two slots freed together, a
	// batch of retries) reach the node's write pool together, and the one behind a full queue is
	// refused though the node keeps up on average. Against the real node with a one-slot write
	// queue (bench/RESULTS.md, "Third look"), pacing took the default from 70.9k to 84.5k docs/s
	// with 4,000 refused documents instead of 5,000 (steady, median of 5), and from 51.7k to 53.8k
	// with 26,250 instead of 32,000 against a competing writer; a gain of 2 or 4 (sending faster
	// than the floor allows) helped less, and so did a fixed gap after each response, which lined
	// the waiting requests up to go at once.
	paceGain = 1.0
	// pushbackHold: pacing and the latency rules are answers to pushback, on only while the
	// node has throttled within this long (see pushedBack). Pacing a node that never refuses
	// cost 76% of the throughput: the null receiver of the side-by-side benchmark took 785k
	// docs/s unpaced and 187k paced, because its floor is well under a millisecond and Go's
	// timers do not wait less.
	pushbackHold = floorWindow
	// minPaceGap: a shorter gap is not waited for (see pushbackHold).
	minPaceGap = time.Millisecond
)

// sample is what one finished bulk request says about the node's capacity.
type sample struct {
	// took is how long the request was on the wire (not its wait for a slot or the breaker).
	took time.Duration
	// full: the batch was near its flush size. Only such requests' latencies are compared:
	// a small batch (a retry of a few refused items, a batch flushed by age) is fast for a
	// reason that has nothing to do with the node's load.
	full bool
	// throttled: answered 429, or some item was.
	throttled bool
	// failed: no usable answer (network, timeout, 5xx, another 4xx). It says nothing about
	// capacity, so it does not shrink the limit (the breaker deals with failing nodes), but a
	// round holding one does not grow it.
	failed bool
}

// limiter caps the bulk requests on the wire at a limit that moves, with adaptive on,
// between min and max by AIMD. A "round" is limit samples (at least minRound) from requests
// sent since the last change: one request per slot, the analogue of TCP's round trip.
// Samples from requests sent before a change describe the old limit and are not counted
// against the new one.
//
// As TCP does, it starts low and doubles the limit after each good round ("slow start")
// until the first shrink; from then on it adds one per good round. Starting at max instead
// would send max_in_flight requests at a node that may take two, and every one of them
// would come back refused before the first shrink took effect.
type limiter struct {
	min, max int
	adaptive bool
	clock    pipeline.Clock
	onChange func(limit int, why string) // called with mu held: must not call back
	// throttleCut is throttleDecrease, pace is paceGain (0: no pacing) and growQueued is
	// maxQueued; the benchmark compares other values.
	throttleCut, pace, growQueued float64

	// mu guards everything below.
	mu sync.Mutex
	// window is the limit before rounding: halving 3 leaves 1.5, which still allows 2, and
	// a quarter off 2 leaves 1.5 too; a second shrink takes either to 1. Whole-number
	// arithmetic would drop 3 to 1 at once, losing two thirds of the throughput at the low
	// limits a small write queue calls for.
	window   float64
	limit    int // window rounded, within [min, max]: the requests allowed in flight
	inFlight int
	// slowStart: no shrink yet, so a good round doubles the limit.
	slowStart bool
	// freed is closed and replaced when a slot frees or the limit grows: acquire waits on
	// it, so that a waiting sender neither polls nor misses a wake-up.
	freed     chan struct{}
	changedAt time.Time     // when the window last changed
	peak      int           // most slots in use in this round
	n         int           // samples in this round
	nFull     int           // ... of full batches
	sum       time.Duration // their latencies
	spoiled   bool          // a failure or a throttle in this round: it cannot grow the limit
	// slowRounds counts judged rounds in a row whose mean was over latencyRising x floor.
	slowRounds int
	floorCur   time.Duration // lowest saturated round mean in the current floor window (0: none)
	floorPrev  time.Duration // ... and in the one before it
	floorAt    time.Time     // start of the current floor window
	// ceiling is the limit at which the node last throttled (0: none since it was passed).
	// Growing back to it waits probeWait good rounds, doubled each time the node throttles
	// there again: a node whose capacity sits between two limits is probed ever less
	// often, instead of refusing a batch every few rounds.
	ceiling, probeWait, waited int
	lastSend                   time.Time // when the last request took its slot
	throttledAt                time.Time // the last 429 (zero: none yet)
}

func newLimiter(minimum, maximum int, adaptive bool, clock pipeline.Clock, onChange func(int, string)) *limiter {
	maximum = max(maximum, 1)
	minimum = min(max(minimum, 1), maximum)
	if !adaptive {
		minimum = maximum
	}
	t := clock.Now()
	return &limiter{
		min: minimum, max: maximum, adaptive: adaptive, clock: clock, onChange: onChange,
		throttleCut: throttleDecrease, pace: paceGain, growQueued: maxQueued, window: float64(minimum), limit: minimum, slowStart: adaptive, freed: make(chan struct{}), changedAt: t, floorAt: t,
	}
}

// acquire takes a slot, waiting while limit slots are in use and for the pacing gap, until
// ctx ends.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inFlight < l.limit {
			now := l.clock.Now()
			if wait := l.lastSend.Add(l.gap(now)).Sub(now); wait > 0 {
				// Several waiters may wake together: each looks again, and the first
				// takes the slot and moves lastSend for the others.
				l.mu.Unlock()
				if err := l.clock.Sleep(ctx, wait); err != nil {
					return err
				}
				continue
			}
			l.lastSend = now
			l.inFlight++
			l.peak = max(l.peak, l.inFlight)
			l.mu.Unlock()
			return nil
		}
		freed := l.freed
		l.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// gap is the least time between two requests taking a slot (see paceGain). It is 0 unless
// the node throttled within pushbackHold and a floor is known, and when it would be under
// minPaceGap. mu must be held.
func (l *limiter) gap(now time.Time) time.Duration {
	if !l.adaptive || l.pace <= 0 || !l.pushedBack(now) {
		return 0
	}
	if g := time.Duration(float64(l.lowestFloor()) / (l.pace * float64(l.limit))); g >= minPaceGap {
		return g
	}
	return 0
}

// pushedBack says whether the node throttled within pushbackHold: only then do pacing and the
// latency rules (maxQueued, latencyRising) apply; mu must be held.
//
// Latency alone cannot say where requests wait: in the node's queue, or for weir's own CPU
// (or the network). Against the null receiver of the side-by-side benchmark, where the load
// generator, weir and the receiver share two busy cores, every added request lengthens every
// request's latency (Little's law, whatever the bottleneck), so the latency rules took the
// limit down to 1 and held it there: 560k-660k docs/s where a fixed 4 did 800k-880k
// (bench/RESULTS.md, "Fourth look"). Until the node pushes back, good rounds take the limit to
// max_in_flight, what a fixed setting sends; after a 429, latency is read as the node's queue.
func (l *limiter) pushedBack(now time.Time) bool {
	return !l.throttledAt.IsZero() && now.Sub(l.throttledAt) <= pushbackHold
}

// release gives a slot back.
func (l *limiter) release() {
	l.mu.Lock()
	l.inFlight--
	l.wake()
	l.mu.Unlock()
}

// wake lets waiting acquirers look again; mu must be held.
func (l *limiter) wake() {
	close(l.freed)
	l.freed = make(chan struct{})
}

// current returns the limit and the slots in use.
func (l *limiter) current() (limit, inFlight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit, l.inFlight
}

// observe feeds one finished request into AIMD.
func (l *limiter) observe(s sample) {
	if !l.adaptive {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if s.throttled {
		l.throttledAt = now
	}
	if now.Add(-s.took).Before(l.changedAt) {
		// Sent under an older limit: it does not count towards this one's round. A throttle
		// still keeps this round from growing the limit (never add concurrency while being
		// throttled), but does not shrink it again: that was answered when it changed.
		if s.throttled {
			l.spoiled = true
		}
		return
	}
	if s.throttled {
		if l.ceiling > 0 && l.limit >= l.ceiling {
			l.probeWait = min(2*l.probeWait, maxProbeWait)
		} else {
			l.probeWait = max(l.probeWait, 1)
		}
		l.ceiling, l.waited = l.limit, 0
		l.shrink(now, l.throttleCut, "throttled")
		return
	}
	switch {
	case s.failed:
		l.spoiled = true
	case s.full:
		l.sum += s.took
		l.nFull++
	}
	l.n++
	if l.n < max(l.limit, minRound) {
		return
	}
	// The round is complete.
	if l.peak < l.limit || l.spoiled || l.nFull == 0 {
		// The limit is not what holds the sink back (then batches are small and their
		// latency says nothing of a full one's), a request failed or was throttled, or no
		// full batch tells the latency: hold.
		l.newRound(now, false)
		return
	}
	mean := l.sum / time.Duration(l.nFull)
	floor := l.floor(now, mean) // kept even when unused, so that it is known at the first 429
	judge := l.pushedBack(now)
	switch {
	case judge && float64(mean) > latencyRising*float64(floor):
		// One slow round (a GC pause, a merge, a busy neighbour on a shared host) is not
		// a trend: the limit shrinks when two judged rounds in a row are slow.
		if l.slowRounds++; l.slowRounds >= 2 {
			l.shrink(now, latencyDecrease, "latency")
		} else {
			l.newRound(now, false)
		}
	case (!judge || queued(l.limit, floor, mean) < l.growQueued) && l.limit < l.max:
		l.slowRounds = 0
		if l.ceiling > 0 && l.limit >= l.ceiling {
			// A good round at the limit that was throttled: the node takes it now.
			l.ceiling, l.probeWait = 0, max(l.probeWait/2, 1)
		}
		if l.ceiling > 0 && l.limit+1 >= l.ceiling && l.waited+1 < l.probeWait {
			l.waited++
			l.newRound(now, false)
			return
		}
		l.waited = 0
		why := "round"
		if l.slowStart {
			l.setWindow(2 * l.window)
			why = "slow_start"
		} else {
			l.setWindow(l.window + 1)
		}
		l.newRound(now, true)
		l.wake()
		l.onChange(l.limit, why)
	default:
		l.slowRounds = 0
		l.newRound(now, false)
	}
}

// queued estimates how many of limit requests wait inside the node rather than being served,
// from the round's mean latency and the floor (Little's law).
func queued(limit int, floor, mean time.Duration) float64 {
	if mean <= 0 || floor >= mean {
		return 0
	}
	return float64(limit) * (1 - float64(floor)/float64(mean))
}

// floor records a saturated round's mean and returns the lowest of the last one or two
// floor windows. mu must be held.
func (l *limiter) floor(now time.Time, mean time.Duration) time.Duration {
	if now.Sub(l.floorAt) >= floorWindow {
		l.floorPrev, l.floorCur, l.floorAt = l.floorCur, 0, now
	}
	if l.floorCur == 0 || mean < l.floorCur {
		l.floorCur = mean
	}
	return l.lowestFloor()
}

// lowestFloor is the lower of the current and the previous window's floor (0: none yet). mu
// must be held.
func (l *limiter) lowestFloor() time.Duration {
	f := l.floorCur
	if l.floorPrev > 0 && (f == 0 || l.floorPrev < f) {
		f = l.floorPrev
	}
	return f
}

// shrink multiplies the window by factor and starts a new round. mu must be held.
func (l *limiter) shrink(now time.Time, factor float64, why string) {
	l.slowStart, l.slowRounds = false, 0
	old := l.limit
	l.setWindow(l.window * factor)
	l.newRound(now, true)
	if l.limit != old {
		l.onChange(l.limit, why)
	}
}

// setWindow sets the window within [min, max] and the limit from it. mu must be held.
func (l *limiter) setWindow(w float64) {
	l.window = min(max(w, float64(l.min)), float64(l.max))
	l.limit = min(max(int(l.window+0.5), l.min), l.max)
}

// newRound starts counting a new round; changed says whether the limit moved, in which case
// requests sent before now no longer count. mu must be held.
func (l *limiter) newRound(now time.Time, changed bool) {
	if changed {
		l.changedAt = now
	}
	l.peak = l.inFlight
	l.n, l.nFull, l.sum, l.spoiled = 0, 0, 0, false
}
