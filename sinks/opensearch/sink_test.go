package opensearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mut  func(*Config)
		want []string
	}{
		{name: "default", mut: func(*Config) {}},
		{name: "no urls", mut: func(c *Config) { c.URLs = nil }, want: []string{"urls: at least one"}},
		{name: "bad urls", mut: func(c *Config) { c.URLs = []string{"ftp://x", "http://", "http://u:p@h:9200", "http://ok:9200"} },
			want: []string{"urls[0]: scheme", "urls[1]: host", "urls[2]: put credentials"}},
		{name: "password without username", mut: func(c *Config) { c.Password = "p" }, want: []string{"username: required"}},
		{name: "everything out of range", mut: func(c *Config) {
			c.FlushDocuments, c.FlushBytes, c.FlushInterval, c.MaxInFlight, c.RequestTimeout = 0, 10, 0, 0, 0
			c.Retry = RetryConfig{MaxAttempts: 0, InitialBackoff: 0, MaxBackoff: -1}
		}, want: []string{"flush_documents:", "flush_bytes:", "flush_interval:", "max_in_flight:", "request_timeout:",
			"retry.max_attempts:", "retry.initial_backoff:", "retry.max_backoff:"}},
		{name: "breaker and adaptive out of range", mut: func(c *Config) {
			c.MaxInFlight = 4
			c.Adaptive.MinInFlight = 5
			c.Breaker = BreakerConfig{FailureRatio: 1.5, MinRequests: 0, Window: time.Millisecond, ConsecutiveFailures: 0, CoolDown: 0}
		}, want: []string{"adaptive.min_in_flight: must be between 1 and max_in_flight (4), got 5", "breaker.failure_ratio:",
			"breaker.min_requests:", "breaker.window:", "breaker.consecutive_failures:", "breaker.cool_down:"}},
		{name: "adaptive off still needs a sane floor", mut: func(c *Config) { c.Adaptive = AdaptiveConfig{Enabled: false, MinInFlight: 0} },
			want: []string{"adaptive.min_in_flight:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "urls[3]")
		})
	}
}

func TestNewRequiresDeadLetter(t *testing.T) {
	t.Parallel()
	_, err := New(DefaultConfig())
	require.ErrorContains(t, err, "dead-letter")
	_, err = New(Config{}, WithDeadLetter(&memDLQ{}))
	require.ErrorContains(t, err, "flush_documents")
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nullbulk.New())
	defer srv.Close()
	ctx := context.Background()
	newSink := func() (*Sink, *outcomes) {
		cfg := DefaultConfig()
		cfg.URLs = []string{srv.URL}
		s, err := New(cfg, WithDeadLetter(&memDLQ{}), WithLogger(quiet))
		require.NoError(t, err)
		o := newOutcomes(3)
		s.finish = o.finish
		return s, o
	}

	s, _ := newSink()
	require.NoError(t, s.Shutdown(ctx), "shutdown without start")
	require.NoError(t, s.Shutdown(ctx), "shutdown twice")
	assert.ErrorIs(t, s.Start(ctx), ErrClosed)
	assert.ErrorIs(t, s.Add(ctx, records("x", 1)[0]), ErrClosed)

	s, o := newSink()
	assert.ErrorIs(t, s.Add(ctx, records("x", 1)[0]), ErrNotStarted)
	require.NoError(t, s.Start(ctx))
	require.NoError(t, s.Start(ctx), "start twice")
	require.NoError(t, s.Ping(ctx))
	recs := records("x", 3)
	for _, r := range recs {
		require.NoError(t, s.Add(ctx, r))
	}
	require.NoError(t, s.Shutdown(ctx), "shutdown sends the open batch and waits for it")
	o.wait(t, time.Second)
	for _, r := range recs {
		assert.Equal(t, pipeline.Indexed, o.of(r).Outcome)
		assert.Equal(t, 1, r.Attempts)
	}
	require.NoError(t, s.Shutdown(ctx))
	assert.ErrorIs(t, s.Add(ctx, records("x", 1)[0]), ErrClosed)

	cfg := DefaultConfig()
	cfg.URLs = []string{"http://" + deadAddr(t)}
	down, err := New(cfg, WithDeadLetter(&memDLQ{}), WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, down.Start(ctx), "a node that is down does not fail start")
	assert.Error(t, down.Ping(ctx))
	require.NoError(t, down.Shutdown(ctx))
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// capture wraps the real sender and keeps every request body.
type capture struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *capture) wrap(next Sender) Sender {
	return SenderFunc(func(ctx context.Context, body, buf []byte) (Response, error) {
		c.mu.Lock()
		c.bodies = append(c.bodies, bytes.Clone(body))
		c.mu.Unlock()
		return next.Send(ctx, body, buf)
	})
}

