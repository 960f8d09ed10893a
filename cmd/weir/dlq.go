package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
)

const dlqUsage = `Usage:
  weir dlq inspect [--json] FILE...
      Summarize dead letters by reason and by index: counts, first and last time, and a
      sample error per reason.
  weir dlq replay [-c FILE] [--set key=value]... [--index NAME] [--timeout D] DEADLETTERS
      Send the dead letters again through weir's pipeline and sink (the configuration's
      OpenSearch, signing, retries and breaker), after fixing what refused them (a mapping,
      say, or with --index to a new index). DEADLETTERS is then rewritten, atomically, with
      only what failed again (with its new reason) or was not delivered. Exit 0 when every
      dead letter was indexed, 1 otherwise.

Replay a rotated file (FILE.1, ...) or stop weir before replaying its live file: a running
weir keeps appending to the file it has open.
`

func runDLQ(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return exitUsage
	}
	switch args[0] {
	case "inspect":
		return runDLQInspect(args[1:], stdout, stderr)
	case "replay":
		return runDLQReplay(ctx, args[1:], environ, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, dlqUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "weir dlq: unknown command %q\n\n%s", args[0], dlqUsage)
	return exitUsage
}

// parseInterleaved parses flags that may come after the positional arguments too
// (`weir dlq replay FILE --index x`), which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// --- inspect ---

// dlqSummary is what `weir dlq inspect --json` prints.
type dlqSummary struct {
	Files   []string       `json:"files"`
	Total   int            `json:"total"`
	First   time.Time      `json:"first,omitzero"`
	Last    time.Time      `json:"last,omitzero"`
	Reasons []*reasonGroup `json:"reasons"`
	Indices []*indexGroup  `json:"indices"`
	Errors  []string       `json:"errors,omitempty"`
	reasons map[string]*reasonGroup
	indices map[string]*indexGroup
}

type reasonGroup struct {
	Reason      string         `json:"reason"`
	Count       int            `json:"count"`
	First       time.Time      `json:"first"`
	Last        time.Time      `json:"last"`
	Statuses    map[int]int    `json:"statuses"`
	Indices     map[string]int `json:"indices"`
	SampleError string         `json:"sample_error"`
}

type indexGroup struct {
	Index   string         `json:"index"`
	Count   int            `json:"count"`
	First   time.Time      `json:"first"`
	Last    time.Time      `json:"last"`
	Reasons map[string]int `json:"reasons"`
}

func newSummary() *dlqSummary {
	return &dlqSummary{Reasons: []*reasonGroup{}, Indices: []*indexGroup{}, reasons: map[string]*reasonGroup{}, indices: map[string]*indexGroup{}}
}

func spread(first, last *time.Time, t time.Time) {
	if t.IsZero() {
		return
	}
	if first.IsZero() || t.Before(*first) {
		*first = t
	}
	if t.After(*last) {
		*last = t
	}
}

func (s *dlqSummary) add(e deadletter.Entry) {
	s.Total++
	spread(&s.First, &s.Last, e.Time)
	reason := e.Reason
	if reason == "" {
		reason = "(none)"
	}
	index := e.Index
	if index == "" {
		index = "(none)"
	}
	r := s.reasons[reason]
	if r == nil {
		r = &reasonGroup{Reason: reason, Statuses: map[int]int{}, Indices: map[string]int{}, SampleError: e.Error}
		s.reasons[reason] = r
		s.Reasons = append(s.Reasons, r)
	}
	r.Count++
	spread(&r.First, &r.Last, e.Time)
	r.Statuses[e.Status]++
	r.Indices[index]++
	if r.SampleError == "" {
		r.SampleError = e.Error
	}
	ix := s.indices[index]
	if ix == nil {
		ix = &indexGroup{Index: index, Reasons: map[string]int{}}
		s.indices[index] = ix
		s.Indices = append(s.Indices, ix)
	}
	ix.Count++
	spread(&ix.First, &ix.Last, e.Time)
	ix.Reasons[reason]++
}

func (s *dlqSummary) sort() {
	sort.SliceStable(s.Reasons, func(i, j int) bool {
		if s.Reasons[i].Count != s.Reasons[j].Count {
			return s.Reasons[i].Count > s.Reasons[j].Count
		}
		return s.Reasons[i].Reason < s.Reasons[j].Reason
	})
	sort.SliceStable(s.Indices, func(i, j int) bool {
		if s.Indices[i].Count != s.Indices[j].Count {
			return s.Indices[i].Count > s.Indices[j].Count
		}
		return s.Indices[i].Index < s.Indices[j].Index
	})
}

func runDLQInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weir dlq inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprint(stderr, "weir dlq inspect: name at least one dead-letter file\n\n"+dlqUsage)
		return exitUsage
	}
	s := newSummary()
	s.Files = files
	for _, f := range files {
		// A torn last line (a crash mid-write) ends that file's read; what came before counts.
		if err := deadletter.Read(f, func(e deadletter.Entry) error { s.add(e); return nil }); err != nil {
			s.Errors = append(s.Errors, err.Error())
		}
	}
	s.sort()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			fmt.Fprintln(stderr, "weir dlq inspect:", err)
			return exitError
		}
	} else {
		printSummary(stdout, s)
	}
	for _, e := range s.Errors {
		fmt.Fprintln(stderr, "weir dlq inspect:", e)
	}
	if len(s.Errors) > 0 {
		return exitError
	}
	return exitOK
}

func printSummary(w io.Writer, s *dlqSummary) {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s: %d dead letters", strings.Join(s.Files, ", "), s.Total)
	if s.Total > 0 {
		fmt.Fprintf(w, ", %s to %s", ts(s.First), ts(s.Last))
	}
	fmt.Fprintln(w)
	if s.Total == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nREASON\tCOUNT\tFIRST\tLAST\tSTATUS\tSAMPLE ERROR")
	for _, r := range s.Reasons {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Reason, r.Count, ts(r.First), ts(r.Last), counts(intKeys(r.Statuses)), clip(r.SampleError, 100))
	}
	fmt.Fprintln(tw, "\nINDEX\tCOUNT\tFIRST\tLAST\tREASONS")
	for _, ix := range s.Indices {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", ix.Index, ix.Count, ts(ix.First), ts(ix.Last), counts(ix.Reasons))
	}
	_ = tw.Flush()
}

func intKeys(m map[int]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[fmt.Sprint(k)] = v
	}
	return out
}

// counts renders a count map as "a=3 b=1", largest first.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// --- replay ---

// replayBatch is how many dead letters go into one pipeline submission, the unit whose
// results are collected together.
const replayBatch = 500

func runDLQReplay(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weir dlq replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	index := fs.String("index", "", "send every dead letter to this index (or index template) instead of the one it failed on")
	timeout := fs.Duration("timeout", 0, "give up after this long; what was not delivered by then stays in the file (0: no limit)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(files) != 1 {
		fmt.Fprint(stderr, "weir dlq replay: name exactly one dead-letter file\n\n"+dlqUsage)
		return exitUsage
	}
	if *index != "" {
		if err := checkIndex(*index); err != nil {
			fmt.Fprintf(stderr, "weir dlq replay: --index: %v\n", err)
			return exitUsage
		}
	}
	if cf.logLevel == "" {
		// Component start and stop lines are noise for a command; problems still show.
		cf.logLevel = "warn"
	}
	cfg, err := cf.load(environ)
	if err != nil {
		fmt.Fprintf(stderr, "weir: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	rep := &replayer{cfg: cfg, log: newLogger(cfg.Log, stderr), path: files[0], index: *index}
	res, err := rep.run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "weir dlq replay:", err)
		return exitError
	}
	fmt.Fprintln(stdout, res)
	if res.Indexed == res.Total {
		return exitOK
	}
	return exitError
}

func checkIndex(s string) error {
	if strings.Contains(s, "%{") {
		_, err := pipeline.ParseIndexTemplate(s)
		return err
	}
	return pipeline.ValidIndexName(s)
}

// replayResult counts what happened to the dead letters of one file.
type replayResult struct {
	Path         string
	Total        int
	Indexed      int
	DeadLettered map[string]int // by reason: refused again, now in the file with the new reason
	Undelivered  int            // not delivered (stopped, or the node unreachable): kept as they were
	Kept         int            // what the file holds now
}

func (r replayResult) String() string {
	dl := 0
	for _, n := range r.DeadLettered {
		dl += n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d dead letters: %d indexed, %d refused again", r.Path, r.Total, r.Indexed, dl)
	if dl > 0 {
		fmt.Fprintf(&b, " (%s)", counts(r.DeadLettered))
	}
	fmt.Fprintf(&b, ", %d not delivered; the file now holds %d", r.Undelivered, r.Kept)
	return b.String()
}

type replayer struct {
	cfg   config.Config
	log   *slog.Logger
	path  string
	index string
}

// fileState is what tells that someone else wrote the file while it was replayed.
type fileState struct {
	size int64
	mod  time.Time
}

func statFile(path string) (fileState, os.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileState{}, 0, err
	}
	return fileState{st.Size(), st.ModTime()}, st.Mode().Perm(), nil
}

