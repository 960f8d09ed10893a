package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/bench/corpus"
	"github.com/weir-ingest/weir/bench/indexing"
	"github.com/weir-ingest/weir/bench/measure"
	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/bench/report"
	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/sinks/opensearch"
)

const benchUsage = `weir bench measures how fast a domain indexes: it sends _bulk requests straight to it
(its own encoder and HTTP client, with weir's transport and SigV4 signing) and reports
docs/s and MB/s (min, median, max over 1 s intervals), bulk latency percentiles, 429 and
error rates, and its own CPU per million documents.

Usage:
  weir bench [-c FILE] [--set key=value]... [--target URL|local|null] [flags]
  weir bench --serve-null ADDR                 serve the null _bulk receiver until stopped
  weir bench --write-corpus FILE --docs N      write the generated documents as NDJSON

The target's authentication (basic auth, or opensearch.sigv4 with the aws section) comes
from the configuration, as for weir run. --target defaults to opensearch.urls; "local" is
http://127.0.0.1:19200 (WEIR_OS_PORT), "null" a receiver in this process that indexes nothing.
--clients and --bulk-docs take comma-separated lists: every combination is run.

Flags:
`

// benchFlags are weir bench's own flags.
type benchFlags struct {
	target, index, file, out, svg, compare, serveNull, writeCorpus string
	recreate                                                       bool
	shards, replicas                                               int
	docBytes, fields, cardinality, corpusDocs                      int
	seed                                                           uint64
	warmup, duration, timeout                                      time.Duration
	docs                                                           int64
	clients, bulkDocs                                              string
	verbose                                                        bool
}

func (b *benchFlags) register(fs *flag.FlagSet) {
	spec := corpus.DefaultSpec()
	fs.StringVar(&b.target, "target", "", `URL of the domain, "local" or "null" (default: opensearch.urls)`)
	fs.StringVar(&b.index, "index", "weir-bench", "index the documents go to")
	fs.BoolVar(&b.recreate, "recreate-index", false, "delete and create the index before each run (not with --target null)")
	fs.IntVar(&b.shards, "shards", 1, "primary shards of a recreated index")
	fs.IntVar(&b.replicas, "replicas", 0, "replicas of a recreated index")
	fs.IntVar(&b.docBytes, "doc-bytes", spec.DocBytes, "size of a generated document")
	fs.IntVar(&b.fields, "fields", spec.Fields, "fields of a generated document besides @timestamp")
	fs.IntVar(&b.cardinality, "cardinality", spec.Cardinality, "distinct values of each generated field")
	fs.Uint64Var(&b.seed, "seed", spec.Seed, "seed of the generated documents")
	fs.IntVar(&b.corpusDocs, "corpus-docs", 10000, "distinct generated documents, sent in a loop")
	fs.StringVar(&b.file, "file", "", "replay this NDJSON file's documents (in a loop) instead of generating them")
	fs.DurationVar(&b.warmup, "warmup", 10*time.Second, "unmeasured load before each run")
	fs.DurationVar(&b.duration, "duration", 60*time.Second, "length of each measured run")
	fs.Int64Var(&b.docs, "docs", 0, "measure this many documents instead of a duration")
	fs.StringVar(&b.clients, "clients", "4", "concurrent bulk requests, e.g. 1,2,4,8,16")
	fs.StringVar(&b.bulkDocs, "bulk-docs", "1000", "documents per bulk request, e.g. 500,1000,5000")
	fs.DurationVar(&b.timeout, "timeout", 60*time.Second, "timeout of one bulk request")
	fs.StringVar(&b.out, "out", "", "write the results as JSON to this file")
	fs.StringVar(&b.svg, "svg", "", "draw throughput and p99 latency against clients into this SVG file")
	fs.StringVar(&b.compare, "compare", "", "print the change from this earlier result file")
	fs.StringVar(&b.serveNull, "serve-null", "", "serve the null _bulk receiver on this address until stopped")
	fs.StringVar(&b.writeCorpus, "write-corpus", "", "write --docs generated documents to this NDJSON file and exit")
	fs.BoolVar(&b.verbose, "v", false, "print every interval's throughput")
}

func (b *benchFlags) spec() corpus.Spec {
	s := corpus.DefaultSpec()
	s.DocBytes, s.Fields, s.Cardinality, s.Seed = b.docBytes, b.fields, b.cardinality, b.seed
	return s
}