func (c *capture) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

func docsIn(body []byte) int { return bytes.Count(body, []byte("\n")) / 2 }

func TestItemOutcomes(t *testing.T) {
	t.Parallel()
	// Request 1 answers item by item: 201, 409 on create, 429, 500, 400; request 2 (the
	// resend) must hold only the 429 and 500 items, and indexes them.
	statuses := []struct {
		st  int
		typ string
	}{{201, ""}, {409, "version_conflict_engine_exception"}, {429, "es_rejected_execution_exception"}, {500, "node_closed_exception"}, {400, "mapper_parsing_exception"}}
	srv := httptest.NewServer(nullbulk.New(
		nullbulk.WithItems(func(n int64, i int, _, _ []byte) (int, string) {
			if n == 1 {
				return statuses[i].st, statuses[i].typ
			}
			return 0, ""
		}),
		nullbulk.WithHeader(func(n int64) http.Header {
			if n == 1 {
				return http.Header{"Retry-After": {"3"}}
			}
			return nil
		}),
	))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	cap := &capture{}
	h := newHarness(t, srv.URL, 5, func(c *Config) { c.FlushDocuments = 5 }, WithRegisterer(reg), WithSender(cap.wrap))
	recs := records("items", 5)
	recs[1].Op = pipeline.OpCreate
	h.add(t, recs...)
	h.out.wait(t, 5*time.Second)

	want := []pipeline.Result{
		{Outcome: pipeline.Indexed, Status: 201},
		{Outcome: pipeline.Indexed, Status: 409},
		{Outcome: pipeline.Indexed}, // resent, and answered "errors":false: items not read
		{Outcome: pipeline.Indexed},
		{Outcome: pipeline.DeadLettered, Status: 400, Reason: "mapper_parsing_exception", Error: "nullbulk was told to fail item with mapper_parsing_exception"},
	}
	for i, r := range recs {
		assert.Equal(t, want[i], h.out.of(r), "record %d", i)
	}
	assert.Equal(t, []int{1, 1, 2, 2, 1}, []int{recs[0].Attempts, recs[1].Attempts, recs[2].Attempts, recs[3].Attempts, recs[4].Attempts})

	bodies := cap.all()
	require.Len(t, bodies, 2)
	assert.Equal(t, 5, docsIn(bodies[0]))
	assert.Equal(t, `{"index":{"_index":"items","_id":"2"}}`+"\n"+`{"n":2}`+"\n"+`{"index":{"_index":"items","_id":"3"}}`+"\n"+`{"n":3}`+"\n",
		string(bodies[1]), "only the retryable items are sent again")
	require.Len(t, h.clock.waits(), 1)
	assert.GreaterOrEqual(t, h.clock.waits()[0], 3*time.Second, "Retry-After is honoured")

	letters := h.dlq.all()
	require.Len(t, letters, 1)
	assert.Equal(t, "mapper_parsing_exception", letters[0].Reason)
	assert.Equal(t, `{"n":4}`, string(letters[0].Doc))
	assert.Equal(t, "4", letters[0].ID)
	assert.Equal(t, 1, letters[0].Attempts)

	assert.Equal(t, 4.0, testutil.ToFloat64(h.sink.m.indexed))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.sink.m.retried.WithLabelValues("es_rejected_execution_exception")))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.sink.m.retried.WithLabelValues("node_closed_exception")))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.sink.m.itemFailure.WithLabelValues("400", "mapper_parsing_exception")))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.sink.m.requests.WithLabelValues("2xx")))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Positive(t, n)
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	bulk := nullbulk.New(nullbulk.WithItems(func(_ int64, _ int, _, doc []byte) (int, string) {
		if bytes.Equal(doc, []byte(`{"n":1}`)) {
			return 429, "es_rejected_execution_exception"
		}
		return 0, ""
	}))
	srv := httptest.NewServer(bulk)
	defer srv.Close()
	h := newHarness(t, srv.URL, 2, func(c *Config) { c.FlushDocuments = 2; c.Retry.MaxAttempts = 3 })
	recs := records("exhaust", 2)
	recs[1].ID, recs[1].PositionID = nil, true
	h.add(t, recs...)
	h.out.wait(t, 5*time.Second)
	assert.Equal(t, pipeline.Indexed, h.out.of(recs[0]).Outcome)
	res := h.out.of(recs[1])
	assert.Equal(t, pipeline.DeadLettered, res.Outcome)
	assert.Equal(t, "retries_exhausted", res.Reason)
	assert.Equal(t, 429, res.Status)
	assert.Contains(t, res.Error, "es_rejected_execution_exception")
	assert.EqualValues(t, 3, bulk.Requests())
	assert.Equal(t, 3, recs[1].Attempts)
	letters := h.dlq.all()
	require.Len(t, letters, 1)
	assert.Equal(t, PositionID("test", "msg", 1), letters[0].ID, "a dead letter names the id weir wrote")
	// Backoff ceilings double: 100ms, then 200ms.
	waits := h.clock.waits()
	require.Len(t, waits, 2)
	assert.Less(t, waits[0], 100*time.Millisecond)
	assert.Less(t, waits[1], 200*time.Millisecond)
}