// run replays the file. The pipeline and the sink are the daemon's, built from the
// configuration, except that their dead letters go to a temporary file beside the one
// replayed (never appending to the file being read) and only there: the SQS and S3
// destinations already had these letters once. At the end the file is replaced, by rename,
// with the letters refused again followed by the ones not delivered.
func (r *replayer) run(ctx context.Context) (replayResult, error) {
	res := replayResult{Path: r.path, DeadLettered: map[string]int{}}
	before, mode, err := statFile(r.path)
	if err != nil {
		return res, err
	}
	// A first pass checks that every line reads, so that nothing is sent from a file whose
	// tail could then not be kept.
	if err := deadletter.Read(r.path, func(deadletter.Entry) error { res.Total++; return nil }); err != nil {
		return res, fmt.Errorf("%w (fix or cut that line, then replay)", err)
	}
	if res.Total == 0 {
		return res, nil
	}

	dir, base := filepath.Split(r.path)
	tmp := func(kind string) string { return filepath.Join(dir, fmt.Sprintf(".%s.%s-%d", base, kind, os.Getpid())) }
	refusedPath, keptPath, newPath := tmp("refused"), tmp("kept"), tmp("new")
	defer os.Remove(refusedPath)
	defer os.Remove(keptPath)
	defer os.Remove(newPath)

	cfg := r.cfg
	cfg.DeadLetter.Path = refusedPath
	cfg.DeadLetter.MaxBytes = 1 << 50 // never rotate: rotation would hide letters from the merge
	cfg.DeadLetter.MaxFiles = 1
	cfg.DeadLetter.SQSQueueURL, cfg.DeadLetter.S3URI = "", ""
	// Replay is its own source; none of the configured ones is started.
	cfg.Sources.HTTP.Enabled = false
	cfg.Sources.SQS.Enabled = false
	cfg.Sources.Kinesis.Enabled = false
	d, err := newDaemon(cfg, r.log)
	if err != nil {
		return res, err
	}
	for _, start := range []func(context.Context) error{d.dlq.Start, d.sink.Start, d.pipe.Start} {
		if err := start(ctx); err != nil {
			_ = d.dlq.Shutdown(context.Background())
			return res, err
		}
	}

	kept, err := newEntryWriter(keptPath)
	if err != nil {
		return res, err
	}
	defer kept.close()

	// Each submission's entries wait here until its Ack reports every record's outcome.
	type done struct {
		entries  []deadletter.Entry
		outcomes []pipeline.Result
	}
	results := make(chan done, 64)
	var inflight sync.WaitGroup
	var collectErr error
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for dn := range results {
			for i, out := range dn.outcomes {
				switch out.Outcome {
				case pipeline.Indexed:
					res.Indexed++
				case pipeline.DeadLettered:
					res.DeadLettered[out.Reason]++
				default:
					res.Undelivered++
					if err := kept.write(dn.entries[i]); err != nil && collectErr == nil {
						collectErr = err
					}
				}
			}
		}
	}()
	keep := func(es []deadletter.Entry) {
		results <- done{entries: es, outcomes: make([]pipeline.Result, len(es))} // Pending: not delivered
	}

	var submit func(es []deadletter.Entry)
	submit = func(es []deadletter.Entry) {
		if ctx.Err() != nil {
			keep(es)
			return
		}
		recs := make([]pipeline.Record, len(es))
		for i, e := range es {
			recs[i] = r.record(e)
		}
		inflight.Add(1)
		ack := pipeline.NewTrackedAck(len(recs), func(a *pipeline.Ack) {
			results <- done{entries: es, outcomes: a.Results()}
			inflight.Done()
		})
		if err := d.pipe.Submit(ctx, ack, recs, 0); err != nil {
			// Nothing was taken, so the Ack never completes.
			inflight.Done()
			if len(es) > 1 && errors.Is(err, pipeline.ErrTooLarge) {
				for i := range es {
					submit(es[i : i+1])
				}
				return
			}
			keep(es)
			if ctx.Err() == nil {
				r.log.Warn("replay: dead letters not submitted; kept", "count", len(es), "err", err)
			}
			return
		}
		ack.Seal()
	}
	var batch []deadletter.Entry
	var batchBytes int64
	// Half the queue per submission, so that one is filling while another drains.
	maxBytes := int64(cfg.Pipeline.QueueBytes) / 2
	readErr := deadletter.Read(r.path, func(e deadletter.Entry) error {
		batch = append(batch, e)
		batchBytes += int64(len(e.Doc)) + 256
		if len(batch) >= replayBatch || batchBytes >= maxBytes {
			submit(batch)
			batch, batchBytes = nil, 0
		}
		return nil
	})
	if len(batch) > 0 {
		submit(batch)
	}

	// Drain: everything submitted is delivered or dead-lettered, or, past the drain deadline
	// (at once when the replay was interrupted), finished as undelivered and kept.
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Pipeline.DrainTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	var errs []error
	if err := d.pipe.Shutdown(dctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.sink.Shutdown(dctx); err != nil {
		errs = append(errs, err)
	}
	inflight.Wait()
	close(results)
	<-collected
	if err := d.dlq.Shutdown(context.Background()); err != nil {
		return res, err
	}
	if readErr != nil {
		return res, fmt.Errorf("%w; %s was left as it was", readErr, r.path)
	}
	if collectErr != nil {
		return res, fmt.Errorf("keep undelivered dead letters: %w; %s was left as it was", collectErr, r.path)
	}
	if err := kept.close(); err != nil {
		return res, err
	}
	if len(errs) > 0 {
		r.log.Warn("replay: drain cut short", "err", errors.Join(errs...))
	}

	// The new file: the letters refused again (with their new reason), then those kept.
	n, err := concatFiles(newPath, mode, refusedPath, keptPath)
	if err != nil {
		return res, err
	}
	res.Kept = n
	after, _, err := statFile(r.path)
	if err != nil {
		return res, err
	}
	if after != before {
		// A writer appended meanwhile (a running weir): renaming over its file would lose
		// what it wrote, so the original stays and the leftovers go beside it.
		side := r.path + ".replay-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(newPath, side); err != nil {
			return res, err
		}
		return res, fmt.Errorf("%s changed while it was replayed (is weir still writing to it?), so it was left as it was; "+
			"%d indexed, and the %d dead letters not indexed are in %s. Replay rotated files (%s.1, ...), or stop weir first",
			r.path, res.Indexed, n, side, r.path)
	}
	if err := os.Rename(newPath, r.path); err != nil {
		return res, err
	}
	syncDir(dir)
	return res, nil
}

