package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-ingest/weir/pipeline"
)

// SourceName is the Record.Source of the documents a backfill reads from files, standard
// input and S3 objects; with Key (the input's name) and Offset (line or element) it makes
// their position ids.
const SourceName = "backfill"

// ReasonTooLarge labels the dead letter of a document larger than a chunk may hold.
const ReasonTooLarge = "document_too_large"

// Pipeline is what a Job uses of *pipeline.Pipeline.
type Pipeline interface {
	// Submit hands over records, waiting while the queue is full; on error nothing was taken.
	Submit(ctx context.Context, ack *pipeline.Ack, recs []pipeline.Record, bytes int64) error
	WaitResumed(ctx context.Context) error
	Op() pipeline.Op
	Capacity() int64
}

var _ Pipeline = (*pipeline.Pipeline)(nil)

// Config sizes a Job.
type Config struct {
	// Index is the documents' target index or template; empty leaves it to pipeline.index.
	Index string
	// ChunkBytes is how much is read and handed to the pipeline at a time. Default 4MiB,
	// at most a quarter of the pipeline queue so that chunks of several inputs overlap.
	ChunkBytes int
	// Parallel is how many inputs are read at once. Default 4.
	Parallel int
	// CheckpointPath is where progress is saved; empty: nowhere.
	CheckpointPath string
	// CheckpointEvery is how often the checkpoint is written while the job runs. Default 5s.
	CheckpointEvery time.Duration
}

// Job reads inputs into the pipeline: each in chunks of whole documents, each chunk with
// its own Ack, and keeps the checkpoint of what is delivered.
type Job struct {
	cfg    Config
	p      Pipeline
	dlq    pipeline.DeadLetterSink
	s3     S3Getter
	stdin  io.Reader
	log    *slog.Logger
	sleep  func(context.Context, time.Duration) error
	maxDoc int

	// cpMu guards cp and dirty: chunks finish on the pipeline's goroutines.
	cpMu  sync.Mutex
	cp    *Checkpoint
	dirty bool

	chunks   sync.WaitGroup // chunks handed over and not finished
	saveStop chan struct{}
	saveDone chan struct{}

	stats stats
	// failMu guards failures.
	failMu   sync.Mutex
	failures []Failure
}

type stats struct {
	inputBytes, totalBytes, docBytes         atomic.Int64
	read, indexed, deadLettered, undelivered atomic.Int64
	tooLarge                                 atomic.Int64
	inputsTotal, inputsSkipped, inputsDone   atomic.Int64
	inputsResumed, inputsFailed              atomic.Int64
	sizeUnknown                              atomic.Bool
}

// Failure is an input that could not be read to the end.
type Failure struct {
	Input string `json:"input"`
	Error string `json:"error"`
}

// Option adjusts a Job.
type Option func(*Job)

// WithS3 sets the client that reads S3 objects.
func WithS3(c S3Getter) Option { return func(j *Job) { j.s3 = c } }

// WithStdin sets what "-" reads (os.Stdin by default).
func WithStdin(r io.Reader) Option { return func(j *Job) { j.stdin = r } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(j *Job) { j.log = l } }

// WithCheckpoint starts from cp (loaded from Config.CheckpointPath) instead of an empty one.
func WithCheckpoint(cp *Checkpoint) Option { return func(j *Job) { j.cp = cp } }

// NewJob builds a job that hands documents to p and writes its own dead letters (documents
// too large) to dlq.
func NewJob(cfg Config, p Pipeline, dlq pipeline.DeadLetterSink, opts ...Option) (*Job, error) {
	if p == nil || dlq == nil {
		return nil, errors.New("backfill: a pipeline and a dead-letter sink are required")
	}
	capacity := p.Capacity()
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = 4 << 20
	}
	cfg.ChunkBytes = int(max(min(int64(cfg.ChunkBytes), capacity/4), 1))
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 5 * time.Second
	}
	j := &Job{cfg: cfg, p: p, dlq: dlq, stdin: os.Stdin, log: slog.Default(), sleep: pipeline.Sleep}
	// A document's buffer can grow to twice its size while it is read: a quarter of the
	// queue keeps two such chunks admissible at once.
	j.maxDoc = int(max(capacity/4-recordOverhead, 1))
	for _, o := range opts {
		o(j)
	}
	if j.cp == nil {
		j.cp = NewCheckpoint()
	}
	return j, nil
}

