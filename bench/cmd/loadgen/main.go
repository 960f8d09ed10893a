// Command loadgen posts pre-built bodies of generated ~1 KiB log documents over N
// connections for a fixed time and reports documents per second as counted by a null _bulk
// receiver (bench/cmd/nullbulk), so that whatever sits between the two (weir, Benthos, or
// nothing) is measured by what it delivered, not by what it accepted.
//
// It writes JSON lines to stdout: {"event":"measure_start"} when the warm-up ends and
// {"event":"result",...} at the end, which is what bench/cmd/sidebyside reads to time its
// CPU and memory readings of the process under test.
//
// By default each connection posts again as soon as it is answered (a closed loop: the
// server's speed sets the rate); with -rate the requests are spread at that offered rate, so
// that two servers can be compared at the same load, by the CPU they spend on it.
//
//	loadgen -url http://127.0.0.1:8088/v1/ingest/bench -stats http://127.0.0.1:9200/_nullbulk/stats
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weir-ingest/weir/bench/corpus"
	"github.com/weir-ingest/weir/bench/measure"
	"github.com/weir-ingest/weir/bench/nullbulk"
)

type result struct {
	Event            string          `json:"event"`
	Conns            int             `json:"conns"`
	DocsPerRequest   int             `json:"docs_per_request"`
	Seconds          float64         `json:"seconds"`
	DocsPerSec       measure.Summary `json:"docs_per_sec"`
	Intervals        []float64       `json:"intervals"`
	ReceiverDocs     int64           `json:"receiver_docs"`
	PostedDocs       int64           `json:"posted_docs"`
	Requests         int64           `json:"requests"`
	Refused          int64           `json:"refused"` // 429 and 503 answers, retried
	Failed           int64           `json:"failed"`  // other answers and network errors
	LatencyP50MS     float64         `json:"latency_p50_ms"`
	LatencyP99MS     float64         `json:"latency_p99_ms"`
	LoadgenCPUSecond float64         `json:"loadgen_cpu_seconds"`
	FirstError       string          `json:"first_error,omitempty"`
}

