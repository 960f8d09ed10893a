package opensearch

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/pipeline"
)

// TestSinkBreakerHoldsDeliveries runs the whole sink against a node that answers 503 to
// everything for a while: the breaker opens, the deliveries wait in it without sending,
// probes find the node back, and every record is indexed at its first attempt.
func TestSinkBreakerHoldsDeliveries(t *testing.T) {
	t.Parallel()
	bulk := nullbulk.New()
	var (
		down       atomic.Bool
		sink       atomic.Pointer[Sink]
		postsOpen  atomic.Int64 // bulk requests that arrived while the breaker was open
		probesDown atomic.Int64
	)
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := sink.Load(); s != nil && r.Method == http.MethodPost && s.Breaker().State() == BreakerOpen {
			postsOpen.Add(1)
		}
		if down.Load() {
			if r.Method == http.MethodGet {
				probesDown.Add(1)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"type":"cluster_block_exception","reason":"blocked"},"status":503}`))
			return
		}
		bulk.ServeHTTP(w, r)
	}))
	defer srv.Close()

	reg := prometheus.NewRegistry()
	h := newHarness(t, srv.URL, 20, func(c *Config) {
		c.FlushDocuments = 5
		c.Adaptive.Enabled = false // four deliveries wait in the breaker at once
		c.Retry.MaxAttempts = 1    // a breaker refusal that spent an attempt would dead-letter
	}, WithRegisterer(reg))
	sink.Store(h.sink)
	tr := &transitions{}
	h.sink.Breaker().OnStateChange(tr.record)

	recs := records("breaker", 20)
	h.add(t, recs...)
	require.Eventually(t, func() bool { return h.sink.Breaker().State() != BreakerClosed }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return probesDown.Load() >= 3 }, 5*time.Second, time.Millisecond, "probes every cool_down")
	assert.Zero(t, h.out.count(pipeline.Indexed)+h.out.count(pipeline.DeadLettered), "nothing given up while open")

	down.Store(false)
	h.out.wait(t, 5*time.Second)
	assert.Equal(t, 20, h.out.count(pipeline.Indexed))
	for i, r := range recs {
		assert.Equal(t, 1, r.Attempts, "record %d: waiting in the breaker is not an attempt", i)
	}
	assert.Empty(t, h.dlq.all())
	assert.EqualValues(t, 20, bulk.Documents())
	assert.LessOrEqual(t, postsOpen.Load(), int64(h.sink.cfg.MaxInFlight),
		"only requests already in flight when it opened reach the node while open")

	got := tr.all()
	require.NotEmpty(t, got)
	assert.Equal(t, "closed→open", got[0])
	assert.Equal(t, "half-open→closed", got[len(got)-1])
	assert.Equal(t, 0.0, testutil.ToFloat64(h.sink.m.breakerState))
	assert.Equal(t, float64(h.sink.cfg.MaxInFlight), testutil.ToFloat64(h.sink.m.concurrencyLimit),
		"failures are the breaker's business, not a reason to shrink the limit")
}

// TestSinkAdaptiveConcurrency runs against a node that throttles every item of a request
// that arrives while two others are being served, as a write pool with two threads and no
// queue would: the limit settles near what the node takes, far under max_in_flight.
func TestSinkAdaptiveConcurrency(t *testing.T) {
	t.Parallel()
	var active, peak, rejected atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"version":{"number":"2.19.6"}}`))
			return
		}
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		docs := bytes.Count(body, []byte("\n")) / 2
		time.Sleep(10 * time.Millisecond)
		var out bytes.Buffer
		out.WriteString(`{"took":10,"errors":`)
		fmt.Fprintf(&out, "%t,\"items\":[", n > 2)
		for i := range docs {
			if i > 0 {
				out.WriteByte(',')
			}
			if n > 2 {
				rejected.Add(1)
				out.WriteString(`{"index":{"status":429,"error":{"type":"rejected_execution_exception","reason":"queue full"}}}`)
			} else {
				out.WriteString(`{"index":{"status":201}}`)
			}
		}
		out.WriteString("]}")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out.Bytes())
	}))
	defer srv.Close()

	const n = 600
	h := newHarness(t, srv.URL, n, func(c *Config) {
		c.MaxInFlight = 8
		c.FlushDocuments = 10
		c.Retry = RetryConfig{MaxAttempts: 100, InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	}, WithClock(pipeline.RealClock{}))
	h.add(t, records("adaptive", n)...)
	h.out.wait(t, 30*time.Second)
	assert.Equal(t, n, h.out.count(pipeline.Indexed))
	limit, _ := h.sink.limit.current()
	t.Logf("peak concurrency at the node %d, items throttled %d, final limit %d", peak.Load(), rejected.Load(), limit)
	assert.LessOrEqual(t, limit, 4, "the limit came down towards the two the node serves")
	assert.Equal(t, float64(limit), testutil.ToFloat64(h.sink.m.concurrencyLimit))
}

// TestConcurrencyLimitGaugeStartsAtTheLimit: before the first change, the gauge shows the
// limit the sink starts at (adaptive: min_in_flight), not max_in_flight.
func TestConcurrencyLimitGaugeStartsAtTheLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		adaptive bool
		want     float64
	}{
		{"adaptive starts at min_in_flight", true, 1},
		{"fixed is max_in_flight", false, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			cfg.URLs = []string{"http://127.0.0.1:9"}
			cfg.MaxInFlight = 4
			cfg.Adaptive.Enabled = tt.adaptive
			s, err := New(cfg, WithDeadLetter(&memDLQ{}), WithLogger(quiet), WithRegisterer(prometheus.NewRegistry()))
			require.NoError(t, err)
			assert.Equal(t, tt.want, testutil.ToFloat64(s.m.concurrencyLimit))
		})
	}
}