func runBench(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weir bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	var bf benchFlags
	cf.register(fs)
	bf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weir bench: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	switch {
	case bf.serveNull != "":
		return serveNull(ctx, bf.serveNull, stdout, stderr)
	case bf.writeCorpus != "":
		return writeCorpus(bf, stdout, stderr)
	}
	clients, err1 := intList(bf.clients)
	bulks, err2 := intList(bf.bulkDocs)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(stderr, "weir bench:", err)
		return exitUsage
	}
	cfg, err := loadBenchConfig(&cf, environ)
	if err != nil {
		fmt.Fprintf(stderr, "weir bench: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	var old *report.Result
	if bf.compare != "" {
		if old, err = report.ReadFile(bf.compare); err != nil {
			fmt.Fprintln(stderr, "weir bench:", err)
			return exitUsage
		}
	}
	res, err := bench(ctx, cfg, bf, clients, bulks, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "weir bench:", err)
		if res == nil || len(res.Runs) == 0 {
			return exitError
		}
	}
	code := exitOK
	if err != nil {
		code = exitError
	}
	_ = report.WriteTable(stdout, res)
	if bf.out != "" {
		if err := report.WriteFile(bf.out, res); err != nil {
			fmt.Fprintln(stderr, "weir bench:", err)
			code = exitError
		}
	}
	if bf.svg != "" {
		if err := writeSVG(bf.svg, res); err != nil {
			fmt.Fprintln(stderr, "weir bench:", err)
			code = exitError
		}
	}
	if old != nil {
		fmt.Fprintln(stdout)
		_ = report.WriteCompare(stdout, old, res)
	}
	return code
}

// loadBenchConfig reads the configuration like weir run, but checks only what weir bench
// uses (opensearch and aws), so a file that configures nothing else is enough.
func loadBenchConfig(cf *commonFlags, environ []string) (config.Config, error) {
	src := config.Source{YAML: defaultConfig, Name: "bundled default config"}
	if cf.file != "" {
		var err error
		if src, err = config.ReadFile(cf.file); err != nil {
			return config.Config{}, err
		}
	}
	src.Environ = environ
	src.Sets = append([]string(nil), cf.sets...)
	cfg := config.Default()
	if err := config.Decode(src, &cfg); err != nil {
		return cfg, err
	}
	errs := []error{config.Prefix("opensearch", cfg.OpenSearch.Config.Validate())}
	if cfg.OpenSearch.SigV4.Enabled {
		sc := cfg.OpenSearch.SigV4.SigningConfig
		if sc.Region == "" {
			sc.Region = cfg.AWS.Region
		}
		errs = append(errs, config.Prefix("opensearch.sigv4", sc.Validate()),
			config.Prefix("aws", cfg.AWS.Credentials.Validate()))
	}
	return cfg, errors.Join(errs...)
}

// bench runs every combination and returns what it measured, even when a run failed.
func bench(ctx context.Context, cfg config.Config, bf benchFlags, clients, bulks []int, stderr io.Writer) (*report.Result, error) {
	var docs *corpus.Corpus
	var err error
	spec := bf.spec()
	load := report.Load{Index: bf.index, Warmup: bf.warmup.String()}
	if bf.file != "" {
		docs, err = corpus.Load(bf.file)
		load.Source = "file " + bf.file
	} else {
		docs, err = corpus.Generate(spec, bf.corpusDocs)
		load.Source, load.DocBytes, load.Fields, load.Cardinality, load.Seed = "generated", spec.DocBytes, spec.Fields, spec.Cardinality, spec.Seed
	}
	if err != nil {
		return nil, err
	}
	load.AvgDocBytes = measure.Round(docs.AvgBytes(), 2)
	if bf.docs > 0 {
		load.Docs = bf.docs
	} else {
		load.Duration = bf.duration.String()
	}

	urls, display, err := benchTargets(ctx, bf.target, cfg)
	if err != nil {
		return nil, err
	}
	if bf.target == "null" {
		if bf.recreate {
			return nil, errors.New("--recreate-index has no meaning with --target null")
		}
		null := nullbulk.New()
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("null receiver: %w", err)
		}
		srv := &http.Server{Handler: null, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		urls, display = []string{"http://" + ln.Addr().String()}, "null"
	}

	osCfg := cfg.OpenSearch.Config
	osCfg.MaxInFlight = slices.Max(clients)
	var rt http.RoundTripper = opensearch.DefaultTransport(osCfg)
	authName := "none"
	header := http.Header{}
	switch {
	case cfg.OpenSearch.SigV4.Enabled:
		cc := cfg.AWS.Credentials
		if cc.Region == "" {
			cc.Region = cfg.AWS.Region
		}
		if cc.STSEndpoint == "" {
			cc.STSEndpoint = cfg.AWS.EndpointURL
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		creds, err := auth.NewCredentials(ctx, cc, auth.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("aws.credentials: %w", err)
		}
		sc := cfg.OpenSearch.SigV4.SigningConfig
		if sc.Region == "" {
			sc.Region = cfg.AWS.Region
		}
		rt = auth.NewTransport(rt, creds, sc)
		authName = "sigv4"
	case cfg.OpenSearch.Username != "":
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(cfg.OpenSearch.Username+":"+cfg.OpenSearch.Password.Reveal())))
		authName = "basic"
	}
	client := &http.Client{Transport: rt, Timeout: bf.timeout}
	host, _ := os.Hostname()
	res := &report.Result{
		Format: report.FormatVersion, Tool: "weir bench", Version: version, Started: time.Now().UTC(),
		Target: display, Auth: authName, Load: load,
		Host: report.Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Hostname: host},
	}
	for _, bulk := range bulks {
		for _, c := range clients {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if bf.recreate {
				if err := recreateIndex(ctx, client, header, urls[0], bf.index, bf.shards, bf.replicas); err != nil {
					return res, err
				}
			}
			fmt.Fprintf(stderr, "weir bench: clients=%d bulk=%d: warm-up %s, then %s\n", c, bulk, bf.warmup, what(bf))
			ic := indexing.Config{URLs: urls, Index: bf.index, Client: client, Header: header, Corpus: docs,
				Clients: c, BulkDocs: bulk, Warmup: bf.warmup, Duration: bf.duration, Docs: bf.docs}
			if bf.verbose {
				ic.Progress = func(el time.Duration, r float64) {
					fmt.Fprintf(stderr, "  %6.1fs %10.0f docs/s\n", el.Seconds(), r)
				}
			}
			run, err := indexing.Run(ctx, ic)
			if err != nil {
				return res, fmt.Errorf("clients=%d bulk=%d: %w", c, bulk, err)
			}
			fmt.Fprintf(stderr, "weir bench: clients=%d bulk=%d: %.0f docs/s median, p99 %.1f ms (load %.1f)\n",
				c, bulk, run.DocsPerSec.Median, run.Latency.P99, run.LoadAvg)
			res.Runs = append(res.Runs, run)
		}
	}
	return res, nil
}

