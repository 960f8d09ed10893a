package opensearch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Breaker states, as OnStateChange reports them.
const (
	BreakerClosed   = "closed"
	BreakerHalfOpen = "half-open"
	BreakerOpen     = "open"
)

// Outcomes handed to gobreaker: it counts a nil error as a success.
var (
	errNodeFailed = errors.New("opensearch request failed")
	errExcluded   = errors.New("request ended by shutdown")
)

// Breaker is the circuit breaker around bulk requests (sony/gobreaker underneath). It counts
// each request's outcome, opens on sustained failure, and then holds every bulk request
// until one probe finds the node answering again:
//
//   - closed: requests go; connection errors, timeouts and 5xx answers count as failures,
//     any other answer as a success (429 is throttling, which the adaptive limiter handles;
//     401/403 and other 4xx are configuration, not node health).
//   - open: no request goes. Senders wait on a channel closed at the next transition: they
//     do not poll, do not back off and spend no retry budget, and their batches stay
//     queued behind them, so nothing is lost.
//   - half-open, after cool_down: the breaker itself sends one GET / (the smallest request
//     there is, and one that needs no document) while bulk requests keep waiting. An
//     answer other than a 5xx closes it; a failure opens it for another cool_down.
//
// Each transition is one log line, the weir_breaker_state gauge and a count in
// weir_breaker_transitions_total{to}, and is passed to the OnStateChange listeners (the
// daemon pauses the pipeline while the breaker is not closed).
type Breaker struct {
	cfg   BreakerConfig
	cb    *gobreaker.TwoStepCircuitBreaker[struct{}]
	probe func(ctx context.Context) (status int, err error)
	// probeTimeout bounds one probe.
	probeTimeout time.Duration
	log          *slog.Logger
	m            *metrics

	// tripCounts is what tripped the breaker, for the log line. Written in readyToTrip and
	// read in stateChanged, both called by gobreaker with its own mutex held.
	tripCounts gobreaker.Counts

	// mu guards state, changed, listeners, timer and closed. gobreaker calls stateChanged
	// with its mutex held, and stateChanged takes mu: so mu is never held while calling
	// into gobreaker.
	mu        sync.Mutex
	state     gobreaker.State
	changed   chan struct{} // closed and replaced at every transition
	listeners []func(from, to string)
	timer     *time.Timer
	closed    bool

	ctx    context.Context // ends probes at close
	cancel context.CancelFunc
	probes sync.WaitGroup
}

func newBreaker(cfg BreakerConfig, probe func(context.Context) (int, error), probeTimeout time.Duration, log *slog.Logger, m *metrics) *Breaker {
	b := &Breaker{cfg: cfg, probe: probe, probeTimeout: probeTimeout, log: log, m: m, changed: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	bucket := max(cfg.Window/10, time.Millisecond)
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "opensearch",
		MaxRequests: 1, // one probe while half-open
		Interval:    cfg.Window,
		// A rolling window in tenths: a burst of failures does not vanish at a fixed
		// boundary, and old successes age out.
		BucketPeriod:  bucket,
		Timeout:       cfg.CoolDown,
		ReadyToTrip:   b.readyToTrip,
		OnStateChange: b.stateChanged,
		IsExcluded:    func(err error) bool { return errors.Is(err, errExcluded) },
	})
	m.breakerState.Set(0)
	return b
}

func (b *Breaker) readyToTrip(c gobreaker.Counts) bool {
	finished := c.TotalSuccesses + c.TotalFailures
	trip := int64(c.ConsecutiveFailures) >= int64(b.cfg.ConsecutiveFailures) ||
		int64(finished) >= int64(b.cfg.MinRequests) && float64(c.TotalFailures) >= b.cfg.FailureRatio*float64(finished)
	if trip {
		b.tripCounts = c
	}
	return trip
}

