// Command sidebyside measures weir and Benthos side by side on one workload, each as its own
// process between the same load generator and the same null _bulk receiver:
//
//	ceiling     loadgen → receiver (the machine's limit for this workload)
//	benthos     loadgen → Benthos (http_server, unarchive lines, opensearch output) → receiver
//	weir        loadgen → weir (HTTP source, async) → receiver
//	weir-sigv4  the same with SigV4 signing on (static test credentials; nothing verifies them)
//
// For each it reports the receiver-counted docs/s (median of 1 s intervals), the CPU seconds
// per million documents of the process under test (/proc/PID/stat utime+stime), its peak RSS
// (/proc/PID/status VmHWM) and RSS sampled over the run (first, last, max). It prints a
// Markdown table and appends it, with the command and the load average, to a results file.
// scripts/bench-compare.sh builds everything and runs it.
//
// With -rounds N the scenario list runs N times over, interleaved, and the targets are judged
// on the median of each round's ratios: the 2-core machine this was built on runs at two
// speed levels for minutes at a time, and scenarios measured one after the other compared
// one level with the other.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/weir-ingest/weir/bench/measure"
	"github.com/weir-ingest/weir/bench/proc"
)

type options struct {
	bin, benthos, work, results, out, command string
	scenarios, weirSets                       []string
	warmup, duration, rssEvery                time.Duration
	rate                                      float64
	conns, perRequest, flushDocs, rounds      int
	compact                                   bool
}

// row is one scenario's figures.
type row struct {
	Scenario        string          `json:"scenario"`
	Round           int             `json:"round,omitempty"`
	DocsPerSec      measure.Summary `json:"docs_per_sec"`
	Seconds         float64         `json:"seconds"`
	Docs            int64           `json:"receiver_docs"`
	CPUSeconds      float64         `json:"server_cpu_seconds"`
	CPUPerM         float64         `json:"server_cpu_seconds_per_million_docs"`
	ReceiverCPUPerM float64         `json:"receiver_cpu_seconds_per_million_docs"`
	LoadgenCPUPerM  float64         `json:"loadgen_cpu_seconds_per_million_docs"`
	PeakRSS         int64           `json:"peak_rss_bytes"`
	RSS             []int64         `json:"rss_samples_bytes"`
	Requests        int64           `json:"requests"`
	Refused         int64           `json:"refused_429_503"`
	Failed          int64           `json:"failed"`
	PostP50MS       float64         `json:"post_latency_p50_ms"`
	PostP99MS       float64         `json:"post_latency_p99_ms"`
	LoadAvg         [2]float64      `json:"load_avg_start_end"`
	FirstError      string          `json:"first_error,omitempty"`
}

