package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/term"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/config/units"
	"github.com/weir-ingest/weir/sources/file"
	httpsource "github.com/weir-ingest/weir/sources/http"
	sqssource "github.com/weir-ingest/weir/sources/sqs"
)

const backfillUsage = `Usage:
  weir backfill [-c FILE] [--set key=value]... [flags] INPUT...
  weir backfill plan s3://BUCKET/PREFIX... --queue QUEUE_URL [-c FILE]

Reads finite inputs into OpenSearch with the same pipeline, sink, signing and circuit
breaker as weir run, then exits and says how it went. INPUT is:
  FILE, DIR, 'GLOB'        local files (a directory: every file under it), NDJSON, a JSON
                           array or {"Records":[...]}; gzip recognised by its magic bytes
  -                        standard input
  s3://BUCKET/PREFIX       every object under the prefix
  sqs://QUEUE_URL          drain an SQS queue (S3 event notifications or documents) until empty
  kinesis://STREAM         read a stream from --from to --to

Exit codes: 0 every document indexed or dead-lettered; 1 an input could not be read;
2 bad usage or configuration; 3 documents undelivered or stopped by a signal (run again
with the same --checkpoint: finished inputs are skipped, a partial one resumes).

plan lists the objects under each prefix and sends one S3 event notification per object
to --queue, so that any number of 'weir run' processes with the SQS source share the job.
`

// backfillFlags are weir backfill's options beyond the configuration.
type backfillFlags struct {
	cf            commonFlags
	index         string
	checkpoint    string
	cpEvery       time.Duration
	progress      string
	summaryJSON   string
	control       string
	parallel      int
	chunkBytes    string
	sqs           setFlags
	emptyReceives int
	sqsWait       time.Duration
	from, to      string
	queue         string
}

func (b *backfillFlags) register(fs *flag.FlagSet, plan bool) {
	b.cf.register(fs)
	if plan {
		fs.StringVar(&b.queue, "queue", "", "SQS queue URL that receives one S3 event notification per object")
		return
	}
	fs.StringVar(&b.index, "index", "", "target index or template (e.g. logs-%{yyyy.MM.dd}); default: pipeline.index")
	fs.StringVar(&b.checkpoint, "checkpoint", file.DefaultCheckpointPath, "checkpoint file (JSON) of finished inputs and the offset of a partial one; --checkpoint= for none")
	fs.DurationVar(&b.cpEvery, "checkpoint-every", 5*time.Second, "how often the checkpoint is written while the job runs (and once at the end)")
	fs.StringVar(&b.progress, "progress", "auto", "auto (a live line on a terminal, else JSON), tty, json or none; written to stderr")
	fs.StringVar(&b.summaryJSON, "summary-json", "", "also write the final summary (one JSON line) to this file")
	fs.StringVar(&b.control, "control", "127.0.0.1:0", "control port (metrics, health) while the job runs; default: a free loopback port, so a backfill runs beside weir run")
	fs.IntVar(&b.parallel, "parallel", 4, "inputs read at once")
	fs.StringVar(&b.chunkBytes, "chunk-bytes", "4MiB", "how much of an input is read and handed to the pipeline at a time (at most a quarter of pipeline.queue_bytes)")
	fs.Var(&b.sqs, "sqs", "SQS queue URL to drain (repeatable; same as sqs://QUEUE_URL)")
	fs.IntVar(&b.emptyReceives, "sqs-empty-receives", 3, "a queue counts as drained after this many empty receives in a row with nothing in flight")
	fs.DurationVar(&b.sqsWait, "sqs-wait", time.Second, "long-poll wait of one receive while draining (1s to 20s)")
	fs.StringVar(&b.from, "from", "TRIM_HORIZON", "Kinesis start: TRIM_HORIZON or AT_TIMESTAMP:RFC3339")
	fs.StringVar(&b.to, "to", "TAIL", "Kinesis end: TAIL (the tip when the backfill starts) or an RFC 3339 time")
}

