// Command weir moves documents from HTTP (and, as they arrive, SQS, Kinesis and S3) into
// OpenSearch with _bulk, at least once: a source message is acknowledged only after every
// document from it is indexed or dead-lettered.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/control/query"
)

//go:embed default.yaml
var defaultConfig []byte

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, so that scripts and supervisors can tell outcomes apart.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitUndelivered = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `weir moves documents into OpenSearch, at least once.

Usage:
  weir run      [-c FILE] [--set key=value]...   run the daemon (default config: bundled)
  weir validate  -c FILE  [--set key=value]...   check a configuration, report every problem
  weir config   [-c FILE] [--set key=value]...   print the effective configuration (secrets redacted)
  weir policy check|explain|minimal ...          check weir's IAM policy against what the configuration
                                                 needs, explain one request, print the least-privilege policy
                                                 (weir run --strict refuses to start when the policy denies)
  weir bench    [-c FILE] [--target URL|local|null] [flags]   measure a domain's indexing throughput
                                                 (weir bench -h lists its flags)
  weir backfill [-c FILE] [flags] INPUT...       index files, globs, stdin (-), s3://BUCKET/PREFIX, sqs://QUEUE_URL
                                                 or kinesis://STREAM, then exit with a summary (resumable:
                                                 --checkpoint); weir backfill plan s3://... --queue URL fans out
                                                 one S3 notification per object to weir run processes
  weir version                                   print the version
  weir healthcheck [--url URL]                   ask a running weir's /healthz; exit 0 if up (container checks)
  weir dlq inspect [--json] FILE...              summarize dead letters by reason and index
  weir dlq replay  [-c FILE] [--index NAME] FILE re-ingest dead letters; FILE keeps only those failing again

Configuration comes from the file (or the bundled default), then environment variables
WEIR_<SECTION>__<KEY> (e.g. WEIR_PIPELINE__QUEUE_BYTES=128MiB, WEIR_OPENSEARCH__URLS=https://a,https://b),
then --set flags. Unknown keys are errors. See README.md for every key.

Signals: SIGTERM or SIGINT stops the sources, drains the pipeline for up to
pipeline.drain_timeout, and exits 3 if documents stayed undelivered (they remain
unacknowledged at their source, so they are not lost). A second signal stops at once.
`

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

type commonFlags struct {
	file      string
	sets      setFlags
	logLevel  string
	logFormat string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "c", "", "configuration file (YAML); default: the bundled configuration")
	fs.StringVar(&c.file, "config", "", "same as -c")
	fs.Var(&c.sets, "set", "override one key, e.g. --set pipeline.workers=4 (repeatable)")
	fs.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
	fs.StringVar(&c.logFormat, "log-format", "", "json or text (overrides log.format)")
}

func (c *commonFlags) load(environ []string) (config.Config, error) {
	src := config.Source{YAML: defaultConfig, Name: "bundled default config"}
	if c.file != "" {
		var err error
		if src, err = config.ReadFile(c.file); err != nil {
			return config.Config{}, err
		}
	}
	src.Environ = environ
	src.Sets = append([]string(nil), c.sets...)
	if c.logLevel != "" {
		src.Sets = append(src.Sets, "log.level="+c.logLevel)
	}
	if c.logFormat != "" {
		src.Sets = append(src.Sets, "log.format="+c.logFormat)
	}
	return config.Load(src)
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"run"}
	}
	cmd, rest := args[0], args[1:]
	if strings.HasPrefix(cmd, "-") {
		if cmd == "-h" || cmd == "--help" || cmd == "-help" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		cmd, rest = "run", args
	}
	fs := flag.NewFlagSet("weir "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	var strict bool
	switch cmd {
	case "run", "validate", "config":
		cf.register(fs)
		if cmd == "run" {
			fs.BoolVar(&strict, "strict", false, "refuse to start when query.weir_policy_file denies a request weir needs (query.policy_check=strict)")
		}
	case "bench":
		return runBench(ctx, rest, environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "weir", version)
		return exitOK
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr)
	case "dlq":
		return runDLQ(ctx, rest, environ, stdout, stderr)
	case "backfill":
		return runBackfill(ctx, rest, environ, os.Stdin, stdout, stderr)
	case "policy":
		return runPolicy(ctx, rest, environ, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "weir: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of weir %s:\n", cmd)
		fs.PrintDefaults()
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if strict {
		cf.sets = append(cf.sets, "query.policy_check="+query.PolicyCheckStrict)
	}
	if cmd == "validate" && cf.file == "" {
		fmt.Fprintln(stderr, "weir validate: -c FILE is required")
		return exitUsage
	}
	cfg, err := cf.load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "weir: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	switch cmd {
	case "validate":
		fmt.Fprintf(stdout, "%s: ok\n", cf.file)
		return exitOK
	case "config":
		out, err := yaml.Marshal(config.ToMap(cfg))
		if err != nil {
			fmt.Fprintln(stderr, "weir config:", err)
			return exitError
		}
		_, _ = stdout.Write(out)
		return exitOK
	}
	log := newLogger(cfg.Log, stderr)
	return runDaemon(ctx, cfg, log)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func newLogger(c config.LogConfig, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
