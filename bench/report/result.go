// Package report holds what `weir bench` measured: the JSON result file, the table printed
// after a run, the comparison with an earlier result file, and a self-contained SVG chart.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weir-ingest/weir/bench/measure"
)

// FormatVersion is written into every result file; Read refuses other versions.
const FormatVersion = 1

// Result is one `weir bench` invocation: the load, where it went, and one Run per
// (clients, bulk size) combination.
type Result struct {
	Format  int       `json:"format"`
	Tool    string    `json:"tool"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Target is where _bulk requests went ("null" for the built-in receiver); credentials in
	// the URL are never written.
	Target string `json:"target"`
	// Auth is none, basic or sigv4.
	Auth string `json:"auth"`
	Load Load   `json:"load"`
	Host Host   `json:"host"`
	Runs []Run  `json:"runs"`
}

// Load describes the documents and the schedule.
type Load struct {
	// Source is "generated" or the NDJSON file replayed.
	Source      string  `json:"source"`
	DocBytes    int     `json:"doc_bytes,omitempty"`
	Fields      int     `json:"fields,omitempty"`
	Cardinality int     `json:"cardinality,omitempty"`
	Seed        uint64  `json:"seed,omitempty"`
	AvgDocBytes float64 `json:"avg_doc_bytes"`
	Index       string  `json:"index"`
	Warmup      string  `json:"warmup"`
	Duration    string  `json:"duration,omitempty"`
	Docs        int64   `json:"docs,omitempty"`
}

// Host is the machine the client ran on.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Hostname  string `json:"hostname,omitempty"`
}

// Run is one combination of clients and bulk size.
type Run struct {
	Clients  int     `json:"clients"`
	BulkDocs int     `json:"bulk_docs"`
	Seconds  float64 `json:"seconds"`
	// Docs and Bytes count documents the target accepted (item status 2xx) and the _bulk
	// body bytes that carried them.
	Docs  int64 `json:"docs"`
	Bytes int64 `json:"bytes"`
	// DocsPerSec and MBPerSec summarise the 1 s intervals (MB = 10^6 bytes);
	// DocsPerSecOverall is Docs/Seconds.
	DocsPerSec        measure.Summary `json:"docs_per_sec"`
	MBPerSec          measure.Summary `json:"mb_per_sec"`
	DocsPerSecOverall float64         `json:"docs_per_sec_overall"`
	Intervals         []float64       `json:"intervals_docs_per_sec,omitempty"`
	Latency           Latency         `json:"latency_ms"`

	Requests      int64 `json:"requests"`
	Requests429   int64 `json:"requests_429"`
	RequestErrors int64 `json:"request_errors"`
	Items         int64 `json:"items"`
	Items429      int64 `json:"items_429"`
	ItemErrors    int64 `json:"item_errors"`
	// Rates are fractions of requests or items.
	Request429Rate   float64 `json:"request_429_rate"`
	RequestErrorRate float64 `json:"request_error_rate"`
	Item429Rate      float64 `json:"item_429_rate"`
	ItemErrorRate    float64 `json:"item_error_rate"`

	// CPUSeconds is the client process's user+system CPU during the run (getrusage); with
	// the built-in null target it includes the receiver's.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_docs"`
	// LoadAvg is the machine's 1-minute load average at the end of the run.
	LoadAvg float64 `json:"load_avg"`
}

// Latency is the bulk request latency distribution in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// LatencyOf reads the percentiles of h (nanoseconds) in milliseconds.
func LatencyOf(h *measure.Histogram) Latency {
	ms := func(ns float64) float64 { return measure.Round(ns/1e6, 3) }
	return Latency{
		P50:  ms(float64(h.Quantile(0.50))),
		P90:  ms(float64(h.Quantile(0.90))),
		P99:  ms(float64(h.Quantile(0.99))),
		P999: ms(float64(h.Quantile(0.999))),
		Max:  ms(float64(h.Max())),
		Mean: ms(h.Mean()),
	}
}

// FillRates computes the rate fields from the counts.
func (r *Run) FillRates() {
	frac := func(n, of int64) float64 {
		if of == 0 {
			return 0
		}
		return measure.Round(float64(n)/float64(of), 6)
	}
	r.Request429Rate = frac(r.Requests429, r.Requests)
	r.RequestErrorRate = frac(r.RequestErrors, r.Requests)
	r.Item429Rate = frac(r.Items429, r.Items)
	r.ItemErrorRate = frac(r.ItemErrors, r.Items)
	if r.Docs > 0 {
		r.CPUSecondsPerMillion = measure.Round(r.CPUSeconds/float64(r.Docs)*1e6, 3)
	}
	if r.Seconds > 0 {
		r.DocsPerSecOverall = measure.Round(float64(r.Docs)/r.Seconds, 1)
	}
}

// Key names a run's configuration, which Compare matches on.
func (r Run) Key() string { return fmt.Sprintf("clients=%d bulk=%d", r.Clients, r.BulkDocs) }

// Write writes res as indented JSON.
func Write(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// WriteFile writes res to path.
func WriteFile(path string, res *Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, res); err != nil {
		_ = f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// Read decodes a result file, refusing unknown fields' absence of a format or another format.
func Read(r io.Reader) (*Result, error) {
	var res Result
	dec := json.NewDecoder(r)
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("result file: %w", err)
	}
	if res.Format != FormatVersion {
		return nil, fmt.Errorf("result file: format %d, this weir reads format %d", res.Format, FormatVersion)
	}
	if len(res.Runs) == 0 {
		return nil, errors.New("result file: no runs")
	}
	return &res, nil
}

// ReadFile reads a result file from path.
func ReadFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}
