package opensearch

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// adaptiveRun is one measured run against the throttled node.
type adaptiveRun struct {
	docsPerSec float64
	rejected   float64 // items answered 429, plus documents of requests answered 429
	requests   float64
	meanLimit  float64
	changes    map[string]int // limit changes by reason
}

// TestAdaptiveConcurrencyBenchmark compares fixed concurrency (1, 2, 3, 4, 8, 16 bulk
// requests in flight) with adaptive concurrency (max 16; the default x0.5 cut on 429, and
// x0.75 for comparison) against the real node whose write queue holds one task, and prints a
// table: documents per second end to end, and documents refused with 429. It is a
// benchmark, not a check: it runs only with WEIR_BENCH_ADAPTIVE=1 (and
// WEIR_TEST_OPENSEARCH_THROTTLED). Results and the command are in bench/RESULTS.md.
//
// WEIR_BENCH_DOCS (default 60000), WEIR_BENCH_ROUNDS (default 5; median, min and max are
// reported) and WEIR_BENCH_SHARDS (default 1) size it. Rounds interleave the settings, so
// that the shared machine's noise falls on all of them.
func TestAdaptiveConcurrencyBenchmark(t *testing.T) {
	if os.Getenv("WEIR_BENCH_ADAPTIVE") != "1" {
		t.Skip("benchmark: set WEIR_BENCH_ADAPTIVE=1 (and WEIR_TEST_OPENSEARCH_THROTTLED) to run it")
	}
	node := throttledNode(t)
	docs := envInt("WEIR_BENCH_DOCS", 60_000)
	rounds := envInt("WEIR_BENCH_ROUNDS", 5)
	shards := envInt("WEIR_BENCH_SHARDS", 1)
	type setting struct {
		name     string
		max      int
		adaptive bool
		decrease float64 // the cut on throttling, for the adaptive rows
	}
	settings := []setting{{"fixed 1", 1, false, 0}, {"fixed 2", 2, false, 0}, {"fixed 3", 3, false, 0}, {"fixed 4", 4, false, 0},
		{"fixed 8", 8, false, 0}, {"fixed 16", 16, false, 0},
		{"adaptive ≤16 (×0.5 on 429, the default)", 16, true, 0.5}, {"adaptive ≤16, ×0.75 on 429", 16, true, 0.75}}
	runs := make([][]adaptiveRun, len(settings))
	for r := range rounds {
		for i, s := range settings {
			run := runAdaptive(t, node, docs, shards, s.max, s.adaptive, s.decrease)
			t.Logf("round %d %-40s %8.0f docs/s %8.0f rejected %6.0f requests  mean limit %4.1f  changes %v",
				r+1, s.name, run.docsPerSec, run.rejected, run.requests, run.meanLimit, run.changes)
			runs[i] = append(runs[i], run)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d documents per run, %d shard(s), median of %d rounds\n", docs, shards, rounds)
	fmt.Fprintf(&b, "| setting | docs/s, median (min–max) | 429-refused documents, median (min–max) | bulk requests | mean limit |\n|---|---:|---:|---:|---:|\n")
	for i, s := range settings {
		// stats returns the median, min and max of f over the rounds.
		stats := func(f func(adaptiveRun) float64) (med, lo, hi float64) {
			v := make([]float64, len(runs[i]))
			for j, r := range runs[i] {
				v[j] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2], v[0], v[len(v)-1]
		}
		dm, dl, dh := stats(func(r adaptiveRun) float64 { return r.docsPerSec })
		rm, rl, rh := stats(func(r adaptiveRun) float64 { return r.rejected })
		req, _, _ := stats(func(r adaptiveRun) float64 { return r.requests })
		lim, _, _ := stats(func(r adaptiveRun) float64 { return r.meanLimit })
		fmt.Fprintf(&b, "| %s | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.0f | %.1f |\n", s.name, dm, dl, dh, rm, rl, rh, req, lim)
	}
	fmt.Print(b.String())
	t.Log(b.String())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func runAdaptive(t *testing.T, node string, docs, shards, maxInFlight int, adaptive bool, decrease float64) adaptiveRun {
	t.Helper()
	index := testIndex(t, node, fmt.Sprintf(`{"settings":{"number_of_replicas":0,"number_of_shards":%d,"refresh_interval":"1s"}}`, shards))
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.URLs = []string{node}
	cfg.FlushDocuments = 250
	cfg.MaxInFlight = maxInFlight
	cfg.Adaptive.Enabled = adaptive
	// Nothing may be dead-lettered: every setting must index every document.
	cfg.Retry = RetryConfig{MaxAttempts: 1000, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	out := newOutcomes(docs)
	s, err := New(cfg, WithDeadLetter(&memDLQ{}), WithLogger(quiet), WithRegisterer(reg))
	require.NoError(t, err)
	s.finish = out.finish
	if decrease > 0 {
		s.limit.throttleCut = decrease
	}
	changes := map[string]int{}
	onChange := s.limit.onChange
	s.limit.onChange = func(n int, why string) { changes[why]++; onChange(n, why) } // called with the limiter's mutex held
	ctx := context.Background()
	require.NoError(t, s.Start(ctx))

	pad := strings.Repeat("x", 120)
	recs := make([]*pipeline.Record, docs)
	for i := range recs {
		recs[i] = &pipeline.Record{Doc: fmt.Appendf(nil, `{"n":%d,"msg":"document %d","pad":"%s"}`, i, i, pad),
			Index: index, ID: fmt.Appendf(nil, "doc-%d", i)}
	}
	// Sample the limit while it runs.
	var (
		mu      sync.Mutex
		samples []int
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				l, _ := s.limit.current()
				mu.Lock()
				samples = append(samples, l)
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	for _, r := range recs {
		require.NoError(t, s.Add(ctx, r))
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	require.NoError(t, s.Shutdown(sctx))
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	out.wait(t, time.Second)
	require.Equal(t, docs, out.count(pipeline.Indexed))
	// Each run's index goes at once: forty of them would weigh on the later runs.
	nodeCall(t, node, http.MethodDelete, "/"+index, "", nil)

	s.limit.mu.Lock()
	run := adaptiveRun{docsPerSec: float64(docs) / elapsed.Seconds(), changes: changes}
	s.limit.mu.Unlock()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "weir_bulk_item_failures_total":
				if labels["status"] == "429" {
					run.rejected += m.GetCounter().GetValue()
				}
			case "weir_documents_retried_total":
				if labels["reason"] == "http_429" {
					run.rejected += m.GetCounter().GetValue()
				}
			case "weir_bulk_requests_total":
				run.requests += m.GetCounter().GetValue()
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(samples) == 0 {
		samples = append(samples, maxInFlight)
	}
	sum := 0
	for _, l := range samples {
		sum += l
	}
	run.meanLimit = float64(sum) / float64(len(samples))
	return run
}