func TestSplitOn413(t *testing.T) {
	t.Parallel()
	recs := records("split", 8)
	big := &pipeline.Record{Doc: []byte(`{"pad":"` + strings.Repeat("x", 300) + `"}`), Index: "split", Source: "test", Offset: 99}
	one := len(appendItem(nil, recs[0], new(itemCache)))
	bulk := nullbulk.New(nullbulk.WithMaxBodyBytes(2 * one))
	srv := httptest.NewServer(bulk)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	h := newHarness(t, srv.URL, 9, func(c *Config) { c.FlushDocuments = 9 }, WithRegisterer(reg))
	h.add(t, append(recs, big)...)
	h.out.wait(t, 5*time.Second)
	for i, r := range recs {
		assert.Equal(t, pipeline.Indexed, h.out.of(r).Outcome, "record %d", i)
	}
	res := h.out.of(big)
	assert.Equal(t, pipeline.DeadLettered, res.Outcome)
	assert.Equal(t, "request_too_large", res.Reason)
	assert.Equal(t, 413, res.Status)
	assert.EqualValues(t, 8, bulk.Documents())
	assert.Empty(t, h.clock.waits(), "a split is sent at once")
	assert.Positive(t, testutil.ToFloat64(h.sink.m.retried.WithLabelValues("request_too_large")))
}

func TestWholeRequestRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  []int
		reason  string
		header  http.Header
		minWait time.Duration
	}{
		{name: "5xx", status: []int{503, 502, 500}, reason: "http_5xx"},
		{name: "429 with Retry-After", status: []int{429}, reason: "http_429", header: http.Header{"Retry-After": {"7"}}, minWait: 7 * time.Second},
		{name: "401 until fixed", status: []int{401, 401, 401}, reason: "http_4xx"},
		{name: "400", status: []int{400}, reason: "http_4xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bulk := nullbulk.New(
				nullbulk.WithRequestStatus(func(n int64) int {
					if int(n) <= len(tt.status) {
						return tt.status[n-1]
					}
					return 0
				}),
				nullbulk.WithHeader(func(int64) http.Header { return tt.header }),
			)
			srv := httptest.NewServer(bulk)
			defer srv.Close()
			var logs logCount
			h := newHarness(t, srv.URL, 3, func(c *Config) { c.FlushDocuments = 3 }, WithLogger(slog.New(&logs)))
			recs := records("whole", 3)
			h.add(t, recs...)
			h.out.wait(t, 5*time.Second)
			assert.Equal(t, 3, h.out.count(pipeline.Indexed))
			assert.EqualValues(t, len(tt.status)+1, bulk.Requests())
			assert.Equal(t, 3.0*float64(len(tt.status)), testutil.ToFloat64(h.sink.m.retried.WithLabelValues(tt.reason)))
			waits := h.clock.waits()
			require.Len(t, waits, len(tt.status))
			for _, w := range waits {
				assert.GreaterOrEqual(t, w, tt.minWait)
			}
			if tt.reason == "http_4xx" {
				assert.EqualValues(t, 1, logs.errors.Load(), "a refusal is logged once per distinct reason")
			}
			assert.EqualValues(t, 1, logs.warns.Load(), "failing is logged once, on the transition")
		})
	}
}