// stateChanged is gobreaker's OnStateChange; gobreaker's mutex is held.
func (b *Breaker) stateChanged(_ string, from, to gobreaker.State) {
	b.mu.Lock()
	b.state = to
	close(b.changed)
	b.changed = make(chan struct{})
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if to == gobreaker.StateOpen && !b.closed {
		b.timer = time.AfterFunc(b.cfg.CoolDown, b.halfOpen)
	}
	listeners := slices.Clone(b.listeners)
	b.mu.Unlock()

	b.m.breakerState.Set(float64(to)) // gobreaker's order: closed 0, half-open 1, open 2
	b.m.breakerTransitions.WithLabelValues(to.String()).Inc()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateClosed {
			c := b.tripCounts
			b.log.Warn("opensearch circuit breaker opened: bulk requests wait until a probe succeeds",
				"consecutive_failures", c.ConsecutiveFailures, "failures", c.TotalFailures,
				"requests", c.TotalSuccesses+c.TotalFailures, "window", b.cfg.Window, "cool_down", b.cfg.CoolDown)
		} else {
			b.log.Warn("opensearch circuit breaker probe failed: open again", "cool_down", b.cfg.CoolDown)
		}
	case gobreaker.StateHalfOpen:
		b.log.Info("opensearch circuit breaker half-open: probing with GET /")
	case gobreaker.StateClosed:
		b.log.Info("opensearch circuit breaker closed: bulk requests resume")
	}
	for _, l := range listeners {
		l(from.String(), to.String())
	}
}

// OnStateChange adds a listener called at every transition with the old and new state
// (BreakerClosed, BreakerHalfOpen, BreakerOpen), in order. It runs inside the transition:
// it must be quick and must not call the Breaker.
func (b *Breaker) OnStateChange(f func(from, to string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listeners = append(b.listeners, f)
}

// State is the current state: BreakerClosed, BreakerHalfOpen or BreakerOpen.
func (b *Breaker) State() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.String()
}

// Check is a readiness check: it fails unless the breaker is closed.
func (b *Breaker) Check(context.Context) error {
	if st := b.State(); st != BreakerClosed {
		return fmt.Errorf("opensearch circuit breaker is %s: bulk requests are held until OpenSearch answers again", st)
	}
	return nil
}

// Wrap returns next behind the breaker: Send waits while the breaker is not closed (until
// ctx ends), then sends and counts the outcome.
func (b *Breaker) Wrap(next Sender) Sender {
	return SenderFunc(func(ctx context.Context, body, buf []byte) (Response, error) {
		done, err := b.admit(ctx)
		if err != nil {
			return Response{}, err
		}
		resp, err := next.Send(ctx, body, buf)
		done(outcome(ctx, resp.Status, err))
		return resp, err
	})
}

// admit waits until the breaker is closed and lets the request through.
func (b *Breaker) admit(ctx context.Context) (func(error), error) {
	for {
		b.mu.Lock()
		st, changed := b.state, b.changed
		b.mu.Unlock()
		if st == gobreaker.StateClosed {
			// A refusal here means the state moved since it was read, and so changed is
			// already closed: the loop looks again, it does not spin.
			if done, err := b.cb.Allow(); err == nil {
				return done, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// outcome says what a request's result means for the node's health.
func outcome(ctx context.Context, status int, err error) error {
	switch {
	case err != nil && ctx.Err() != nil:
		return errExcluded // ended by shutdown, not by the node
	case err != nil:
		return fmt.Errorf("%w: %w", errNodeFailed, err)
	case status >= http.StatusInternalServerError:
		return fmt.Errorf("%w: status %d", errNodeFailed, status)
	}
	return nil
}

// halfOpen runs when cool_down has passed: it moves gobreaker to half-open (gobreaker
// changes state lazily, when asked) and sends the probe.
func (b *Breaker) halfOpen() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.probes.Add(1)
	b.mu.Unlock()
	defer b.probes.Done()

	if b.cb.State() != gobreaker.StateHalfOpen {
		// The timer fired at the very instant gobreaker's cool-down ends, which it does not
		// count as past: look again a moment later.
		b.mu.Lock()
		if !b.closed && b.state == gobreaker.StateOpen {
			b.timer = time.AfterFunc(time.Millisecond, b.halfOpen)
		}
		b.mu.Unlock()
		return
	}
	done, err := b.cb.Allow()
	if err != nil {
		return // a probe is already out
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.probeTimeout)
	status, perr := b.probe(ctx)
	cancel()
	done(outcome(b.ctx, status, perr))
}

// close stops probing; senders still waiting leave through their own contexts.
func (b *Breaker) close() {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	b.cancel()
	b.probes.Wait()
}