func main() {
	var o options
	var scen, sets string
	flag.StringVar(&o.bin, "bin", "bin/bench", "directory holding weir, nullbulk and loadgen")
	flag.StringVar(&o.benthos, "benthos", "bench/.peers/bin/benthos", "the Benthos binary")
	flag.StringVar(&o.work, "work", "bench/out/sidebyside", "directory for configurations and process logs")
	flag.StringVar(&o.results, "results", "", "append the table to this Markdown file (bench/RESULTS.md)")
	flag.StringVar(&o.out, "out", "", "write the rows as JSON to this file")
	flag.StringVar(&o.command, "command", "", "the command line to record with the table")
	flag.StringVar(&scen, "scenarios", "ceiling,benthos,weir,weir-sigv4", "which to run, in order")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Second, "unmeasured load before each measurement")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "measured time per scenario")
	flag.DurationVar(&o.rssEvery, "rss-every", 10*time.Second, "RSS sampling period")
	flag.IntVar(&o.conns, "conns", 8, "load generator connections")
	flag.IntVar(&o.perRequest, "docs", 500, "documents per posted request")
	flag.IntVar(&o.flushDocs, "flush-docs", 500, "documents per bulk request for both Benthos and weir")
	flag.BoolVar(&o.compact, "compact", false, "the receiver answers compact items instead of a node's full items")
	flag.Float64Var(&o.rate, "rate", 0, "documents per second the load generator offers (0: as fast as answered)")
	flag.IntVar(&o.rounds, "rounds", 1, "run the scenario list this many times over, interleaved")
	flag.StringVar(&sets, "weir-set", "", "extra weir settings for every weir scenario, key=value,... (e.g. pipeline.queue_bytes=16MiB)")
	flag.Parse()
	o.scenarios = strings.Split(scen, ",")
	if sets != "" {
		o.weirSets = strings.Split(sets, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(1)
	}
	o.rounds = max(o.rounds, 1)
	var runs []row
	for round := 1; round <= o.rounds; round++ {
		for _, s := range o.scenarios {
			fmt.Fprintf(os.Stderr, "sidebyside: round %d/%d: %s: warm-up %s, measuring %s\n", round, o.rounds, s, o.warmup, o.duration)
			r, err := runScenario(ctx, o, s)
			if err != nil {
				fmt.Fprintf(os.Stderr, "sidebyside: %s: %v\n", s, err)
				os.Exit(1)
			}
			r.Round = round
			fmt.Fprintf(os.Stderr, "sidebyside: %s: %.0f docs/s median, %.2f CPU-s/M docs, peak RSS %.0f MiB\n",
				s, r.DocsPerSec.Median, r.CPUPerM, mib(r.PeakRSS))
			runs = append(runs, r)
		}
	}
	table := markdown(o, runs)
	fmt.Print(table)
	if o.out != "" {
		b, _ := json.MarshalIndent(map[string][]row{"runs": runs, "scenarios": combine(runs)}, "", "  ")
		if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "sidebyside:", err)
		}
	}
	if o.results != "" {
		if err := record(o.results, table); err != nil {
			fmt.Fprintln(os.Stderr, "sidebyside:", err)
			os.Exit(1)
		}
	}
}

// resultsMarker keeps the tables together in the results file, whatever sections others
// append after them: a table goes just above it, or at the end of a file without it.
const resultsMarker = "<!-- scripts/bench-compare.sh inserts its tables above this line -->"

