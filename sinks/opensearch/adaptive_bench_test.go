package opensearch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	meanWindow float64        // the limiter's window, sampled every 20ms
	rivalRate  float64        // documents per second the competing writer indexed (varying scenario)
	changes    map[string]int // limit changes by reason and new limit ("throttled>2": a 429 took it to 2)
}

// adaptiveSetting is one row of the benchmark: a fixed max_in_flight, or adaptive
// concurrency up to max with tune (if set) changing a constant for comparison.
type adaptiveSetting struct {
	name     string
	max      int
	adaptive bool
	tune     func(*limiter)
}

// TestAdaptiveConcurrencyBenchmark compares fixed concurrency (1, 2, 3, 4, 8, 16 bulk
// requests in flight) with adaptive concurrency (max 16: the default, paced, with a x0.5 cut
// on a 429, growing while under half a request is estimated to wait in the node; the same not
// paced; with x0.75, the alternative the design weighed; and growing below 1 and below 0.25
// requests waiting) against the real node whose write queue holds one task, and prints a
// table per scenario: documents per second end to end, and documents refused with 429, and
// how often in paired rounds each adaptive setting was faster and refused less than each
// fixed one. It is a benchmark, not a check: it runs only with
// WEIR_BENCH_ADAPTIVE=1 (and WEIR_TEST_OPENSEARCH_THROTTLED). Results and the command are in
// bench/RESULTS.md.
//
// Two scenarios: "steady", weir alone on the node; and "varying", where a competing writer
// (another weir instance or tenant on the same domain, as plain bulk requests at a fixed
// concurrency into its own index) is switched on and off in phases, on the same schedule
// from the start of every run. No fixed setting suits both phases; only weir's documents
// and refusals are counted, and the competitor's rate is shown so that a setting that wins
// by crowding it out can be seen.
//
// WEIR_BENCH_DOCS (default 150000; the varying scenario indexes 4x as many so that a run
// spans several phases; every run starts a new sink, so short runs weigh the limiter's
// start, which a daemon pays once: bench/RESULTS.md's "Fifth look" runs 600000 steady and
// 300000 varying), WEIR_BENCH_ROUNDS (default 5; median, min and max are reported),
// WEIR_BENCH_SHARDS (default 1), WEIR_BENCH_SCENARIOS (default "steady,varying"),
// WEIR_BENCH_SETTINGS (setting names separated by ";", default all),
// WEIR_BENCH_PHASE_MS (default 2000) and WEIR_BENCH_RIVAL_CONCURRENCY (default 3) size it.
// Rounds interleave the settings, so that the shared machine's noise falls on all of them;
// one unmeasured run per scenario warms the node's JIT first (a first run was 4x slower).
func TestAdaptiveConcurrencyBenchmark(t *testing.T) {
	if os.Getenv("WEIR_BENCH_ADAPTIVE") != "1" {
		t.Skip("benchmark: set WEIR_BENCH_ADAPTIVE=1 (and WEIR_TEST_OPENSEARCH_THROTTLED) to run it")
	}
	node := throttledNode(t)
	docs := envInt("WEIR_BENCH_DOCS", 150_000)
	rounds := envInt("WEIR_BENCH_ROUNDS", 5)
	shards := envInt("WEIR_BENCH_SHARDS", 1)
	phase := time.Duration(envInt("WEIR_BENCH_PHASE_MS", 2000)) * time.Millisecond
	rivalConc := envInt("WEIR_BENCH_RIVAL_CONCURRENCY", 3)
	scenarios := strings.Split(cmp.Or(os.Getenv("WEIR_BENCH_SCENARIOS"), "steady,varying"), ",")
	settings := []adaptiveSetting{{"fixed 1", 1, false, nil}, {"fixed 2", 2, false, nil}, {"fixed 3", 3, false, nil}, {"fixed 4", 4, false, nil},
		{"fixed 8", 8, false, nil}, {"fixed 16", 16, false, nil},
		{"adaptive ≤16 (the default)", 16, true, nil},
		{"adaptive ≤16, not paced", 16, true, func(l *limiter) { l.pace = 0 }},
		{"adaptive ≤16, ×0.75 on 429", 16, true, func(l *limiter) { l.throttleCut = 0.75 }},
		{"adaptive ≤16, grow below 1 queued", 16, true, func(l *limiter) { l.growQueued = 1 }},
		{"adaptive ≤16, grow below 0.25 queued", 16, true, func(l *limiter) { l.growQueued = 0.25 }}}
	if only := os.Getenv("WEIR_BENCH_SETTINGS"); only != "" {
		settings = slices.DeleteFunc(settings, func(s adaptiveSetting) bool { return !slices.Contains(strings.Split(only, ";"), s.name) })
	}
	for _, scenario := range scenarios {
		var rival *rivalWriter
		n := docs
		switch scenario {
		case "steady":
		case "varying":
			rival = &rivalWriter{node: node, shards: shards, concurrency: rivalConc, phase: phase}
			n = 4 * docs
		default:
			t.Fatalf("WEIR_BENCH_SCENARIOS: unknown scenario %q", scenario)
		}
		runAdaptive(t, node, n, shards, adaptiveSetting{"warm-up", 16, true, nil}, rival)
		runs := make([][]adaptiveRun, len(settings))
		for r := range rounds {
			for i, s := range settings {
				run := runAdaptive(t, node, n, shards, s, rival)
				t.Logf("%s round %d %-42s %8.0f docs/s %8.0f rejected %6.0f requests  mean window %4.2f  rival %6.0f docs/s  changes %v",
					scenario, r+1, s.name, run.docsPerSec, run.rejected, run.requests, run.meanWindow, run.rivalRate, run.changes)
				runs[i] = append(runs[i], run)
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\n%s: %d documents per run, %d shard(s), median of %d rounds", scenario, n, shards, rounds)
		if rival != nil {
			fmt.Fprintf(&b, "; a competing writer at concurrency %d, off and on in phases of %v", rivalConc, phase)
		}
		fmt.Fprintf(&b, "\n| setting | docs/s, median (min–max) | 429-refused documents, median (min–max) | bulk requests | mean window |")
		if rival != nil {
			fmt.Fprintf(&b, " competitor's docs/s |")
		}
		fmt.Fprintf(&b, "\n|---|---:|---:|---:|---:|")
		if rival != nil {
			fmt.Fprintf(&b, "---:|")
		}
		fmt.Fprintln(&b)
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
			win, _, _ := stats(func(r adaptiveRun) float64 { return r.meanWindow })
			fmt.Fprintf(&b, "| %s | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %.0f | %.2f |", s.name, dm, dl, dh, rm, rl, rh, req, win)
			if rival != nil {
				rv, _, _ := stats(func(r adaptiveRun) float64 { return r.rivalRate })
				fmt.Fprintf(&b, " %.0f |", rv)
			}
			fmt.Fprintln(&b)
		}
		// Paired rounds: the rounds ran the settings one after another, so a round's
		// noise falls on all of them alike and round-by-round wins say more than medians.
		for i, a := range settings {
			if !a.adaptive {
				continue
			}
			for j, f := range settings {
				if f.adaptive {
					continue
				}
				faster, fewer, both := 0, 0, 0
				for r := range runs[i] {
					x, y := runs[i][r], runs[j][r]
					faster += b2i(x.docsPerSec > y.docsPerSec)
					fewer += b2i(x.rejected < y.rejected)
					both += b2i(x.docsPerSec > y.docsPerSec && x.rejected < y.rejected)
				}
				fmt.Fprintf(&b, "- %s vs %s: faster in %d of %d rounds, fewer refused in %d, both in %d\n", a.name, f.name, faster, rounds, fewer, both)
			}
		}
		fmt.Print(b.String())
		t.Log(b.String())
	}
}

// rivalWriter is the competing writer of the varying scenario: concurrency goroutines that
// send bulk requests of 250 documents like weir's into their own index, while the phase
// schedule (off for a phase, on for a phase, ...) from the start of the run says on. It does
// not retry refused documents, but pauses 100ms after a 429, as a client with a backoff
// would: one that retried at once would only measure how fast the node refuses.
type rivalWriter struct {
	node                string
	shards, concurrency int
	phase               time.Duration
}

// start starts writing into a fresh index; stop ends it, deletes the index and returns the
// documents the rival indexed per second of the run.
func (w *rivalWriter) start(t *testing.T) (stop func() float64) {
	t.Helper()
	index := testIndex(t, w.node, fmt.Sprintf(`{"settings":{"number_of_replicas":0,"number_of_shards":%d,"refresh_interval":"1s"}}`, w.shards))
	var body bytes.Buffer
	pad := strings.Repeat("x", 120)
	for i := range 250 {
		fmt.Fprintf(&body, "{\"index\":{}}\n{\"n\":%d,\"msg\":\"rival document %d\",\"pad\":\"%s\"}\n", i, i, pad)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: w.concurrency}}
	ctx, cancel := context.WithCancel(context.Background())
	began := time.Now()
	var (
		wg      sync.WaitGroup
		indexed atomic.Int64
	)
	for range w.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if (time.Since(began)/w.phase)%2 == 0 { // off
					select {
					case <-ctx.Done():
					case <-time.After(w.phase - time.Since(began)%w.phase):
					}
					continue
				}
				ok, throttled := rivalBulk(ctx, client, w.node+"/"+index+"/_bulk", body.Bytes())
				indexed.Add(int64(ok))
				if throttled {
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	return func() float64 {
		cancel()
		wg.Wait()
		elapsed := time.Since(began)
		client.CloseIdleConnections()
		nodeCall(t, w.node, http.MethodDelete, "/"+index, "", nil)
		return float64(indexed.Load()) / elapsed.Seconds()
	}
}

// rivalBulk sends one bulk request and returns how many documents were indexed and
// whether any was refused with 429.
func rivalBulk(ctx context.Context, client *http.Client, url string, body []byte) (ok int, throttled bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, false
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusTooManyRequests {
		_, _ = io.Copy(io.Discard, res.Body)
		return 0, true
	}
	var out struct {
		Items []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if json.NewDecoder(res.Body).Decode(&out) != nil {
		return 0, false
	}
	for _, it := range out.Items {
		for _, r := range it {
			switch {
			case r.Status == http.StatusTooManyRequests:
				throttled = true
			case r.Status < 300:
				ok++
			}
		}
	}
	return ok, throttled
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func runAdaptive(t *testing.T, node string, docs, shards int, setting adaptiveSetting, rival *rivalWriter) adaptiveRun {
	t.Helper()
	index := testIndex(t, node, fmt.Sprintf(`{"settings":{"number_of_replicas":0,"number_of_shards":%d,"refresh_interval":"1s"}}`, shards))
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.URLs = []string{node}
	cfg.FlushDocuments = 250
	cfg.MaxInFlight = setting.max
	cfg.Adaptive.Enabled = setting.adaptive
	// Nothing may be dead-lettered: every setting must index every document.
	cfg.Retry = RetryConfig{MaxAttempts: 1000, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	out := newOutcomes(docs)
	s, err := New(cfg, WithDeadLetter(&memDLQ{}), WithLogger(quiet), WithRegisterer(reg))
	require.NoError(t, err)
	s.finish = out.finish
	if setting.tune != nil {
		setting.tune(s.limit)
	}
	changes := map[string]int{}
	onChange := s.limit.onChange
	s.limit.onChange = func(n int, why string) { changes[fmt.Sprintf("%s>%d", why, n)]++; onChange(n, why) } // called with the limiter's mutex held
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
		samples []float64
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
				s.limit.mu.Lock()
				w := s.limit.window
				s.limit.mu.Unlock()
				mu.Lock()
				samples = append(samples, w)
				mu.Unlock()
			}
		}
	}()
	stopRival := func() float64 { return 0 }
	if rival != nil {
		stopRival = rival.start(t)
	}
	start := time.Now()
	for _, r := range recs {
		require.NoError(t, s.Add(ctx, r))
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	require.NoError(t, s.Shutdown(sctx))
	elapsed := time.Since(start)
	rivalRate := stopRival()
	close(stop)
	<-sampled
	out.wait(t, time.Second)
	require.Equal(t, docs, out.count(pipeline.Indexed))
	// Each run's index goes at once: forty of them would weigh on the later runs.
	nodeCall(t, node, http.MethodDelete, "/"+index, "", nil)

	s.limit.mu.Lock()
	run := adaptiveRun{docsPerSec: float64(docs) / elapsed.Seconds(), rivalRate: rivalRate, changes: changes}
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
		samples = append(samples, float64(setting.max))
	}
	sum := 0.0
	for _, l := range samples {
		sum += l
	}
	run.meanWindow = sum / float64(len(samples))
	return run
}