type logCount struct{ errors, warns atomic.Int64 }

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	switch r.Level {
	case slog.LevelError:
		l.errors.Add(1)
	case slog.LevelWarn:
		l.warns.Add(1)
	}
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }

func TestUnparseableAnswerRetried(t *testing.T) {
	t.Parallel()
	bulk := nullbulk.New()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			bulk.ServeHTTP(w, r) // the start-up ping
			return
		}
		switch n.Add(1) {
		case 1:
			_, _ = w.Write([]byte(`{"took":1,"errors":true,"items":[{"index":{"status":201}}`)) // cut short
		case 2:
			_, _ = w.Write([]byte(`{"took":1,"errors":true,"items":[{"index":{"status":201}}]}`)) // one item for two
		case 3:
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			_ = c.Close() // network failure
		default:
			bulk.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	h := newHarness(t, srv.URL, 2, func(c *Config) { c.FlushDocuments = 2 })
	h.add(t, records("garbage", 2)...)
	h.out.wait(t, 5*time.Second)
	assert.Equal(t, 2, h.out.count(pipeline.Indexed))
	assert.Equal(t, 4.0, testutil.ToFloat64(h.sink.m.retried.WithLabelValues("bad_response")))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.sink.m.retried.WithLabelValues("network")))
	assert.EqualValues(t, 2, bulk.Documents())
}

func TestRetriedUntilServerComesBack(t *testing.T) {
	t.Parallel()
	addr := deadAddr(t)
	reg := prometheus.NewRegistry()
	// Both batches in flight at once, as at the limit's ceiling.
	h := newHarness(t, "http://"+addr, 10, func(c *Config) { c.FlushDocuments = 5; c.Adaptive.Enabled = false }, WithRegisterer(reg))
	h.add(t, records("down", 10)...)
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.sink.m.requests.WithLabelValues("error")) >= 5 },
		5*time.Second, time.Millisecond, "requests fail while the node is down")
	require.Eventually(t, func() bool { return h.sink.Breaker().State() != BreakerClosed }, 5*time.Second, time.Millisecond,
		"five failures in a row open the breaker")
	assert.Zero(t, h.out.count(pipeline.Indexed)+h.out.count(pipeline.DeadLettered), "nothing is given up while the node is down")

	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	bulk := nullbulk.New()
	srv := &http.Server{Handler: bulk, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	h.out.wait(t, 10*time.Second)
	assert.Equal(t, 10, h.out.count(pipeline.Indexed))
	assert.EqualValues(t, 10, bulk.Documents())
}

func TestBatching(t *testing.T) {
	t.Parallel()
	doc := func(size int) []byte { return []byte(`{"p":"` + strings.Repeat("y", size-8) + `"}`) }
	tests := []struct {
		name  string
		docs  [][]byte
		mut   func(*Config)
		sizes []int // documents per request, in order
	}{
		{name: "by count", docs: repeatDocs(doc(100), 7), mut: func(c *Config) { c.FlushDocuments = 3 }, sizes: []int{3, 3, 1}},
		{name: "by bytes, next doc would exceed", docs: repeatDocs(doc(400), 5), mut: func(c *Config) {
			c.FlushBytes = 1024 // two items (~430 bytes each) fit, a third does not
		}, sizes: []int{2, 2, 1}},
		{name: "large doc alone", docs: [][]byte{doc(100), doc(3000), doc(100)}, mut: func(c *Config) { c.FlushBytes = 1024 }, sizes: []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(nullbulk.New())
			defer srv.Close()
			cap := &capture{}
			h := newHarness(t, srv.URL, len(tt.docs), func(c *Config) {
				c.MaxInFlight = 1
				c.FlushInterval = time.Hour // only size flushes, and Shutdown
				tt.mut(c)
			}, WithSender(cap.wrap))
			for i, d := range tt.docs {
				h.add(t, &pipeline.Record{Doc: d, Index: "b", ID: []byte("0"), Offset: int64(i)})
			}
			require.NoError(t, h.sink.Shutdown(context.Background()))
			h.out.wait(t, time.Second)
			var sizes []int
			for _, b := range cap.all() {
				sizes = append(sizes, docsIn(b))
				if docsIn(b) > 1 {
					assert.LessOrEqual(t, len(b), int(h.sink.cfg.FlushBytes), "flush_bytes bounds the exact body")
				}
			}
			assert.Equal(t, tt.sizes, sizes)
		})
	}
}

