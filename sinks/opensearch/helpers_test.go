package opensearch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// TestMain fails the run when goroutines started by this package outlive the tests: every
// sink is shut down by its test, so none may be left.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintln(os.Stderr, "leaked goroutines:\n"+leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "sinks/opensearch.(*Sink)") || strings.Contains(g, "sinks/opensearch.clientSender") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// outcomes records each record's result and notices a record finished twice.
type outcomes struct {
	mu    sync.Mutex
	res   map[*pipeline.Record]pipeline.Result
	twice int
	want  int
	done  chan struct{}
}

func newOutcomes(want int) *outcomes {
	return &outcomes{res: map[*pipeline.Record]pipeline.Result{}, want: want, done: make(chan struct{})}
}

func (o *outcomes) finish(r *pipeline.Record, res pipeline.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.res[r]; ok {
		o.twice++
		return
	}
	o.res[r] = res
	if len(o.res) == o.want {
		close(o.done)
	}
}

func (o *outcomes) setWant(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.want = n
}

func (o *outcomes) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(d):
		o.mu.Lock()
		defer o.mu.Unlock()
		t.Fatalf("only %d of %d records finished after %s", len(o.res), o.want, d)
	}
}

func (o *outcomes) of(r *pipeline.Record) pipeline.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.res[r]
}

func (o *outcomes) count(out pipeline.Outcome) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, r := range o.res {
		if r.Outcome == out {
			n++
		}
	}
	return n
}

func (o *outcomes) finishedTwice() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.twice
}

// memDLQ keeps dead letters in memory.
type memDLQ struct {
	mu      sync.Mutex
	letters []pipeline.DeadLetter
	err     error
}

func (d *memDLQ) WriteDeadLetters(_ context.Context, ls []pipeline.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	d.letters = append(d.letters, ls...)
	return nil
}

func (d *memDLQ) all() []pipeline.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]pipeline.DeadLetter(nil), d.letters...)
}

// fakeClock makes waits instant and remembers each one. Its time is the wall clock's, or,
// when t is set, t: moved by hand (advance) and by each wait.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if !c.t.IsZero() {
		c.t = c.t.Add(d)
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// quiet discards logs; tests that look at logs pass their own logger.
var quiet = slog.New(slog.DiscardHandler)

type harness struct {
	sink  *Sink
	out   *outcomes
	dlq   *memDLQ
	clock *fakeClock
}

// newHarness builds a started sink against url whose outcomes land in the harness. It is
// shut down at the end of the test.
func newHarness(t *testing.T, url string, want int, mut func(*Config), opts ...Option) *harness {
	t.Helper()
	h := &harness{out: newOutcomes(want), dlq: &memDLQ{}, clock: &fakeClock{}}
	cfg := DefaultConfig()
	cfg.URLs = []string{url}
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.RequestTimeout = 5 * time.Second
	// Backoff is instant with the fake clock, so failing requests trip the breaker at once;
	// a short cool-down keeps such tests quick.
	cfg.Breaker.CoolDown = 100 * time.Millisecond
	if mut != nil {
		mut(&cfg)
	}
	base := []Option{WithDeadLetter(h.dlq), WithLogger(quiet), WithClock(h.clock)}
	s, err := New(cfg, append(base, opts...)...)
	require.NoError(t, err)
	s.finish = h.out.finish
	h.sink = s
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		require.Zero(t, h.out.finishedTwice(), "a record was finished twice")
	})
	return h
}

func (h *harness) add(t *testing.T, recs ...*pipeline.Record) {
	t.Helper()
	for _, r := range recs {
		require.NoError(t, h.sink.Add(context.Background(), r))
	}
}

// records makes n records for index with ids "0".."n-1" and documents {"n":i}.
func records(index string, n int) []*pipeline.Record {
	recs := make([]*pipeline.Record, n)
	for i := range recs {
		recs[i] = &pipeline.Record{
			Doc: fmt.Appendf(nil, `{"n":%d}`, i), Index: index, ID: fmt.Appendf(nil, "%d", i),
			Source: "test", Key: "msg", Offset: int64(i),
		}
	}
	return recs
}