// Read reads every input not finished in the checkpoint, Parallel at a time, and returns
// once all are read and handed over (or ctx ends). Documents may still be in flight: Wait
// for them. Failed inputs are reported by Failures, not returned.
func (j *Job) Read(ctx context.Context, inputs []Input) {
	var todo []Input
	for _, in := range inputs {
		j.stats.inputsTotal.Add(1)
		j.cpMu.Lock()
		finished := j.cp.Finished(in)
		j.cpMu.Unlock()
		if finished {
			j.stats.inputsSkipped.Add(1)
			continue
		}
		todo = append(todo, in)
		if in.Size >= 0 {
			j.stats.totalBytes.Add(in.Size)
		} else {
			j.stats.sizeUnknown.Store(true)
		}
	}
	if j.cfg.CheckpointPath != "" && j.saveStop == nil {
		j.saveStop, j.saveDone = make(chan struct{}), make(chan struct{})
		go j.saveLoop()
	}
	work := make(chan Input)
	var wg sync.WaitGroup
	for range min(j.cfg.Parallel, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				if err := j.readInput(ctx, in); err != nil && ctx.Err() == nil {
					j.fail(in, err)
				}
			}
		}()
	}
	for _, in := range todo {
		select {
		case work <- in:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(work)
	wg.Wait()
}

// Wait returns once every chunk handed over has finished, or when ctx ends.
func (j *Job) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { j.chunks.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the periodic checkpoint and writes the final one. Call it after Wait (or
// after the pipeline finished everything at shutdown), so that it holds the last word.
func (j *Job) Close() error {
	if j.saveStop != nil {
		close(j.saveStop)
		<-j.saveDone
		j.saveStop = nil
	}
	if j.cfg.CheckpointPath == "" {
		return nil
	}
	return j.save(true)
}

func (j *Job) saveLoop() {
	defer close(j.saveDone)
	t := time.NewTicker(j.cfg.CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-j.saveStop:
			return
		case <-t.C:
			if err := j.save(false); err != nil {
				j.log.Warn("cannot write the backfill checkpoint", "path", j.cfg.CheckpointPath, "err", err)
			}
		}
	}
}

func (j *Job) save(force bool) error {
	j.cpMu.Lock()
	if !j.dirty && !force {
		j.cpMu.Unlock()
		return nil
	}
	j.cp.Updated = time.Now().UTC()
	snap := j.cp.clone()
	j.dirty = false
	j.cpMu.Unlock()
	return snap.Save(j.cfg.CheckpointPath)
}

// Checkpoint returns a copy of the checkpoint as it stands.
func (j *Job) Checkpoint() *Checkpoint {
	j.cpMu.Lock()
	defer j.cpMu.Unlock()
	return j.cp.clone()
}

func (j *Job) fail(in Input, err error) {
	j.stats.inputsFailed.Add(1)
	j.failMu.Lock()
	j.failures = append(j.failures, Failure{Input: in.Name, Error: err.Error()})
	j.failMu.Unlock()
	j.log.Error("backfill input failed", "input", in.Name, "err", err)
}

// Failures lists the inputs that could not be read to the end.
func (j *Job) Failures() []Failure {
	j.failMu.Lock()
	defer j.failMu.Unlock()
	return append([]Failure(nil), j.failures...)
}

// inputRun follows one input's chunks from reading to delivery.
type inputRun struct {
	in   Input
	gzip bool
	// mu guards the fields below: chunks finish on the pipeline's goroutines.
	mu       sync.Mutex
	chunks   []*chunkRun // handed over, in order, not yet folded into pos
	pos      Position    // delivered up to here, with everything before
	stuck    bool        // a chunk was not delivered: pos stays where it is
	readDone bool
	docs     int64
}

type chunkRun struct {
	end       Position
	finished  bool
	delivered bool
	// notSubmitted is set before the Ack is sealed when Submit refused the records: the
	// empty Ack would otherwise look delivered.
	notSubmitted bool
}

// readInput streams one input into the pipeline.
func (j *Job) readInput(ctx context.Context, in Input) (err error) {
	run := &inputRun{in: in}
	j.cpMu.Lock()
	resume, resuming := j.cp.Resume(in)
	j.cpMu.Unlock()
	var rawOffset int64
	if resuming {
		run.pos = Position{Format: resume.Format, Offset: resume.Offset, Line: resume.Line}
		run.gzip = resume.Gzip
		if !resume.Gzip {
			rawOffset = resume.Offset
		}
		j.stats.inputsResumed.Add(1)
		j.log.Info("backfill resuming input", "input", in.Name, "offset", resume.Offset, "line", resume.Line)
	}
	raw, err := j.open(ctx, in, rawOffset)
	if err != nil {
		return err
	}
	defer raw.Close()
	j.stats.inputBytes.Add(rawOffset) // skipped by seeking: done as far as progress goes
	var content io.Reader = countingReader{raw, &j.stats.inputBytes}
	if !resuming || resume.Gzip {
		var gz bool
		if content, gz, err = decode(content, in.Name); err != nil {
			return err
		}
		if resuming && !gz {
			return fmt.Errorf("the checkpoint says gzip but %s is not", in.Name)
		}
		run.gzip = gz
		if resuming {
			if _, err := io.CopyN(io.Discard, content, resume.Offset); err != nil {
				return fmt.Errorf("skip to offset %d: %w", resume.Offset, err)
			}
		}
	}
	rd, err := NewReader(content, ReaderOptions{ChunkBytes: j.cfg.ChunkBytes, MaxDoc: j.maxDoc}, run.pos)
	if err != nil {
		return err
	}
	run.pos.Format = rd.Format()
	tmpl := pipeline.Record{Source: SourceName, Key: in.Name, Index: j.cfg.Index, PositionID: true, Op: j.p.Op()}
	defer func() {
		// After a failure the input is never done, but the chunks handed over before it
		// still move the checkpoint as they are delivered.
		run.mu.Lock()
		run.readDone = err == nil
		run.mu.Unlock()
		j.settle(run)
	}()
	for {
		if err := j.p.WaitResumed(ctx); err != nil {
			return err
		}
		c, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := j.deadLetterOversized(ctx, in, c.Oversized); err != nil {
			return err
		}
		recs := make([]pipeline.Record, len(c.Docs))
		for i, s := range c.Docs {
			recs[i] = tmpl
			recs[i].Doc = c.Buf[s.Start:s.End:s.End]
			recs[i].Offset = s.Offset
		}
		ch := &chunkRun{end: c.End}
		run.mu.Lock()
		run.chunks = append(run.chunks, ch)
		run.docs += int64(len(recs))
		run.mu.Unlock()
		j.chunks.Add(1)
		ack := pipeline.NewAck(func(a *pipeline.Ack) { j.chunkDone(run, ch, a) })
		if len(recs) > 0 {
			if err := j.p.Submit(ctx, ack, recs, c.Weight); err != nil {
				ch.notSubmitted = true
				ack.Seal()
				return err
			}
			j.stats.read.Add(int64(len(recs)))
			j.stats.docBytes.Add(int64(len(c.Buf)))
		}
		ack.Seal()
	}
}

func (j *Job) deadLetterOversized(ctx context.Context, in Input, big []Oversized) error {
	if len(big) == 0 {
		return nil
	}
	letters := make([]pipeline.DeadLetter, len(big))
	for i, o := range big {
		letters[i] = pipeline.DeadLetter{
			Time: time.Now().UTC(), Source: SourceName, Key: in.Name, Offset: o.Offset, Index: j.cfg.Index,
			Reason: ReasonTooLarge,
			Error:  fmt.Sprintf("document of %d bytes is larger than a quarter of the pipeline queue; its first %d bytes are kept", o.Size, len(o.Sample)),
			Doc:    o.Sample,
		}
	}
	if err := j.dlq.WriteDeadLetters(ctx, letters); err != nil {
		return fmt.Errorf("dead-letter documents too large: %w", err)
	}
	j.stats.tooLarge.Add(int64(len(big)))
	j.stats.deadLettered.Add(int64(len(big)))
	return nil
}

// chunkDone is a chunk's Ack callback; it runs on the pipeline's goroutines.
func (j *Job) chunkDone(run *inputRun, ch *chunkRun, a *pipeline.Ack) {
	indexed, dead, undelivered := a.Counts()
	j.stats.indexed.Add(indexed)
	j.stats.deadLettered.Add(dead)
	j.stats.undelivered.Add(undelivered)
	run.mu.Lock()
	ch.finished = true
	ch.delivered = a.Delivered() && !ch.notSubmitted
	run.mu.Unlock()
	j.settle(run)
	j.chunks.Done()
}

// settle folds finished chunks at the front into the delivered position, and records the
// input as partial or done in the checkpoint.
func (j *Job) settle(run *inputRun) {
	run.mu.Lock()
	advanced := false
	for len(run.chunks) > 0 && run.chunks[0].finished && !run.stuck {
		ch := run.chunks[0]
		if !ch.delivered {
			run.stuck = true
			break
		}
		run.pos = ch.end
		run.chunks = run.chunks[1:]
		advanced = true
	}
	done := run.readDone && len(run.chunks) == 0 && !run.stuck
	pos, gz, docs := run.pos, run.gzip, run.docs
	if done {
		run.readDone = false // record it once
	}
	run.mu.Unlock()
	in := run.in
	if !in.Resumable() || (!advanced && !done) {
		if done {
			j.stats.inputsDone.Add(1)
		}
		return
	}
	j.cpMu.Lock()
	if done {
		delete(j.cp.Partial, in.Name)
		j.cp.Done[in.Name] = Entry{Size: in.Size, ModTime: in.ModTime, ETag: in.ETag, Documents: docs}
	} else {
		j.cp.Partial[in.Name] = Partial{Size: in.Size, ModTime: in.ModTime, ETag: in.ETag,
			Offset: pos.Offset, Line: pos.Line, Format: pos.Format, Gzip: gz}
	}
	j.dirty = true
	j.cpMu.Unlock()
	if done {
		j.stats.inputsDone.Add(1)
	}
}

// Stats is the job's counts so far.
type Stats struct {
	// Documents handed to the pipeline, and how they ended so far (dead letters include the
	// documents too large to read, which never reach the pipeline).
	Documents    int64 `json:"documents"`
	Indexed      int64 `json:"indexed"`
	DeadLettered int64 `json:"dead_lettered"`
	Undelivered  int64 `json:"undelivered"`
	TooLarge     int64 `json:"too_large"`
	// InputBytes is stored bytes read (compressed, if they are); TotalBytes the size of
	// every input to read, 0 when some size is unknown (stdin, a pipe). DocumentBytes is
	// decompressed document bytes handed over.
	InputBytes    int64 `json:"input_bytes"`
	TotalBytes    int64 `json:"total_bytes"`
	DocumentBytes int64 `json:"document_bytes"`
	Inputs        int64 `json:"inputs"`
	InputsSkipped int64 `json:"inputs_skipped"`
	InputsResumed int64 `json:"inputs_resumed"`
	InputsDone    int64 `json:"inputs_done"`
	InputsFailed  int64 `json:"inputs_failed"`
}

// Stats reports the counts so far.
func (j *Job) Stats() Stats {
	s := Stats{
		Documents:     j.stats.read.Load() + j.stats.tooLarge.Load(),
		Indexed:       j.stats.indexed.Load(),
		DeadLettered:  j.stats.deadLettered.Load(),
		Undelivered:   j.stats.undelivered.Load(),
		TooLarge:      j.stats.tooLarge.Load(),
		InputBytes:    j.stats.inputBytes.Load(),
		DocumentBytes: j.stats.docBytes.Load(),
		Inputs:        j.stats.inputsTotal.Load(),
		InputsSkipped: j.stats.inputsSkipped.Load(),
		InputsResumed: j.stats.inputsResumed.Load(),
		InputsDone:    j.stats.inputsDone.Load(),
		InputsFailed:  j.stats.inputsFailed.Load(),
	}
	if !j.stats.sizeUnknown.Load() {
		s.TotalBytes = j.stats.totalBytes.Load()
	}
	return s
}