func repeatDocs(d []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestFlushInterval(t *testing.T) {
	t.Parallel()
	bulk := nullbulk.New()
	srv := httptest.NewServer(bulk)
	defer srv.Close()
	h := newHarness(t, srv.URL, 1, func(c *Config) { c.FlushInterval = 30 * time.Millisecond })
	start := time.Now()
	h.add(t, records("aged", 1)...)
	h.out.wait(t, 2*time.Second)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	assert.EqualValues(t, 1, bulk.Requests())
}

func TestBackpressureAndShutdownDeadline(t *testing.T) {
	t.Parallel()
	// The node never answers: 2 batches go in flight, the third full one waits.
	bulk := nullbulk.New(nullbulk.WithDelay(func(int64) time.Duration { return time.Hour }))
	srv := httptest.NewServer(bulk)
	defer srv.Close()
	h := newHarness(t, srv.URL, 25, func(c *Config) {
		c.MaxInFlight, c.Adaptive.Enabled = 2, false // adaptive would start at one
		c.FlushDocuments = 10
		c.FlushInterval = time.Hour
	})
	recs := records("stuck", 40)
	h.add(t, recs[:20]...) // two full batches, both in flight
	require.Eventually(t, func() bool { return bulk.Requests() == 2 }, 5*time.Second, time.Millisecond)

	// The 30th record fills the third batch: Add blocks until its context ends, and the
	// record is still taken (its batch waits for a sender).
	h.add(t, recs[20:29]...)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, h.sink.Add(ctx, recs[29]))
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "Add blocked")
	// With a full batch already waiting, the next Add is refused when its context ends.
	require.ErrorIs(t, h.sink.Add(ctx, recs[30]), context.DeadlineExceeded)

	h.out.setWant(30)
	sctx, scancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer scancel()
	err := h.sink.Shutdown(sctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "30 documents undelivered")
	h.out.wait(t, time.Second)
	assert.Equal(t, 30, h.out.count(pipeline.Undelivered))
	assert.EqualValues(t, 30, h.sink.Undelivered())
	for _, r := range recs[:30] {
		assert.Equal(t, pipeline.Result{Outcome: pipeline.Undelivered, Reason: "shutdown"}, h.out.of(r))
	}
	assert.Zero(t, testutil.ToFloat64(h.sink.m.inFlight))
}

// TestAddBatchTakesWhatFitsBeforeItsContextEnds: a chunk handed over at once is taken in
// order up to the point where a full batch waits for a sender past the caller's deadline;
// the caller keeps the rest.
func TestAddBatchTakesWhatFitsBeforeItsContextEnds(t *testing.T) {
	t.Parallel()
	bulk := nullbulk.New(nullbulk.WithDelay(func(int64) time.Duration { return time.Hour }))
	srv := httptest.NewServer(bulk)
	defer srv.Close()
	h := newHarness(t, srv.URL, 20, func(c *Config) {
		c.MaxInFlight, c.Adaptive.Enabled = 1, false
		c.FlushDocuments = 10
		c.FlushInterval = time.Hour
	})
	recs := records("chunk", 35)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The first batch goes in flight; the second fills at the 20th record and waits; the
	// 21st would go behind it, so AddBatch stops there when ctx ends.
	n, err := h.sink.AddBatch(ctx, recs)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 20, n)
	require.Eventually(t, func() bool { return bulk.Requests() == 1 }, 5*time.Second, time.Millisecond)

	sctx, scancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer scancel()
	require.ErrorIs(t, h.sink.Shutdown(sctx), context.DeadlineExceeded)
	h.out.wait(t, time.Second)
	assert.Equal(t, 20, h.out.count(pipeline.Undelivered), "every record taken is finished, none of the rest")
	n, err = h.sink.AddBatch(context.Background(), recs[20:])
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestDeadLetterFailureLeavesUndelivered(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nullbulk.New(nullbulk.WithItemStatus(func(int) (int, string) { return 400, "mapper_parsing_exception" })))
	defer srv.Close()
	h := newHarness(t, srv.URL, 2, func(c *Config) { c.FlushDocuments = 2 })
	h.dlq.err = errors.New("disk full")
	recs := records("dlqfail", 2)
	h.add(t, recs...)
	h.out.wait(t, 5*time.Second)
	for _, r := range recs {
		res := h.out.of(r)
		assert.Equal(t, pipeline.Undelivered, res.Outcome)
		assert.Equal(t, "dead_letter_failed", res.Reason)
		assert.Contains(t, res.Error, "disk full")
	}
}