// record turns a dead letter back into a record: its document, id and origin as they
// were, its index (or --index), and a fresh attempt count.
func (r *replayer) record(e deadletter.Entry) pipeline.Record {
	doc, err := e.Document()
	if err != nil {
		doc = e.Doc
	}
	rec := pipeline.Record{Doc: doc, Index: e.Index, Source: e.Source, Key: e.Key, Offset: e.Offset}
	if r.index != "" {
		rec.Index = r.index
	}
	if rec.Source == "" {
		rec.Source = "dlq"
	}
	if e.ID != "" {
		rec.ID = jsonStringContent(e.ID)
	}
	return rec
}

// jsonStringContent escapes s as the inside of a JSON string, the form Record.ID takes.
func jsonStringContent(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := bytes.TrimSpace(b.Bytes())
	return out[1 : len(out)-1]
}

// entryWriter appends dead letters, as read, to a file in the file's own line format.
type entryWriter struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
}

func newEntryWriter(path string) (*entryWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &entryWriter{f: f, w: w, enc: enc}, nil
}

func (w *entryWriter) write(e deadletter.Entry) error { return w.enc.Encode(e) }

// close flushes and closes; safe to call twice.
func (w *entryWriter) close() error {
	if w.f == nil {
		return nil
	}
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// concatFiles writes srcs one after another into dst (created with mode), fsynced, and
// returns how many lines it holds. A missing source counts as empty.
func concatFiles(dst string, mode os.FileMode, srcs ...string) (int, error) {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	lines := 0
	for _, src := range srcs {
		in, err := os.Open(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n, err := copyCountingLines(out, in)
		in.Close()
		if err != nil {
			return 0, fmt.Errorf("copy %s: %w", src, err)
		}
		lines += n
	}
	if err := out.Sync(); err != nil {
		return 0, err
	}
	return lines, out.Close()
}

func copyCountingLines(w io.Writer, r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	lines := 0
	for {
		n, err := r.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if _, werr := w.Write(buf[:n]); werr != nil {
			return lines, werr
		}
		if errors.Is(err, io.EOF) {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
	}
}

// syncDir makes a rename in dir survive a crash.
func syncDir(dir string) {
	if dir == "" {
		dir = "."
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