func what(bf benchFlags) string {
	if bf.docs > 0 {
		return strconv.FormatInt(bf.docs, 10) + " documents"
	}
	return bf.duration.String()
}

// benchTargets resolves --target into the URLs to send to and how to name them in results
// (without credentials).
func benchTargets(_ context.Context, target string, cfg config.Config) (urls []string, display string, err error) {
	switch target {
	case "null":
		return nil, "null", nil
	case "":
		urls = cfg.OpenSearch.URLs
	case "local":
		port := os.Getenv("WEIR_OS_PORT")
		if port == "" {
			port = "19200"
		}
		urls = []string{"http://127.0.0.1:" + port}
	default:
		urls = []string{target}
	}
	var shown []string
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || p.Host == "" {
			return nil, "", fmt.Errorf("target %q is not an http(s) URL, local or null", u)
		}
		p.User = nil
		shown = append(shown, p.String())
	}
	return urls, strings.Join(shown, ","), nil
}

// recreateIndex deletes the index (a missing one is fine) and creates it with the given
// shards and replicas, so that every run starts from the same empty index.
func recreateIndex(ctx context.Context, c *http.Client, h http.Header, base, index string, shards, replicas int) error {
	do := func(method, body string, ok ...int) error {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+"/"+url.PathEscape(index), strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header = h.Clone()
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if !slices.Contains(ok, resp.StatusCode) {
			return fmt.Errorf("%s %s: %d %s", method, index, resp.StatusCode, msg)
		}
		return nil
	}
	if err := do(http.MethodDelete, "", 200, 404); err != nil {
		return err
	}
	return do(http.MethodPut, fmt.Sprintf(`{"settings":{"index":{"number_of_shards":%d,"number_of_replicas":%d}}}`, shards, replicas), 200)
}

func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive whole numbers separated by commas", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func writeSVG(path string, res *report.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := report.WriteSVG(f, res); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// serveNull serves the null receiver (and its counters at nullbulk.StatsPath) until ctx ends.
func serveNull(ctx context.Context, addr string, stdout, stderr io.Writer) int {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintln(stderr, "weir bench:", err)
		return exitError
	}
	srv := &http.Server{Handler: nullbulk.New().WithStats(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "null _bulk receiver on http://%s (counters at %s)\n", ln.Addr(), nullbulk.StatsPath)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "weir bench:", err)
		return exitError
	}
	return exitOK
}

func writeCorpus(bf benchFlags, stdout, stderr io.Writer) int {
	if bf.docs <= 0 {
		fmt.Fprintln(stderr, "weir bench: --write-corpus needs --docs N")
		return exitUsage
	}
	f, err := os.Create(bf.writeCorpus)
	if err != nil {
		fmt.Fprintln(stderr, "weir bench:", err)
		return exitError
	}
	err = corpus.WriteNDJSON(f, bf.spec(), bf.docs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "weir bench:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "wrote %d documents to %s\n", bf.docs, bf.writeCorpus)
	return exitOK
}
