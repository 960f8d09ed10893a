// Package indexing drives _bulk requests straight at an OpenSearch endpoint and measures
// what the endpoint does with them: documents per second over fixed intervals, request
// latency percentiles, throttling and errors, and what the client spent in CPU to do it.
// It measures the domain, not weir's ingest path: bodies are encoded from an in-memory
// corpus into pooled buffers, so the client costs a copy per document.
package indexing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weir-ingest/weir/bench/corpus"
	"github.com/weir-ingest/weir/bench/measure"
	"github.com/weir-ingest/weir/bench/report"
)

// Config is one run: a number of clients sending bulks of a fixed size.
type Config struct {
	// URLs are the endpoints; requests go to URL + "/_bulk", round robin.
	URLs []string
	// Index every document is written to.
	Index string
	// Client sends the requests; its transport signs them if the target needs it.
	Client *http.Client
	// Header is added to every request (basic auth, for instance).
	Header http.Header
	// Corpus supplies the documents, in a loop.
	Corpus *corpus.Corpus
	// Clients is the number of concurrent bulk requests; BulkDocs the documents in each.
	Clients  int
	BulkDocs int
	// Warmup runs the load unmeasured first. Then the run lasts Duration, or until Docs
	// documents were sent when Docs > 0.
	Warmup   time.Duration
	Duration time.Duration
	Docs     int64
	// Interval is the length of the intervals throughput is summarised over. Default 1s.
	Interval time.Duration
	// Progress, when set, is called after each measured interval.
	Progress func(elapsed time.Duration, docsPerSec float64)
	// Load reads the machine's 1-minute load average (nil: /proc/loadavg).
	Load func() float64
}

func (c *Config) validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, errors.New("no target URL"))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("no HTTP client"))
	}
	if c.Corpus == nil || c.Corpus.Len() == 0 {
		errs = append(errs, errors.New("no documents"))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("clients: %d, need at least 1", c.Clients))
	}
	if c.BulkDocs < 1 {
		errs = append(errs, fmt.Errorf("bulk-docs: %d, need at least 1", c.BulkDocs))
	}
	if c.Duration <= 0 && c.Docs <= 0 {
		errs = append(errs, errors.New("need a duration or a document count"))
	}
	if c.Index == "" {
		errs = append(errs, errors.New("no index"))
	}
	return errors.Join(errs...)
}

// phase of a run; a request is counted in the phase in which it finished.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDone
)

// counters are the measured totals, shared by the clients.
type counters struct {
	docs, bytes                          atomic.Int64
	requests, requests429, requestErrors atomic.Int64
	items, items429, itemErrors          atomic.Int64
}

// Run drives the load and returns what was measured. It stops early, with what it has,
// when ctx ends.
func Run(ctx context.Context, cfg Config) (report.Run, error) {
	if err := cfg.validate(); err != nil {
		return report.Run{}, err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Load == nil {
		cfg.Load = LoadAvg
	}
	action := []byte(`{"index":{"_index":` + quote(cfg.Index) + `}}` + "\n")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		phase  atomic.Int32
		cursor atomic.Int64 // next corpus document
		budget atomic.Int64 // documents still to send in a --docs run, once measuring
		c      counters
		hists  = make([]measure.Histogram, cfg.Clients)
		wg     sync.WaitGroup
		errMu  sync.Mutex
		first  error
	)
	budget.Store(cfg.Docs)
	spawn := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := client{cfg: &cfg, action: action, url: strings.TrimRight(cfg.URLs[i%len(cfg.URLs)], "/") + "/_bulk"}
			for ctx.Err() == nil {
				ph := phase.Load()
				if ph == phaseDone {
					return
				}
				n := cfg.BulkDocs
				if ph == phaseMeasure && cfg.Docs > 0 {
					left := budget.Add(-int64(n))
					if left+int64(n) <= 0 {
						return
					}
					if left < 0 {
						n += int(left)
					}
				}
				start := cursor.Add(int64(n)) - int64(n)
				out, err := cl.send(ctx, start, n)
				if ctx.Err() != nil {
					return
				}
				// Counted in the phase in which the request finished.
				if phase.Load() != phaseMeasure {
					continue
				}
				hists[i].RecordDuration(out.took)
				c.requests.Add(1)
				switch {
				case err != nil:
					c.requestErrors.Add(1)
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
				case out.status == http.StatusTooManyRequests:
					c.requests429.Add(1)
				case out.status < 200 || out.status > 299:
					c.requestErrors.Add(1)
				default:
					c.items.Add(int64(n))
					c.items429.Add(out.items429)
					c.itemErrors.Add(out.itemErrors)
					c.docs.Add(int64(n) - out.items429 - out.itemErrors)
					c.bytes.Add(out.bytes)
				}
			}
		}()
	}

	var (
		cpu0            time.Duration
		t0              time.Time
		docsIv, bytesIv = measure.NewIntervals(cfg.Interval), measure.NewIntervals(cfg.Interval)
	)
	// Measuring starts: baselines for the intervals and the CPU clock.
	startMeasuring := func() {
		cpu0 = CPUTime()
		t0 = time.Now()
		docsIv.Start(0, t0)
		bytesIv.Start(0, t0)
		phase.Store(phaseMeasure)
	}
	if cfg.Warmup > 0 {
		for i := range cfg.Clients {
			spawn(i)
		}
		t := time.NewTimer(cfg.Warmup)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		startMeasuring()
	} else {
		// Without a warm-up every request is measured, so a --docs run counts exactly.
		startMeasuring()
		for i := range cfg.Clients {
			spawn(i)
		}
	}

	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var end <-chan time.Time
	if cfg.Duration > 0 && cfg.Docs <= 0 {
		end = time.After(cfg.Duration)
	}
