package opensearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeNode answers bulk requests and probes: up, or down with a connection error.
type fakeNode struct {
	down   atomic.Bool
	status atomic.Int64 // the status a bulk request gets while up (0: 200)
	bulks  atomic.Int64
	probes atomic.Int64
	// probeGate, when set, holds each probe until it is closed.
	probeGate chan struct{}
}

var errRefused = errors.New("dial tcp 127.0.0.1:9200: connect: connection refused")

func (n *fakeNode) Send(context.Context, []byte, []byte) (Response, error) {
	n.bulks.Add(1)
	if n.down.Load() {
		return Response{}, errRefused
	}
	st := int(n.status.Load())
	if st == 0 {
		st = http.StatusOK
	}
	return Response{Status: st}, nil
}

func (n *fakeNode) probe(ctx context.Context) (int, error) {
	n.probes.Add(1)
	if n.probeGate != nil {
		select {
		case <-n.probeGate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if n.down.Load() {
		return 0, errRefused
	}
	return http.StatusOK, nil
}

// transitions records what OnStateChange reports.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(from, to string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, from+"→"+to)
}

func (tr *transitions) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.got...)
}

func newTestBreaker(t *testing.T, mut func(*BreakerConfig)) (*Breaker, Sender, *fakeNode, *transitions, *metrics) {
	t.Helper()
	cfg := DefaultConfig().Breaker
	if mut != nil {
		mut(&cfg)
	}
	node := &fakeNode{}
	m := newMetrics(nil)
	b := newBreaker(cfg, node.probe, time.Second, quiet, m)
	tr := &transitions{}
	b.OnStateChange(tr.record)
	t.Cleanup(b.close)
	return b, b.Wrap(node), node, tr, m
}

// TestBreakerLifecycle walks every state with fake time: five failures open it; senders
// then wait without sending; a probe after cool_down fails and it opens again; once the
// node is back the next probe closes it and the waiting senders go.
func TestBreakerLifecycle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, send, node, tr, m := newTestBreaker(t, nil)
		ctx := context.Background()
		require.Equal(t, BreakerClosed, b.State())
		require.NoError(t, b.Check(ctx))

		node.down.Store(true)
		for range 5 {
			_, err := send.Send(ctx, nil, nil)
			require.ErrorIs(t, err, errRefused)
		}
		require.Equal(t, BreakerOpen, b.State(), "five consecutive failures open it")
		require.Error(t, b.Check(ctx), "not ready while open")
		assert.Equal(t, 2.0, testutil.ToFloat64(m.breakerState))

		// Three senders arrive while it is open: they wait, and nothing is sent.
		results := make(chan error, 3)
		for range 3 {
			go func() {
				resp, err := send.Send(ctx, nil, nil)
				if err == nil && resp.Status != http.StatusOK {
					err = fmt.Errorf("status %d", resp.Status)
				}
				results <- err
			}()
		}
		synctest.Wait()
		assert.EqualValues(t, 5, node.bulks.Load(), "no request goes while open")
		assert.Zero(t, node.probes.Load(), "no probe before cool_down")

		time.Sleep(b.cfg.CoolDown + time.Second)
		synctest.Wait()
		assert.EqualValues(t, 1, node.probes.Load(), "one probe per cool_down")
		assert.Equal(t, BreakerOpen, b.State(), "the probe failed")
		assert.EqualValues(t, 5, node.bulks.Load())

		node.down.Store(false)
		time.Sleep(b.cfg.CoolDown + time.Second)
		synctest.Wait()
		assert.EqualValues(t, 2, node.probes.Load())
		assert.Equal(t, BreakerClosed, b.State())
		for range 3 {
			require.NoError(t, <-results)
		}
		assert.EqualValues(t, 8, node.bulks.Load(), "the waiting senders went once it closed")
		require.NoError(t, b.Check(ctx))

		assert.Equal(t, []string{"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"}, tr.all())
		assert.Equal(t, 0.0, testutil.ToFloat64(m.breakerState))
		assert.Equal(t, 2.0, testutil.ToFloat64(m.breakerTransitions.WithLabelValues("open")))
		assert.Equal(t, 2.0, testutil.ToFloat64(m.breakerTransitions.WithLabelValues("half-open")))
		assert.Equal(t, 1.0, testutil.ToFloat64(m.breakerTransitions.WithLabelValues("closed")))
	})
}