// backfillInputs are the command line's inputs by kind.
type backfillInputs struct {
	files   []string // files, globs, directories, "-" and s3:// prefixes
	queues  []string
	streams []string
}

func classifyInputs(args []string, sqsFlags []string) (backfillInputs, error) {
	var in backfillInputs
	var errs []error
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "sqs://"):
			in.queues = append(in.queues, queueURL(strings.TrimPrefix(a, "sqs://")))
		case strings.HasPrefix(a, "kinesis://"):
			name := strings.TrimPrefix(a, "kinesis://")
			if name == "" {
				errs = append(errs, fmt.Errorf("%q names no stream", a))
				continue
			}
			in.streams = append(in.streams, name)
		case file.IsS3URI(a):
			if _, _, err := file.ParseS3URI(a); err != nil {
				errs = append(errs, err)
				continue
			}
			in.files = append(in.files, a)
		default:
			in.files = append(in.files, a)
		}
	}
	for _, q := range sqsFlags {
		in.queues = append(in.queues, queueURL(q))
	}
	for _, q := range in.queues {
		if u, err := url.Parse(q); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("%q: not a queue URL", q))
		}
	}
	return in, errors.Join(errs...)
}

// queueURL accepts sqs://https://sqs.REGION.amazonaws.com/ACCOUNT/NAME and the shorter
// sqs://sqs.REGION.amazonaws.com/ACCOUNT/NAME (https assumed).
func queueURL(s string) string {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return s
	}
	return "https://" + s
}

func (in backfillInputs) needAWS() bool {
	if len(in.queues) > 0 || len(in.streams) > 0 {
		return true
	}
	for _, f := range in.files {
		if file.IsS3URI(f) {
			return true
		}
	}
	return false
}

// loadBackfillConfig reads the configuration like weir run and checks all of it but the
// sources, which a backfill does not start (its inputs are on the command line).
func loadBackfillConfig(cf *commonFlags, environ []string, needAWS bool) (config.Config, error) {
	src := config.Source{YAML: defaultConfig, Name: "bundled default config"}
	if cf.file != "" {
		var err error
		if src, err = config.ReadFile(cf.file); err != nil {
			return config.Config{}, err
		}
	}
	src.Environ = environ
	src.Sets = append([]string(nil), cf.sets...)
	if cf.logLevel != "" {
		src.Sets = append(src.Sets, "log.level="+cf.logLevel)
	}
	if cf.logFormat != "" {
		src.Sets = append(src.Sets, "log.format="+cf.logFormat)
	}
	cfg := config.Default()
	errs := []error{config.Decode(src, &cfg)}
	// Validate everything else as weir run would: a stand-in source satisfies the rule
	// that one must be enabled.
	check := cfg
	check.Sources = config.Default().Sources
	check.Sources.HTTP = config.HTTPSource{Enabled: true, Config: httpsource.DefaultConfig()}
	check.Sources.HTTP.MaxRequestBytes = min(check.Sources.HTTP.MaxRequestBytes, cfg.Pipeline.QueueBytes)
	if err := check.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", src.Name, err))
	}
	if needAWS && !cfg.NeedsAWS() {
		errs = append(errs, config.Prefix("aws", cfg.AWS.Credentials.Validate()))
	}
	cfg.Sources = config.Default().Sources // none enabled: the daemon's sources stay off
	return cfg, errors.Join(errs...)
}