func record(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	if i := strings.Index(s, resultsMarker); i >= 0 {
		s = s[:i] + table + "\n" + s[i:]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + table
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// child is a started process whose output goes to a log file.
type child struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func start(o options, name string, stdout io.Writer, bin string, args ...string) (*child, error) {
	log, err := os.Create(filepath.Join(o.work, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = log
	cmd.Stdout = log
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// stop sends SIGTERM and waits, then kills after a grace period.
func (c *child) stop(grace time.Duration) {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = c.log.Close()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(90 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited before %s answered", url)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := c.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within 90s", url)
}

func runScenario(ctx context.Context, o options, scenario string) (row, error) {
	r := row{Scenario: scenario}
	// The receiver prints its URL first.
	pr, pw := io.Pipe()
	recvArgs := []string{"-listen", "127.0.0.1:0"}
	if o.compact {
		recvArgs = append(recvArgs, "-compact")
	}
	recv, err := start(o, scenario+"-nullbulk", pw, filepath.Join(o.bin, "nullbulk"), recvArgs...)
	if err != nil {
		return r, err
	}
	defer recv.stop(10 * time.Second)
	line, err := bufio.NewReader(pr).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err != nil {
		return r, fmt.Errorf("nullbulk did not print its URL: %w", err)
	}
	recvURL := strings.TrimSpace(line)
	stats := recvURL + "/_nullbulk/stats"

	var server *child
	var target, format string
	switch scenario {
	case "ceiling":
		server, target, format = recv, recvURL+"/_bulk", "bulk"
	case "benthos":
		in, err1 := freeAddr()
		api, err2 := freeAddr()
		if err := errors.Join(err1, err2); err != nil {
			return r, err
		}
		cfg := filepath.Join(o.work, "benthos.yaml")
		if err := os.WriteFile(cfg, []byte(benthosConfig(in, api, recvURL, o.flushDocs)), 0o644); err != nil {
			return r, err
		}
		if server, err = start(o, scenario, nil, o.benthos, "-c", cfg); err != nil {
			return r, err
		}
		defer server.stop(30 * time.Second)
		if err := waitHTTP(ctx, "http://"+api+"/ready", server.done); err != nil {
			return r, fmt.Errorf("benthos: %w (see %s)", err, server.log.Name())
		}
		target, format = "http://"+in+"/post", "ndjson"
	case "weir", "weir-sigv4":
		in, err1 := freeAddr()
		ctl, err2 := freeAddr()
		if err := errors.Join(err1, err2); err != nil {
			return r, err
		}
		cfg := filepath.Join(o.work, scenario+".yaml")
		yaml := weirConfig(in, ctl, recvURL, filepath.Join(o.work, scenario+"-deadletter.ndjson"), o.flushDocs, scenario == "weir-sigv4")
		if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
			return r, err
		}
		args := []string{"run", "-c", cfg}
		for _, kv := range o.weirSets {
			args = append(args, "--set", kv)
		}
		if server, err = start(o, scenario, nil, filepath.Join(o.bin, "weir"), args...); err != nil {
			return r, err
		}
		defer server.stop(60 * time.Second)
		if err := waitHTTP(ctx, "http://"+ctl+"/readyz", server.done); err != nil {
			return r, fmt.Errorf("weir: %w (see %s)", err, server.log.Name())
		}
		target, format = "http://"+in+"/v1/ingest/bench", "ndjson"
	default:
		return r, fmt.Errorf("unknown scenario %q (ceiling, benthos, weir, weir-sigv4)", scenario)
	}
	pid, recvPID := server.cmd.Process.Pid, recv.cmd.Process.Pid

	lr, lw := io.Pipe()
	lg, err := start(o, scenario+"-loadgen", lw, filepath.Join(o.bin, "loadgen"),
		"-url", target, "-stats", stats, "-format", format, "-conns", fmt.Sprint(o.conns),
		"-docs", fmt.Sprint(o.perRequest), "-warmup", o.warmup.String(), "-duration", o.duration.String(),
		"-rate", fmt.Sprint(o.rate))
	if err != nil {
		return r, err
	}
	defer lg.stop(10 * time.Second)
	go func() { <-lg.done; _ = lw.Close() }()

	var cpu0, rcpu0 time.Duration
	stopSampling := make(chan struct{})
	sampled := make(chan []int64, 1)
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var res struct {
		Event        string          `json:"event"`
		DocsPerSec   measure.Summary `json:"docs_per_sec"`
		Seconds      float64         `json:"seconds"`
		ReceiverDocs int64           `json:"receiver_docs"`
		Requests     int64           `json:"requests"`
		Refused      int64           `json:"refused"`
		Failed       int64           `json:"failed"`
		P50          float64         `json:"latency_p50_ms"`
		P99          float64         `json:"latency_p99_ms"`
		LoadgenCPU   float64         `json:"loadgen_cpu_seconds"`
		FirstError   string          `json:"first_error"`
	}
	gotResult := false
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			continue
		}
		switch res.Event {
		case "measure_start":
			cpu0, _ = proc.CPU(pid)
			rcpu0, _ = proc.CPU(recvPID)
			la, _ := proc.LoadAvg()
			r.LoadAvg[0] = la[0]
			go sampleRSS(pid, o.rssEvery, stopSampling, sampled)
		case "result":
			cpu1, _ := proc.CPU(pid)
			rcpu1, _ := proc.CPU(recvPID)
			close(stopSampling)
			r.RSS = <-sampled
			if m, err := proc.Mem(pid); err == nil {
				r.PeakRSS = m.Peak
			}
			la, _ := proc.LoadAvg()
			r.LoadAvg[1] = la[0]
			r.DocsPerSec, r.Seconds, r.Docs = res.DocsPerSec, res.Seconds, res.ReceiverDocs
			r.Requests, r.Refused, r.Failed, r.FirstError = res.Requests, res.Refused, res.Failed, res.FirstError
			r.PostP50MS, r.PostP99MS = res.P50, res.P99
			r.CPUSeconds = (cpu1 - cpu0).Seconds()
			if r.Docs > 0 {
				perM := 1e6 / float64(r.Docs)
				r.CPUPerM = r.CPUSeconds * perM
				r.ReceiverCPUPerM = (rcpu1 - rcpu0).Seconds() * perM
				r.LoadgenCPUPerM = res.LoadgenCPU * perM
			}
			gotResult = true
		}
	}
	if !gotResult {
		return r, fmt.Errorf("the load generator ended without a result (see %s)", lg.log.Name())
	}
	if r.Docs == 0 {
		return r, fmt.Errorf("nothing reached the receiver; first error: %s", r.FirstError)
	}
	return r, nil
}

// sampleRSS reads pid's RSS now and every period until stop is closed.
func sampleRSS(pid int, every time.Duration, stop <-chan struct{}, out chan<- []int64) {
	var samples []int64
	take := func() {
		if m, err := proc.Mem(pid); err == nil {
			samples = append(samples, m.RSS)
		}
	}
	take()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			take()
		case <-stop:
			take()
			out <- samples
			return
		}
	}
}