// TestBreakerCountsOnlyNodeFailures: throttling, refusals and client errors are answers from
// a live node; only no answer, a timeout or a 5xx is a failure.
func TestBreakerCountsOnlyNodeFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		err    error
		trips  bool
	}{
		{name: "200 (whatever its items say)", status: 200},
		{name: "429 throttled", status: 429},
		{name: "401", status: 401},
		{name: "403", status: 403},
		{name: "400", status: 400},
		{name: "404", status: 404},
		{name: "413", status: 413},
		{name: "500", status: 500, trips: true},
		{name: "502", status: 502, trips: true},
		{name: "503", status: 503, trips: true},
		{name: "connection refused", err: errRefused, trips: true},
		{name: "timeout", err: context.DeadlineExceeded, trips: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _, _, _, _ := newTestBreaker(t, nil)
			send := b.Wrap(SenderFunc(func(context.Context, []byte, []byte) (Response, error) {
				if tt.err != nil {
					return Response{}, tt.err
				}
				return Response{Status: tt.status}, nil
			}))
			for range 20 {
				if b.State() != BreakerClosed {
					break
				}
				_, _ = send.Send(context.Background(), nil, nil)
			}
			want := BreakerClosed
			if tt.trips {
				want = BreakerOpen
			}
			assert.Equal(t, want, b.State())
		})
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	t.Parallel()
	b, send, node, _, _ := newTestBreaker(t, func(c *BreakerConfig) {
		c.ConsecutiveFailures, c.MinRequests, c.FailureRatio = 100, 10, 0.5
	})
	ctx := context.Background()
	for i := range 10 { // failure, success, failure, ...: never two failures in a row
		node.down.Store(i%2 == 0)
		_, _ = send.Send(ctx, nil, nil)
	}
	require.Equal(t, BreakerClosed, b.State(), "gobreaker judges the ratio when a request fails")
	node.down.Store(true)
	_, _ = send.Send(ctx, nil, nil)
	assert.Equal(t, BreakerOpen, b.State(), "6 of 11 failed")
}

// TestBreakerHalfOpenHoldsEveryBulk: while the probe is out, bulk requests keep waiting.
func TestBreakerHalfOpenHoldsEveryBulk(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, send, node, _, _ := newTestBreaker(t, nil)
		node.probeGate = make(chan struct{})
		ctx := context.Background()
		node.down.Store(true)
		for range 5 {
			_, _ = send.Send(ctx, nil, nil)
		}
		node.down.Store(false)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = send.Send(ctx, nil, nil)
		}()
		time.Sleep(b.cfg.CoolDown + time.Second)
		synctest.Wait()
		require.Equal(t, BreakerHalfOpen, b.State())
		assert.EqualValues(t, 1, node.probes.Load())
		assert.EqualValues(t, 5, node.bulks.Load(), "the probe is the one request while half-open")
		close(node.probeGate)
		<-done
		assert.Equal(t, BreakerClosed, b.State())
		assert.EqualValues(t, 6, node.bulks.Load())
	})
}

// TestBreakerWaitEndsWithContext: a sender waiting on an open breaker leaves when its
// context ends (the sink's hard stop), and that is not counted as a failure.
func TestBreakerWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, send, node, _, _ := newTestBreaker(t, nil)
		node.down.Store(true)
		for range 5 {
			_, _ = send.Send(context.Background(), nil, nil)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := send.Send(ctx, nil, nil)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.EqualValues(t, 5, node.bulks.Load())
		assert.Equal(t, BreakerOpen, b.State())
	})
}

func TestBreakerOutcome(t *testing.T) {
	t.Parallel()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	assert.NoError(t, outcome(live, 200, nil))
	assert.NoError(t, outcome(live, 429, nil))
	assert.NoError(t, outcome(live, 403, nil))
	assert.ErrorIs(t, outcome(live, 503, nil), errNodeFailed)
	assert.ErrorIs(t, outcome(live, 0, errRefused), errNodeFailed)
	assert.ErrorIs(t, outcome(live, 0, context.DeadlineExceeded), errNodeFailed, "request_timeout: the node did not answer")
	assert.ErrorIs(t, outcome(ended, 0, context.Canceled), errExcluded, "shutdown is nobody's failure")
}

// TestBreakerCloseStopsProbing: after close, the cool-down timer does nothing.
func TestBreakerCloseStopsProbing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, send, node, _, _ := newTestBreaker(t, nil)
		node.down.Store(true)
		for range 5 {
			_, _ = send.Send(context.Background(), nil, nil)
		}
		b.close()
		time.Sleep(3 * b.cfg.CoolDown)
		synctest.Wait()
		assert.Zero(t, node.probes.Load())
		b.close() // safe twice
	})
}