func runBackfill(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "plan" {
		return runBackfillPlan(ctx, args[1:], environ, stdout, stderr)
	}
	fs := flag.NewFlagSet("weir backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf backfillFlags
	bf.register(fs, false)
	fs.Usage = func() {
		fmt.Fprint(stderr, backfillUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	args, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	inputs, err := classifyInputs(args, bf.sqs)
	if err == nil && len(inputs.files)+len(inputs.queues)+len(inputs.streams) == 0 {
		err = errors.New("name at least one input")
	}
	if err == nil {
		err = bf.check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "weir backfill: %v\n\n%s", err, backfillUsage)
		return exitUsage
	}
	cfg, err := loadBackfillConfig(&bf.cf, environ, inputs.needAWS())
	if err != nil {
		fmt.Fprintf(stderr, "weir: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	chunk, _ := units.ParseByteSize(bf.chunkBytes)
	cfg.Control.Listen = bf.control
	log := newLogger(cfg.Log, stderr)
	b := &backfill{cfg: cfg, flags: bf, chunkBytes: int(chunk), log: log, stdin: stdin, stdout: stdout, stderr: stderr}
	return b.run(ctx, inputs)
}

func (b *backfillFlags) check() error {
	var errs []error
	switch b.progress {
	case "auto", "tty", "json", "none":
	default:
		errs = append(errs, fmt.Errorf("--progress: want auto, tty, json or none, got %q", b.progress))
	}
	if b.index != "" {
		if err := checkIndex(b.index); err != nil {
			errs = append(errs, fmt.Errorf("--index: %w", err))
		}
	}
	if b.parallel < 1 || b.parallel > 256 {
		errs = append(errs, fmt.Errorf("--parallel: want 1 to 256, got %d", b.parallel))
	}
	if n, err := units.ParseByteSize(b.chunkBytes); err != nil || n < 64<<10 {
		errs = append(errs, fmt.Errorf("--chunk-bytes: want a size of at least 64KiB, got %q", b.chunkBytes))
	}
	if b.cpEvery < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("--checkpoint-every: want at least 10ms, got %s", b.cpEvery))
	}
	if b.emptyReceives < 1 {
		errs = append(errs, fmt.Errorf("--sqs-empty-receives: want at least 1, got %d", b.emptyReceives))
	}
	if b.sqsWait < time.Second || b.sqsWait > 20*time.Second {
		errs = append(errs, fmt.Errorf("--sqs-wait: want 1s to 20s, got %s", b.sqsWait))
	}
	if _, err := parseKinesisRange(b.from, b.to, time.Now()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// backfill is one run of weir backfill: weir run's components without its sources, fed
// from the command line's inputs.
type backfill struct {
	cfg        config.Config
	flags      backfillFlags
	chunkBytes int
	log        *slog.Logger
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer

	// started is when the run began: the end of a Kinesis range read to its tail.
	started time.Time
	d       *daemon
	awsCfg  aws.Config
	s3      *s3.Client
	job     *file.Job
	// streamBytes counts bytes read by queue drains (message bodies and the objects they
	// name), for progress and the summary.
	streamBytes atomic.Int64
	// streamErrs are failures of queue drains and stream reads.
	streamErrs []file.Failure
}

func (b *backfill) run(ctx context.Context, inputs backfillInputs) int {
	start := time.Now()
	b.started = start
	b.log.Info("weir backfill starting", "version", version, "inputs", len(inputs.files), "queues", len(inputs.queues), "streams", len(inputs.streams))
	d, err := newDaemon(b.cfg, b.log)
	if err != nil {
		b.log.Error("cannot build weir", "err", err)
		return exitError
	}
	b.d = d
	if inputs.needAWS() {
		if _, b.awsCfg, err = d.aws(ctx); err != nil {
			b.log.Error("cannot build the AWS identity", "err", err)
			b.stop(b.cfg.Pipeline.DrainTimeout)
			return exitError
		}
		b.s3 = s3.NewFromConfig(b.awsCfg, func(o *s3.Options) {
			// Path-style addressing when an endpoint override (moto, LocalStack) has no
			// per-bucket host names.
			o.UsePathStyle = b.awsCfg.BaseEndpoint != nil
		})
	}
	var lister file.S3Lister
	if b.s3 != nil {
		lister = b.s3
	}
	files, err := file.Expand(ctx, inputs.files, lister)
	if err != nil {
		fmt.Fprintf(b.stderr, "weir backfill: %v\n", err)
		b.stop(b.cfg.Pipeline.DrainTimeout)
		return exitUsage
	}
	resumable := false
	for _, in := range files {
		resumable = resumable || in.Resumable()
	}
	if !resumable {
		// Standard input, queues and streams only: nothing a checkpoint file could track.
		b.flags.checkpoint = ""
	}
	var cp *file.Checkpoint
	if b.flags.checkpoint != "" {
		if cp, err = file.LoadCheckpoint(b.flags.checkpoint); err != nil {
			fmt.Fprintf(b.stderr, "weir backfill: %v\n", err)
			b.stop(b.cfg.Pipeline.DrainTimeout)
			return exitError
		}
	}
	opts := []file.Option{file.WithStdin(b.stdin), file.WithLogger(b.log), file.WithCheckpoint(cp)}
	if b.s3 != nil {
		opts = append(opts, file.WithS3(b.s3))
	}
	b.job, err = file.NewJob(file.Config{Index: b.flags.index, ChunkBytes: b.chunkBytes, Parallel: b.flags.parallel,
		CheckpointPath: b.flags.checkpoint, CheckpointEvery: b.flags.cpEvery}, d.pipe, d.dlq, opts...)
	if err != nil {
		b.log.Error("cannot build the backfill", "err", err)
		b.stop(b.cfg.Pipeline.DrainTimeout)
		return exitError
	}
	if err := d.start(ctx); err != nil {
		b.log.Error("cannot start weir", "err", err)
		b.stop(b.cfg.Pipeline.DrainTimeout)
		return exitError
	}
	b.log.Info("weir backfill running", "control", d.ctrl.Addr(), "checkpoint", b.flags.checkpoint)

	progress := b.startProgress(len(inputs.queues)+len(inputs.streams) > 0)
	interrupted := b.read(ctx, files, inputs)
	undelivered := b.stop(b.cfg.Pipeline.DrainTimeout)
	if progress != nil {
		progress.Stop()
	}
	return b.finish(start, interrupted || ctx.Err() != nil, undelivered, len(inputs.queues)+len(inputs.streams))
}

// read hands every input to the pipeline and waits for every document to finish. It
// reports whether a signal cut it short.
func (b *backfill) read(ctx context.Context, files []file.Input, inputs backfillInputs) bool {
	if len(files) > 0 {
		b.job.Read(ctx, files)
		if ctx.Err() != nil {
			return true
		}
		if err := b.job.Wait(ctx); err != nil {
			return true
		}
	}
	for _, q := range inputs.queues {
		if err := b.drainQueue(ctx, q); err != nil {
			if ctx.Err() != nil {
				return true
			}
			b.streamErrs = append(b.streamErrs, file.Failure{Input: "sqs://" + q, Error: err.Error()})
		}
	}
	for _, s := range inputs.streams {
		if err := b.readStream(ctx, s); err != nil {
			if ctx.Err() != nil {
				return true
			}
			b.streamErrs = append(b.streamErrs, file.Failure{Input: "kinesis://" + s, Error: err.Error()})
		}
	}
	return ctx.Err() != nil
}

// stop drains and stops the components (until drain, when the job was cut short; a second
// signal ends the drain at once), then writes the final checkpoint. It returns how many
// documents stayed undelivered.
func (b *backfill) stop(drain time.Duration) int64 {
	sctx, cancel := context.WithCancel(context.Background())
	if drain > 0 {
		sctx, cancel = context.WithTimeout(context.Background(), drain)
	}
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			b.log.Warn("second signal: ending the drain now")
			cancel()
		case <-sctx.Done():
		}
	}()
	undelivered, err := b.d.shutdown(sctx)
	if err != nil {
		b.log.Warn("shutdown did not finish cleanly", "err", err)
	}
	if b.job != nil {
		// Every record is finished once the pipeline and the sink are shut down; the wait
		// is for the last callbacks to return.
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.job.Wait(wctx)
		wcancel()
		if err := b.job.Close(); err != nil {
			b.log.Error("cannot write the final backfill checkpoint", "path", b.flags.checkpoint, "err", err)
		}
	}
	return undelivered
}

// startProgress starts the progress reporter the flags ask for, or returns nil.
func (b *backfill) startProgress(streams bool) *file.Progress {
	mode := b.flags.progress
	if mode == "auto" {
		mode = "json"
		if f, ok := b.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "tty"
		}
	}
	if mode == "none" {
		return nil
	}
	every := 5 * time.Second
	if mode == "tty" {
		every = 500 * time.Millisecond
	}
	p := file.NewProgress(b.stderr, mode == "tty", every, time.Now, func() file.Snapshot {
		m := b.metrics()
		s := b.job.Stats()
		snap := file.Snapshot{
			Documents:    m.indexed + m.deadLettered + m.undelivered,
			Indexed:      m.indexed,
			DeadLettered: m.deadLettered,
			Bytes:        s.InputBytes + b.streamBytes.Load(),
			InputsDone:   s.InputsDone + s.InputsSkipped,
			InputsTotal:  s.Inputs,
		}
		if !streams {
			snap.TotalBytes = s.TotalBytes
		}
		return snap
	})
	p.Start()
	return p
}

// pipelineCounts are the registry's document counts: every path (files, queue drains,
// streams, documents the sources dead-letter themselves) in one place.
type pipelineCounts struct {
	indexed, deadLettered, undelivered int64
	byReason                           map[string]int64
	sqsReturned                        int64
}

func (b *backfill) metrics() pipelineCounts {
	c := pipelineCounts{byReason: map[string]int64{}}
	mfs, err := b.d.reg.Gather()
	if err != nil {
		return c
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "weir_documents_finished_total":
			for _, m := range mf.GetMetric() {
				n := int64(m.GetCounter().GetValue())
				switch label(m, "outcome") {
				case "indexed":
					c.indexed += n
				case "undelivered":
					c.undelivered += n
				}
			}
		case "weir_dead_letters_total":
			for _, m := range mf.GetMetric() {
				n := int64(m.GetCounter().GetValue())
				if n > 0 {
					c.deadLettered += n
					c.byReason[label(m, "reason")] += n
				}
			}
		case "weir_sqs_messages_returned_total":
			for _, m := range mf.GetMetric() {
				c.sqsReturned += int64(m.GetCounter().GetValue())
			}
		}
	}
	return c
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// finish prints the summary and returns the exit code.
func (b *backfill) finish(start time.Time, interrupted bool, undelivered int64, streams int) int {
	m := b.metrics()
	s := b.job.Stats()
	if n := s.TooLarge; n > 0 && m.byReason[file.ReasonTooLarge] == 0 && m.byReason["other"] >= n {
		// The dead-letter metric folds reasons it does not know into "other".
		m.byReason["other"] -= n
		m.byReason[file.ReasonTooLarge] = n
		if m.byReason["other"] == 0 {
			delete(m.byReason, "other")
		}
	}
	sum := file.Summary{
		Indexed:       m.indexed,
		DeadLettered:  m.deadLettered,
		Undelivered:   max(m.undelivered, undelivered),
		DeadLetters:   maps.Clone(m.byReason),
		InputBytes:    s.InputBytes + b.streamBytes.Load(),
		DocumentBytes: s.DocumentBytes,
		Inputs: file.InputCounts{Total: s.Inputs, Skipped: s.InputsSkipped, Resumed: s.InputsResumed,
			Done: s.InputsDone, Failed: s.InputsFailed + int64(len(b.streamErrs)), Streams: streams},
		Failures:   append(b.job.Failures(), b.streamErrs...),
		Checkpoint: b.flags.checkpoint,
	}
	sum.Documents = sum.Indexed + sum.DeadLettered + sum.Undelivered
	if m.sqsReturned > 0 {
		sum.Failures = append(sum.Failures, file.Failure{Input: "sqs", Error: fmt.Sprintf("%d message(s) left in the queue (they come back after their visibility timeout)", m.sqsReturned)})
	}
	sum.SetDuration(time.Since(start))
	switch {
	case interrupted:
		sum.Status, sum.ExitCode = "interrupted", exitUndelivered
	case sum.Undelivered > 0:
		sum.Status, sum.ExitCode = "undelivered", exitUndelivered
	case len(sum.Failures) > 0:
		sum.Status, sum.ExitCode = "failed", exitError
	default:
		sum.Status, sum.ExitCode = "ok", exitOK
	}
	fmt.Fprint(b.stderr, sum.Text())
	line := sum.JSONLine()
	_, _ = b.stdout.Write(line)
	if b.flags.summaryJSON != "" {
		if err := os.WriteFile(b.flags.summaryJSON, line, 0o644); err != nil {
			b.log.Error("cannot write the summary", "path", b.flags.summaryJSON, "err", err)
		}
	}
	return sum.ExitCode
}

// drainQueue runs the SQS source on one queue until it is empty: receives come back empty
// emptyReceives times in a row while no message is in flight. Messages are deleted only
// after every document in them is indexed or dead-lettered, as in weir run.
func (b *backfill) drainQueue(ctx context.Context, queue string) error {
	cfg := sqssource.DefaultConfig()
	cfg.QueueURL = queue
	cfg.WaitTime = b.flags.sqsWait
	cfg.Index = b.flags.index
	cfg.S3ChunkBytes = units.ByteSize(min(int64(b.chunkBytes), b.d.pipe.Capacity()/2))
	awsCfg := b.awsCfg.Copy()
	if awsCfg.Region == "" {
		awsCfg.Region = sqsRegion(queue)
	}
	api := &drainingSQS{SQSAPI: awssqs.NewFromConfig(awsCfg)}
	var s3api sqssource.S3API = countingS3{api: b.s3, n: &b.streamBytes}
	if b.s3 == nil {
		s3api = countingS3{api: s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = awsCfg.BaseEndpoint != nil }), n: &b.streamBytes}
	}
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"queue": queue}, b.d.reg)
	src, err := sqssource.New(cfg, b.d.pipe, b.d.dlq, awsCfg, sqssource.WithSQSClient(api), sqssource.WithS3Client(s3api),
		sqssource.WithLogger(b.log), sqssource.WithRegisterer(reg))
	if err != nil {
		return err
	}
	api.bodyBytes = &b.streamBytes
	if err := src.Start(ctx); err != nil {
		return err
	}
	b.log.Info("draining sqs queue", "queue_url", queue)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if api.empties.Load() >= int64(b.flags.emptyReceives) && b.inFlight(queue) == 0 {
			break
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), b.cfg.Pipeline.DrainTimeout)
	defer cancel()
	err = src.Shutdown(sctx)
	b.log.Info("sqs queue drained", "queue_url", queue, "received", api.received.Load())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// inFlight reads the SQS source's weir_sqs_messages_in_flight for queue.