loop:
	for {
		select {
		case now := <-tick.C:
			d := float64(c.docs.Load())
			if r, ok := docsIv.Sample(d, now); ok && cfg.Progress != nil {
				cfg.Progress(now.Sub(t0), r)
			}
			bytesIv.Sample(float64(c.bytes.Load()), now)
		case <-end:
			break loop
		case <-allDone: // a --docs run sent its budget
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	t1 := time.Now()
	phase.Store(phaseDone)
	docsIv.Sample(float64(c.docs.Load()), t1)
	bytesIv.Sample(float64(c.bytes.Load()), t1)
	cpu1 := CPUTime()
	// Requests in flight finish (counted as done, not measured) before the next run starts,
	// so one run's tail does not load the next.
	<-allDone

	var h measure.Histogram
	for i := range hists {
		h.Merge(&hists[i])
	}
	mb := bytesIv.Rates()
	for i := range mb {
		mb[i] /= 1e6
	}
	r := report.Run{
		Clients: cfg.Clients, BulkDocs: cfg.BulkDocs,
		Seconds: measure.Round(t1.Sub(t0).Seconds(), 3),
		Docs:    c.docs.Load(), Bytes: c.bytes.Load(),
		DocsPerSec: roundSummary(docsIv.Summary(), 1),
		MBPerSec:   roundSummary(measure.Summarize(mb), 3),
		Intervals:  roundAll(docsIv.Rates(), 1),
		Latency:    report.LatencyOf(&h),
		Requests:   c.requests.Load(), Requests429: c.requests429.Load(), RequestErrors: c.requestErrors.Load(),
		Items: c.items.Load(), Items429: c.items429.Load(), ItemErrors: c.itemErrors.Load(),
		CPUSeconds: measure.Round((cpu1 - cpu0).Seconds(), 3),
		LoadAvg:    cfg.Load(),
	}
	r.FillRates()
	if r.Docs == 0 && first != nil {
		return r, fmt.Errorf("no document was indexed; first error: %w", first)
	}
	return r, nil
}

func roundSummary(s measure.Summary, d int) measure.Summary {
	return measure.Summary{Min: measure.Round(s.Min, d), Median: measure.Round(s.Median, d),
		Max: measure.Round(s.Max, d), Mean: measure.Round(s.Mean, d)}
}

func roundAll(xs []float64, d int) []float64 {
	for i := range xs {
		xs[i] = measure.Round(xs[i], d)
	}
	return xs
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// client is one connection's worth of state: its buffers are reused for every request.
type client struct {
	cfg    *Config
	action []byte
	url    string
	body   []byte
	resp   bytes.Buffer
}

type outcome struct {
	status     int
	took       time.Duration
	bytes      int64
	items429   int64
	itemErrors int64
}

// send encodes documents start..start+n-1 and posts them.
func (cl *client) send(ctx context.Context, start int64, n int) (outcome, error) {
	b := cl.body[:0]
	for i := range int64(n) {
		b = append(b, cl.action...)
		b = append(b, cl.cfg.Corpus.Doc(start+i)...)
		b = append(b, '\n')
	}
	cl.body = b
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.url, nil)
	if err != nil {
		return outcome{}, err
	}
	// bytesBody exposes Bytes() so that a SigV4 transport hashes the buffer in place.
	req.Body = &bytesBody{Reader: bytes.NewReader(b), b: b}
	req.GetBody = func() (io.ReadCloser, error) { return &bytesBody{Reader: bytes.NewReader(b), b: b}, nil }
	req.ContentLength = int64(len(b))
	req.Header = make(http.Header, 4+len(cl.cfg.Header))
	for k, v := range cl.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	t := time.Now()
	resp, err := cl.cfg.Client.Do(req)
	if err != nil {
		return outcome{took: time.Since(t)}, err
	}
	cl.resp.Reset()
	_, err = cl.resp.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	out := outcome{status: resp.StatusCode, took: time.Since(t), bytes: int64(len(b))}
	if err != nil {
		return out, fmt.Errorf("reading the answer: %w", err)
	}
	if out.status >= 200 && out.status <= 299 {
		out.items429, out.itemErrors, err = itemFailures(cl.resp.Bytes())
	}
	return out, err
}

// itemFailures counts the items of a _bulk answer refused with 429 and with any other
// status >= 300. An answer whose "errors" is false, the usual case, is not parsed further.
func itemFailures(body []byte) (throttled, failed int64, err error) {
	head := body[:min(len(body), 256)]
	if i := bytes.Index(head, []byte(`"errors":`)); i >= 0 {
		rest := bytes.TrimLeft(head[i+len(`"errors":`):], " ")
		if bytes.HasPrefix(rest, []byte("false")) {
			return 0, 0, nil
		}
	}
	var ans struct {
		Items []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, 0, fmt.Errorf("reading the _bulk answer: %w", err)
	}
	for _, it := range ans.Items {
		for _, v := range it {
			switch {
			case v.Status == http.StatusTooManyRequests:
				throttled++
			case v.Status >= 300:
				failed++
			}
		}
	}
	return throttled, failed, nil
}

type bytesBody struct {
	*bytes.Reader
	b []byte
}

func (b *bytesBody) Bytes() []byte { return b.b }
func (*bytesBody) Close() error    { return nil }

// CPUTime is this process's user plus system CPU time so far (getrusage).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