// benthosConfig is the fair configuration of Benthos for this workload: its HTTP server
// input, one message per NDJSON line, and its opensearch output batching like weir.
func benthosConfig(in, api, recvURL string, flushDocs int) string {
	return fmt.Sprintf(`http:
  enabled: true
  address: %s
input:
  http_server:
    address: %s
    path: /post
  processors:
    - unarchive:
        format: lines
output:
  opensearch:
    urls: [%s]
    index: bench
    action: index
    id: ""
    max_in_flight: 4
    batching:
      count: %d
      byte_size: 5000000
      period: 1s
logger:
  level: warn
`, api, in, recvURL, flushDocs)
}

// weirConfig is weir in async mode with the same batching as Benthos. With sigv4 the AWS
// endpoint (STS, for the start-up identity log) is the receiver too, so nothing leaves the
// machine.
func weirConfig(in, ctl, recvURL, deadLetter string, flushDocs int, sigv4 bool) string {
	s := fmt.Sprintf(`log:
  format: json
  level: warn
pipeline:
  index: bench
opensearch:
  urls: [%s]
  flush_documents: %d
  flush_bytes: 5MB
  flush_interval: 1s
  max_in_flight: 4
dead_letter:
  path: %s
sources:
  http:
    enabled: true
    listen: %s
    mode: async
control:
  listen: %s
`, recvURL, flushDocs, deadLetter, in, ctl)
	if sigv4 {
		s += fmt.Sprintf(`aws:
  region: us-east-1
  endpoint_url: %s
  credentials:
    provider: static
    access_key_id: AKIDEXAMPLE
    secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
`, recvURL)
		s = strings.Replace(s, "  max_in_flight: 4\n", "  max_in_flight: 4\n  sigv4: {enabled: true, service: es}\n", 1)
	}
	return s
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func find(rows []row, name string) *row {
	for i := range rows {
		if rows[i].Scenario == name {
			return &rows[i]
		}
	}
	return nil
}

// combine pools each scenario's rounds into one row: docs/s is the median of the rounds'
// medians (min and max over every interval), CPU per million documents the total over all
// rounds, RSS the samples of all rounds' processes in order.
func combine(runs []row) []row {
	var out []row
	var names []string
	for _, r := range runs {
		if !slices.Contains(names, r.Scenario) {
			names = append(names, r.Scenario)
		}
	}
	for _, name := range names {
		var c row
		var medians, means []float64
		var p50s, p99s []float64
		var recvCPU, lgCPU float64
		n := 0
		for _, r := range runs {
			if r.Scenario != name {
				continue
			}
			if n == 0 {
				c = row{Scenario: name, DocsPerSec: measure.Summary{Min: r.DocsPerSec.Min}, LoadAvg: r.LoadAvg, FirstError: r.FirstError}
			}
			n++
			medians, means = append(medians, r.DocsPerSec.Median), append(means, r.DocsPerSec.Mean)
			p50s, p99s = append(p50s, r.PostP50MS), append(p99s, r.PostP99MS)
			c.DocsPerSec.Min, c.DocsPerSec.Max = min(c.DocsPerSec.Min, r.DocsPerSec.Min), max(c.DocsPerSec.Max, r.DocsPerSec.Max)
			c.Seconds += r.Seconds
			c.Docs += r.Docs
			c.CPUSeconds += r.CPUSeconds
			recvCPU += r.ReceiverCPUPerM * float64(r.Docs) / 1e6
			lgCPU += r.LoadgenCPUPerM * float64(r.Docs) / 1e6
			c.PeakRSS = max(c.PeakRSS, r.PeakRSS)
			c.RSS = append(c.RSS, r.RSS...)
			c.Requests += r.Requests
			c.Refused += r.Refused
			c.Failed += r.Failed
			c.LoadAvg[1] = r.LoadAvg[1]
			c.FirstError = cmp.Or(c.FirstError, r.FirstError)
		}
		if n == 0 {
			continue
		}
		c.DocsPerSec.Median = measure.Summarize(medians).Median
		c.DocsPerSec.Mean = measure.Summarize(means).Mean
		c.PostP50MS, c.PostP99MS = measure.Summarize(p50s).Median, measure.Summarize(p99s).Median
		if c.Docs > 0 {
			perM := 1e6 / float64(c.Docs)
			c.CPUPerM, c.ReceiverCPUPerM, c.LoadgenCPUPerM = c.CPUSeconds*perM, recvCPU*perM, lgCPU*perM
		}
		out = append(out, c)
	}
	return out
}

// paired returns f of scenarios a and b for every round that ran both, in round order: the
// ratios of figures measured minutes apart, not hours.
func paired(runs []row, a, b string, f func(a, b *row) float64) []float64 {
	var rounds []int
	byRound := map[int]map[string]*row{}
	for i := range runs {
		r := &runs[i]
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[string]*row{}
			rounds = append(rounds, r.Round)
		}
		byRound[r.Round][r.Scenario] = r
	}
	var out []float64
	for _, round := range rounds {
		ra, rb := byRound[round][a], byRound[round][b]
		if ra == nil || rb == nil {
			continue
		}
		if v := f(ra, rb); !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

func docsRatio(a, b *row) float64 { return a.DocsPerSec.Median / b.DocsPerSec.Median }

// markdown renders the rows, and the targets that can be judged from them.
func markdown(o options, runs []row) string {
	var b strings.Builder
	rows := combine(runs)
	rounds := max(o.rounds, 1)
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "### Side by side, %s (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), host)
	if o.command != "" {
		fmt.Fprintf(&b, "`%s`\n\n", o.command)
	}
	fmt.Fprintf(&b, "%d connections posting %d-document NDJSON bodies (~1 KiB log documents); warm-up %s, measured %s per scenario; "+
		"bulk batches of %d documents, 4 in flight; receiver answers %s items.",
		o.conns, o.perRequest, o.warmup, o.duration, o.flushDocs, map[bool]string{true: "compact", false: "full (node-like)"}[o.compact])
	if rounds > 1 {
		fmt.Fprintf(&b, " %d rounds, the scenarios interleaved (%s, then again): docs/s is the median of the rounds' medians "+
			"(min–max over every 1 s interval), CPU per million documents the total over the rounds, and each ratio the median "+
			"of the rounds' ratios.", rounds, strings.Join(o.scenarios, ", "))
	}
	if o.rate > 0 {
		fmt.Fprintf(&b, " The load generator offers %s documents/s (a fixed load, not as fast as answered): compare CPU, "+
			"and docs/s against the offer.", thousands(o.rate))
	}
	b.WriteString("\n\n")
	if len(o.weirSets) > 0 {
		fmt.Fprintf(&b, "weir runs with `%s`.\n\n", strings.Join(o.weirSets, " "))
	}
	b.WriteString("| scenario | docs/s median (min–max) | % of ceiling | server CPU-s / M docs | receiver / loadgen CPU-s / M | peak RSS MiB | RSS first / last / max MiB | 429/503 | load avg start→end |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		pct := "—"
		if x := paired(runs, r.Scenario, "ceiling", docsRatio); r.Scenario != "ceiling" && len(x) > 0 {
			pct = fmt.Sprintf("%.0f%%", 100*measure.Summarize(x).Median)
		}
		first, last, mx := rssStats(r.RSS)
		fmt.Fprintf(&b, "| %s | %s (%s–%s) | %s | %.2f | %.2f / %.2f | %.0f | %.0f / %.0f / %.0f | %d | %.1f→%.1f |\n",
			r.Scenario, thousands(r.DocsPerSec.Median), thousands(r.DocsPerSec.Min), thousands(r.DocsPerSec.Max), pct,
			r.CPUPerM, r.ReceiverCPUPerM, r.LoadgenCPUPerM, mib(r.PeakRSS), mib(first), mib(last), mib(mx), r.Refused,
			r.LoadAvg[0], r.LoadAvg[1])
	}
	b.WriteString("\n")
	if rounds > 1 {
		roundTable(&b, o.scenarios, runs)
	}
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	// judge prints one target line: the median of the rounds' values, and with more than one
	// round the values themselves.
	judge := func(label string, xs []float64, format string, scale float64, suffix, target string, ok func(float64) bool) {
		if len(xs) == 0 {
			return
		}
		m := measure.Summarize(xs).Median
		if len(xs) > 1 {
			each := make([]string, len(xs))
			for i, x := range xs {
				each[i] = fmt.Sprintf(format, scale*x)
			}
			label += fmt.Sprintf(", median of %d rounds (%s)", len(xs), strings.Join(each, ", "))
		}
		fmt.Fprintf(&b, "- %s: "+format+"%s (target %s: %s)\n", label, scale*m, suffix, target, check(ok(m)))
	}
	judge("weir docs/s ÷ Benthos", paired(runs, "weir", "benthos", docsRatio), "%.1f×", 1, "", "≥ 10×",
		func(x float64) bool { return x >= 10 })
	judge("Benthos CPU-s/M ÷ weir", paired(runs, "benthos", "weir", func(a, b *row) float64 { return a.CPUPerM / b.CPUPerM }),
		"%.1f×", 1, "", "≥ 15×", func(x float64) bool { return x >= 15 })
	judge("weir ÷ ceiling", paired(runs, "weir", "ceiling", docsRatio), "%.0f%%", 100, "", "≥ 40%",
		func(x float64) bool { return x >= 0.4 })
	if w := find(rows, "weir"); w != nil {
		fmt.Fprintf(&b, "- weir peak RSS: %.0f MiB (target < 100 MiB: %s)\n", mib(w.PeakRSS), check(w.PeakRSS < 100<<20))
	}
	if w, ws := find(rows, "weir"), find(rows, "weir-sigv4"); w != nil && ws != nil {
		judge("SigV4 vs unsigned", paired(runs, "weir-sigv4", "weir", func(a, b *row) float64 { return docsRatio(a, b) - 1 }),
			"%+.1f%%", 100, fmt.Sprintf(" docs/s, %.2f vs %.2f CPU-s/M", ws.CPUPerM, w.CPUPerM), "within 10%",
			func(x float64) bool { return x >= -0.1 })
	}
	return b.String()
}

// roundTable shows each round's medians, so that a reader sees which rounds ran slow.
func roundTable(b *strings.Builder, scenarios []string, runs []row) {
	b.WriteString("| round | " + strings.Join(scenarios, " | ") + " |\n|---|" + strings.Repeat("---|", len(scenarios)) + "\n")
	last := 0
	for _, r := range runs {
		if r.Round != last {
			if last != 0 {
				b.WriteString("\n")
			}
			last = r.Round
			fmt.Fprintf(b, "| %d |", r.Round)
		}
		fmt.Fprintf(b, " %s |", thousands(r.DocsPerSec.Median))
	}
	b.WriteString("\n\n")
}

func rssStats(s []int64) (first, last, mx int64) {
	if len(s) == 0 {
		return 0, 0, 0
	}
	for _, v := range s {
		mx = max(mx, v)
	}
	return s[0], s[len(s)-1], mx
}

// thousands writes 1234567.8 as 1,234,568.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