// TestThroughPipeline checks the contract with the real pipeline: its workers call Add,
// and every record's Finish reaches the source's Ack.
func TestThroughPipeline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nullbulk.New(nullbulk.WithItems(func(_ int64, _ int, _, doc []byte) (int, string) {
		if bytes.Contains(doc, []byte(`"bad"`)) {
			return 400, "mapper_parsing_exception"
		}
		return 0, ""
	})))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URLs = []string{srv.URL}
	cfg.FlushInterval = 10 * time.Millisecond
	dlq := &memDLQ{}
	sink, err := New(cfg, WithDeadLetter(dlq), WithLogger(quiet))
	require.NoError(t, err)
	pcfg := pipeline.DefaultConfig()
	pcfg.Index = "through"
	p, err := pipeline.New(pcfg, sink, dlq, pipeline.WithLogger(quiet))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, sink.Start(ctx))
	require.NoError(t, p.Start(ctx))

	done := make(chan struct{})
	ack := pipeline.NewTrackedAck(4, func(*pipeline.Ack) { close(done) })
	recs := []pipeline.Record{
		{Doc: []byte(`{"a":1}`), PositionID: true, Source: "http", Key: "m1", Offset: 0},
		{Doc: []byte(`{"a":"bad"}`), Source: "http", Key: "m1", Offset: 1},
		{Doc: []byte(`{"a":3}`), ID: []byte("x"), Source: "http", Key: "m1", Offset: 2},
		{Doc: []byte(`not json`), Source: "http", Key: "m1", Offset: 3},
	}
	require.NoError(t, p.Submit(ctx, ack, recs, 0))
	ack.Seal()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ack not called")
	}
	indexed, dead, undelivered := ack.Counts()
	assert.Equal(t, [3]int64{2, 2, 0}, [3]int64{indexed, dead, undelivered})
	res := ack.Results()
	assert.Equal(t, "mapper_parsing_exception", res[1].Reason)
	assert.Equal(t, "invalid_json", res[3].Reason)
	require.NoError(t, p.Shutdown(ctx))
	require.NoError(t, sink.Shutdown(ctx))
	assert.Len(t, dlq.all(), 2)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	s := &Sink{cfg: DefaultConfig(), random: func() float64 { return 0.999999 }}
	for attempt, ceil := range []time.Duration{100, 200, 400, 800} {
		d := s.backoff(attempt, 0)
		assert.InDelta(t, float64(ceil*time.Millisecond), float64(d), float64(time.Millisecond), "attempt %d", attempt)
	}
	assert.LessOrEqual(t, s.backoff(60, 0), 30*time.Second, "capped, no overflow")
	s.random = func() float64 { return 0 }
	assert.Zero(t, s.backoff(3, 0), "full jitter reaches zero")
	assert.Equal(t, 2*time.Second, s.backoff(0, 2*time.Second))
	assert.Equal(t, maxRetryAfter, s.backoff(0, time.Hour))

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "junk": 0, "99999": maxRetryAfter,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
	} {
		assert.Equal(t, want, retryAfter(http.Header{"Retry-After": {in}}, now), fmt.Sprintf("%q", in))
	}
}

func TestDeadURLIsSkipped(t *testing.T) {
	t.Parallel()
	bulk := nullbulk.New()
	srv := httptest.NewServer(bulk)
	defer srv.Close()
	h := newHarness(t, "http://"+deadAddr(t), 20, func(c *Config) {
		c.URLs = append(c.URLs, srv.URL)
		c.FlushDocuments = 2
	})
	h.add(t, records("twonodes", 20)...)
	h.out.wait(t, 10*time.Second)
	assert.Equal(t, 20, h.out.count(pipeline.Indexed))
	assert.EqualValues(t, 20, bulk.Documents())
}