func (b *backfill) inFlight(queue string) int64 {
	mfs, err := b.d.reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != "weir_sqs_messages_in_flight" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "queue") == queue {
				return int64(m.GetGauge().GetValue())
			}
		}
	}
	return -1
}

// sqsRegion reads REGION out of https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.
func sqsRegion(queue string) string {
	u, err := url.Parse(queue)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" {
		return parts[1]
	}
	return ""
}

// drainingSQS counts receives that come back empty in a row (any message resets it), which
// is how a drain tells that the queue is empty.
type drainingSQS struct {
	sqssource.SQSAPI
	empties   atomic.Int64
	received  atomic.Int64
	bodyBytes *atomic.Int64
}

func (d *drainingSQS) ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, opts ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	out, err := d.SQSAPI.ReceiveMessage(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	if len(out.Messages) == 0 {
		d.empties.Add(1)
		return out, nil
	}
	d.empties.Store(0)
	d.received.Add(int64(len(out.Messages)))
	if d.bodyBytes != nil {
		for _, m := range out.Messages {
			d.bodyBytes.Add(int64(len(aws.ToString(m.Body))))
		}
	}
	return out, nil
}

// countingS3 counts the bytes of the objects the SQS source reads.
type countingS3 struct {
	api sqssource.S3API
	n   *atomic.Int64
}

func (c countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := c.api.GetObject(ctx, in, opts...)
	if err == nil && out.Body != nil {
		out.Body = countingBody{ReadCloser: out.Body, n: c.n}
	}
	return out, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