func main() {
	var (
		url         = flag.String("url", "", "where to POST the bodies")
		statsURL    = flag.String("stats", "", "the null receiver's counters (…"+nullbulk.StatsPath+")")
		conns       = flag.Int("conns", 8, "concurrent connections")
		perRequest  = flag.Int("docs", 500, "documents per request")
		bodies      = flag.Int("bodies", 16, "distinct pre-built bodies, sent in turn")
		format      = flag.String("format", "ndjson", `"ndjson", or "bulk" (_bulk format, to post to the receiver directly)`)
		index       = flag.String("index", "bench", "index named in _bulk action lines")
		docBytes    = flag.Int("doc-bytes", 1024, "size of a document")
		finalNL     = flag.Bool("final-newline", false, "end NDJSON bodies with a newline")
		warmup      = flag.Duration("warmup", 10*time.Second, "unmeasured load first")
		duration    = flag.Duration("duration", 30*time.Second, "measured time")
		interval    = flag.Duration("interval", time.Second, "throughput interval")
		contentType = flag.String("content-type", "application/x-ndjson", "Content-Type of the bodies")
		rate        = flag.Float64("rate", 0, "documents per second offered, across all connections (0: as fast as the server answers)")
	)
	flag.Parse()
	if *url == "" || *statsURL == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url and -stats are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	spec := corpus.DefaultSpec()
	spec.DocBytes = *docBytes
	docs, err := corpus.Generate(spec, *bodies**perRequest)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	var action []byte
	if *format == "bulk" {
		action = []byte(`{"index":{"_index":"` + *index + `"}}` + "\n")
	}
	bs := corpus.Bodies(docs, *bodies, *perRequest, action, *finalNL)

	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var (
		measuring                         atomic.Bool
		requests, refused, failed, posted atomic.Int64
		firstErr                          atomic.Pointer[string]
		hists                             = make([]measure.Histogram, *conns)
		wg                                sync.WaitGroup
	)
	runCtx, cancel := context.WithCancel(ctx)
	pace := newPacer(*rate, *perRequest, time.Now())
	for c := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			backoff := time.Millisecond
			for i := c; runCtx.Err() == nil; i++ {
				body := bs[i%len(bs)]
				if due := pace.next(); !due.IsZero() {
					sleep(runCtx, time.Until(due))
				}
				t := time.Now()
				status, err := post(runCtx, client, *url, *contentType, body)
				if runCtx.Err() != nil {
					return
				}
				m := measuring.Load()
				if m {
					requests.Add(1)
					hists[c].RecordDuration(time.Since(t))
				}
				switch {
				case err != nil || (status >= 300 && status != 429 && status != 503):
					if err == nil {
						err = fmt.Errorf("status %d", status)
					}
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
					if m {
						failed.Add(1)
					}
					time.Sleep(100 * time.Millisecond)
				case status == 429 || status == 503:
					// Told to wait: back off briefly (the server's Retry-After of a second would
					// idle the connection far longer than a full queue takes to drain).
					if m {
						refused.Add(1)
					}
					time.Sleep(backoff)
					backoff = min(2*backoff, 50*time.Millisecond)
				default:
					backoff = time.Millisecond
					if m {
						posted.Add(int64(*perRequest))
					}
				}
			}
		}()
	}

	stats := &http.Client{Timeout: 5 * time.Second}
	sleep(ctx, *warmup)
	base, err := receiverDocs(ctx, stats, *statsURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	cpu0 := cpuTime()
	t0 := time.Now()
	iv := measure.NewIntervals(*interval)
	iv.Start(float64(base), t0)
	measuring.Store(true)
	emit(map[string]any{"event": "measure_start", "receiver_docs": base})
	tick := time.NewTicker(*interval)
	end := time.After(*duration)
	last := base
loop:
	for {
		select {
		case now := <-tick.C:
			if n, err := receiverDocs(ctx, stats, *statsURL); err == nil {
				iv.Sample(float64(n), now)
				last = n
			}
		case <-end:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	t1 := time.Now()
	if n, err := receiverDocs(ctx, stats, *statsURL); err == nil {
		iv.Sample(float64(n), t1)
		last = n
	}
	measuring.Store(false)
	var h measure.Histogram
	for i := range hists {
		h.Merge(&hists[i])
	}
	res := result{
		Event: "result", Conns: *conns, DocsPerRequest: *perRequest,
		Seconds: measure.Round(t1.Sub(t0).Seconds(), 3), DocsPerSec: iv.Summary(), Intervals: iv.Rates(),
		ReceiverDocs: last - base, PostedDocs: posted.Load(), Requests: requests.Load(),
		Refused: refused.Load(), Failed: failed.Load(),
		LatencyP50MS: float64(h.Quantile(0.5)) / 1e6, LatencyP99MS: float64(h.Quantile(0.99)) / 1e6,
		LoadgenCPUSecond: (cpuTime() - cpu0).Seconds(),
	}
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	emit(res)
	cancel()
	wg.Wait()
}

func post(ctx context.Context, c *http.Client, url, ct string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ct)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func receiverDocs(ctx context.Context, c *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("receiver stats: %w", err)
	}
	defer resp.Body.Close()
	var st nullbulk.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("receiver stats: %w", err)
	}
	return st.Documents, nil
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Printf("%s\n", b)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pacer spreads requests evenly at a fixed offered rate, whatever the answers' latency: the
// n-th request across all connections is due n × docs ÷ rate after the start. A server slower
// than that falls behind the schedule, and the connections then send as fast as it answers.
type pacer struct {
	start time.Time
	every time.Duration // between requests; 0: not paced
	seq   atomic.Int64
}

func newPacer(docsPerSec float64, docsPerRequest int, start time.Time) *pacer {
	p := &pacer{start: start}
	if docsPerSec > 0 {
		p.every = time.Duration(float64(docsPerRequest) / docsPerSec * float64(time.Second))
	}
	return p
}

// next claims the next request's slot and returns when it is due (zero: not paced).
func (p *pacer) next() time.Time {
	if p.every <= 0 {
		return time.Time{}
	}
	n := p.seq.Add(1) - 1
	return p.start.Add(time.Duration(n) * p.every)
}
