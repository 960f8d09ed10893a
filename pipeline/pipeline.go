package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/weir-ingest/weir/pipeline/docscan"
)

// Errors a source gets from Submit and TrySubmit. Nothing of the message was taken when one
// is returned, so the source still owns it (and can answer 429, or leave it in its queue).
var (
	ErrQueueFull = errors.New("pipeline queue is full")
	ErrTooLarge  = errors.New("message is larger than the whole pipeline queue")
	ErrClosed    = errors.New("pipeline is shutting down")
)

// Target takes routed records; the OpenSearch sink is one. Add hands the record over (the
// target finishes it later) and may block to push back; it fails only when ctx ends, and
// then the record was not taken.
type Target interface {
	Add(ctx context.Context, rec *Record) error
}

// BatchTarget is a Target that takes several records at once, for less locking per record.
// AddBatch returns how many of recs it took, in order; on an error the caller still owns the
// rest.
type BatchTarget interface {
	AddBatch(ctx context.Context, recs []*Record) (int, error)
}

// IdleFlusher is a Target that can send what it holds early. Workers call FlushIdle when
// the queue runs dry: nothing more is coming soon, so waiting for a batch to fill only adds
// latency (a sync HTTP client waits on it). Under load the queue is never dry.
type IdleFlusher interface {
	FlushIdle()
}

// chunkSize caps how many records of one message go to a single worker at a time, so that
// one large message is spread over the pool.
const chunkSize = 256

// perRecordOverhead is what a record costs beyond its document bytes when nothing better is
// known, so that a flood of tiny documents still fills the queue.
const perRecordOverhead = 96

// RecordOverhead is what the queue counts for each record on top of the message's bytes; a
// source that reserves room before reading a message adds it to its estimate.
const RecordOverhead = perRecordOverhead

// Pipeline is the bounded queue and worker pool between sources and a target.
type Pipeline struct {
	cfg      Config
	target   Target
	dlq      DeadLetterSink
	log      *slog.Logger
	index    *IndexTemplate
	op       Op
	scanner  *docscan.Scanner
	needTime bool
	now      func() time.Time
	m        *metrics

	sem      *semaphore.Weighted
	capacity int64
	queued   atomic.Int64

	in *chunkQueue

	// mu guards the closed flag against pushes after close: Submit pushes while holding it
	// for reading, Shutdown closes the queue holding it for writing.
	mu        sync.RWMutex
	closed    bool
	stopping  chan struct{} // closed when Shutdown begins: admission stops
	admitCtx  context.Context
	stopAdmit context.CancelFunc

	workCtx    context.Context
	cancelWork context.CancelFunc // hard stop at the drain deadline
	workers    sync.WaitGroup

	startOnce, stopOnce sync.Once
	started             atomic.Bool

	pauseMu     sync.Mutex
	pauseReason string
	resumed     chan struct{} // closed while not paused

	undelivered atomic.Int64
	templates   sync.Map // index template string → *IndexTemplate
	idle        IdleFlusher
}

// Option adjusts a Pipeline.
type Option func(*Pipeline)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(p *Pipeline) { p.log = l } }

// WithRegisterer registers the pipeline's metrics.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(p *Pipeline) { p.m = newMetrics(r) }
}

// WithClock injects the clock used for ingest time.
func WithClock(now func() time.Time) Option { return func(p *Pipeline) { p.now = now } }

// New builds a pipeline that routes to target and dead-letters invalid documents to dlq.
func New(cfg Config, target Target, dlq DeadLetterSink, opts ...Option) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline config: %w", err)
	}
	if target == nil || dlq == nil {
		return nil, errors.New("pipeline: a target and a dead-letter sink are required")
	}
	idx, err := ParseIndexTemplate(cfg.Index)
	if err != nil {
		return nil, err
	}
	op, _ := ParseOp(cfg.Op)
	p := &Pipeline{
		cfg:      cfg,
		target:   target,
		dlq:      dlq,
		log:      slog.Default(),
		index:    idx,
		op:       op,
		now:      time.Now,
		capacity: int64(cfg.QueueBytes),
		sem:      semaphore.NewWeighted(int64(cfg.QueueBytes)),
		in:       newChunkQueue(),
		stopping: make(chan struct{}),
		resumed:  make(chan struct{}),
	}
	close(p.resumed)
	for _, o := range opts {
		o(p)
	}
	if p.m == nil {
		p.m = newMetrics(nil)
	}
	p.m.capacity.Set(float64(p.capacity))
	p.idle, _ = target.(IdleFlusher)
	p.scanner = docscan.Compile(docscan.Spec{ID: cfg.IDField, Time: cfg.TimeField})
	p.needTime = !idx.Static()
	p.workCtx, p.cancelWork = context.WithCancel(context.Background())
	p.admitCtx, p.stopAdmit = context.WithCancel(context.Background())
	return p, nil
}

// Start launches the workers. It is safe to call more than once.
func (p *Pipeline) Start(context.Context) error {
	p.startOnce.Do(func() {
		p.started.Store(true)
		for range p.cfg.Workers {
			p.workers.Add(1)
			go p.work()
		}
		p.log.Info("pipeline started", "workers", p.cfg.Workers, "queue_bytes", p.cfg.QueueBytes.String(), "index", p.cfg.Index)
	})
	return nil
}

// Submit hands over the records of one message, all attached to ack. It waits while the
// queue is full; bytes is what the message holds in memory (0: estimated from the records).
// On error nothing was taken.
func (p *Pipeline) Submit(ctx context.Context, ack *Ack, recs []Record, bytes int64) error {
	return p.submit(ctx, nil, ack, recs, bytes, true)
}

// TrySubmit is Submit that fails with ErrQueueFull at once instead of waiting.
func (p *Pipeline) TrySubmit(ack *Ack, recs []Record, bytes int64) error {
	return p.submit(context.Background(), nil, ack, recs, bytes, false)
}

// Reservation is queue room taken for a message before it is read. A source that reserves
// first makes a full queue push back on its client (an HTTP body left unread stalls the
// sender through TCP flow control) instead of reading the message only to refuse it, which
// at saturation costs both sides a copy of every refused byte and grows a storm of retries.
// A Reservation belongs to one goroutine.
type Reservation struct {
	p     *Pipeline
	bytes int64
}

// Reserve waits until bytes of queue room are free and takes them, or until ctx ends (its
// error is then ctx's). It fails at once with ErrTooLarge for more than the queue holds and
// with ErrClosed once Shutdown began. The room is used by TrySubmitReserved, or given back
// by Release.
func (p *Pipeline) Reserve(ctx context.Context, bytes int64) (*Reservation, error) {
	bytes = max(bytes, 1)
	if bytes > p.capacity {
		return nil, fmt.Errorf("%w: %d bytes, queue holds %d", ErrTooLarge, bytes, p.capacity)
	}
	if p.isStopping() {
		return nil, ErrClosed
	}
	if err := p.acquire(ctx, bytes); err != nil {
		return nil, err
	}
	return &Reservation{p: p, bytes: bytes}, nil
}

// acquire waits for bytes of queue room until ctx ends or Shutdown begins (ErrClosed).
func (p *Pipeline) acquire(ctx context.Context, bytes int64) error {
	actx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.admitCtx, cancel)
	err := p.sem.Acquire(actx, bytes)
	stop()
	cancel()
	if err != nil && p.isStopping() {
		return ErrClosed
	}
	return err
}

// Release gives back the room not used by a submission. It is safe on a nil Reservation,
// after a successful TrySubmitReserved, and twice.
func (r *Reservation) Release() {
	if r == nil || r.bytes == 0 {
		return
	}
	r.p.sem.Release(r.bytes)
	r.bytes = 0
}

// TrySubmitReserved is TrySubmit that first uses the room res holds: room res has beyond
// what the message needs is given back, and room it lacks is taken without waiting
// (ErrQueueFull if there is none). On error the reservation is left as it was, for the
// caller to Release. A nil res is TrySubmit.
func (p *Pipeline) TrySubmitReserved(res *Reservation, ack *Ack, recs []Record, bytes int64) error {
	return p.submit(context.Background(), res, ack, recs, bytes, false)
}

func (p *Pipeline) submit(ctx context.Context, res *Reservation, ack *Ack, recs []Record, bytes int64, wait bool) error {
	if len(recs) == 0 {
		return nil
	}
	if bytes <= 0 {
		for i := range recs {
			bytes += int64(len(recs[i].Doc))
		}
	}
	bytes += int64(len(recs)) * perRecordOverhead
	if bytes > p.capacity {
		p.m.refused.WithLabelValues("too_large").Inc()
		return fmt.Errorf("%w: %d bytes, queue holds %d", ErrTooLarge, bytes, p.capacity)
	}
	if p.isStopping() {
		p.m.refused.WithLabelValues("closed").Inc()
		return ErrClosed
	}
	if res != nil && res.bytes > 0 {
		if extra := bytes - res.bytes; extra > 0 && !p.sem.TryAcquire(extra) {
			p.m.refused.WithLabelValues("queue_full").Inc()
			return ErrQueueFull
		} else if extra < 0 {
			p.sem.Release(-extra)
		}
		res.bytes = 0 // the room is the submission's now, released when its records finish
	} else if wait {
		if err := p.acquire(ctx, bytes); err != nil {
			if errors.Is(err, ErrClosed) {
				p.m.refused.WithLabelValues("closed").Inc()
			}
			return err
		}
	} else if !p.sem.TryAcquire(bytes) {
		p.m.refused.WithLabelValues("queue_full").Inc()
		return ErrQueueFull
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.sem.Release(bytes)
		p.m.refused.WithLabelValues("closed").Inc()
		return ErrClosed
	}
	p.queued.Add(bytes)
	p.m.queueBytes.Add(float64(bytes))
	s := &submission{p: p, ack: ack, weight: bytes}
	s.pending.Store(int64(len(recs)))
	base := ack.add(len(recs))
	for i := range recs {
		recs[i].sub = s
		recs[i].seq = base + int32(i)
		if recs[i].Source == "" {
			recs[i].Source = "unknown"
		}
	}
	p.m.received(recs[0].Source).Add(float64(len(recs)))
	for off := 0; off < len(recs); off += chunkSize {
		end := min(off+chunkSize, len(recs))
		p.in.push(recs[off:end:end])
	}
	p.mu.RUnlock()
	return nil
}

func (p *Pipeline) isStopping() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

func (p *Pipeline) release(s *submission) {
	p.sem.Release(s.weight)
	p.queued.Add(-s.weight)
	p.m.queueBytes.Sub(float64(s.weight))
	for o := Indexed; o <= Undelivered; o++ {
		if n := s.counts[o].Load(); n > 0 {
			p.m.finished[o].Add(float64(n))
		}
	}
	if n := s.counts[Undelivered].Load(); n > 0 {
		p.undelivered.Add(n)
	}
}

func (p *Pipeline) work() {
	defer p.workers.Done()
	var (
		letters []DeadLetter
		ready   []*Record // routed records of the chunk, handed over together
	)
	batcher, _ := p.target.(BatchTarget)
	for {
		chunk, ok := p.in.pop()
		if !ok {
			return
		}
		ready = ready[:0]
		for i := range chunk {
			rec := &chunk[i]
			if p.workCtx.Err() != nil {
				rec.Finish(Result{Outcome: Undelivered, Reason: "shutdown"})
				continue
			}
			if reason, msg := p.route(rec); reason != "" {
				letters = append(letters[:0], NewDeadLetter(rec, 400, reason, msg))
				// The dead-letter sink is synchronous: the record is finished only once stored.
				if err := DeadLetterRecords(p.workCtx, p.dlq, []*Record{rec}, letters); err != nil {
					p.log.Error("dead-letter write failed; document left undelivered", "err", err)
				}
				continue
			}
			if batcher == nil {
				if err := p.target.Add(p.workCtx, rec); err != nil {
					rec.Finish(Result{Outcome: Undelivered, Reason: "shutdown", Error: err.Error()})
				}
				continue
			}
			ready = append(ready, rec)
		}
		if len(ready) > 0 {
			n, err := batcher.AddBatch(p.workCtx, ready)
			if err != nil {
				for _, rec := range ready[n:] {
					rec.Finish(Result{Outcome: Undelivered, Reason: "shutdown", Error: err.Error()})
				}
			}
			clear(ready) // a pooled chunk's records must not stay reachable from here
		}
		if p.idle != nil && p.in.empty() {
			p.idle.FlushIdle()
		}
	}
}

// route validates the document and fills in its index, id and time. A non-empty reason
// means the document is refused for good.
func (p *Pipeline) route(rec *Record) (reason, msg string) {
	f, err := p.scanner.Scan(rec.Doc)
	if err != nil {
		return "invalid_json", err.Error()
	}
	if rec.ID == nil && f.ID.Raw != nil {
		switch f.ID.Kind {
		case docscan.String, docscan.Number:
			if len(f.ID.Raw) == 0 || len(f.ID.Raw) > 512 {
				return "invalid_id", fmt.Sprintf("field %q must be a string of 1 to 512 bytes", p.cfg.IDField)
			}
			rec.ID = f.ID.Raw
		default:
			return "invalid_id", fmt.Sprintf("field %q must be a string or a number", p.cfg.IDField)
		}
	}
	// The time is parsed only for an index with date math, its one use: a static index
	// (the common case when the source names it) would pay for it on every document.
	if rec.Index == "" {
		if p.needTime {
			p.eventTime(rec, f.Time)
		}
		rec.Index = p.index.Resolve(rec.Time)
	} else if strings.Contains(rec.Index, "%{") {
		t, err := p.template(rec.Index)
		if err != nil {
			return "invalid_index", err.Error()
		}
		p.eventTime(rec, f.Time)
		rec.Index = t.Resolve(rec.Time)
	} else if err := validIndexCached(rec.Index); err != nil {
		return "invalid_index", err.Error()
	}
	return "", ""
}

// eventTime sets rec.Time, unless the source did, from the document's time field, or to the
// ingest time when the document has none.
func (p *Pipeline) eventTime(rec *Record, v docscan.Value) {
	if rec.Time != 0 {
		return
	}
	if v.Raw != nil {
		if t, ok := docscan.ParseTime(v); ok {
			rec.Time = t.UnixNano()
			return
		}
	}
	rec.Time = p.now().UnixNano()
}

// template compiles a source-given index template once; sources name few distinct ones.
func (p *Pipeline) template(s string) (*IndexTemplate, error) {
	if t, ok := p.templates.Load(s); ok {
		return t.(*IndexTemplate), nil
	}
	t, err := ParseIndexTemplate(s)
	if err != nil {
		return nil, err
	}
	p.templates.Store(s, t)
	return t, nil
}

// lastValidIndex remembers the most recent valid index name: sources send runs of records
// to one index, and validating each would be wasted work.
var lastValidIndex atomic.Pointer[string]

func validIndexCached(name string) error {
	if p := lastValidIndex.Load(); p != nil && *p == name {
		return nil
	}
	if err := ValidIndexName(name); err != nil {
		return err
	}
	// A copy: taking the parameter's address would move it to the heap on every call, the
	// fast path's included (one allocation per document).
	valid := name
	lastValidIndex.Store(&valid)
	return nil
}

// Shutdown stops admission, lets workers hand everything queued to the target, and returns
// when they are done or ctx ends; at ctx's end whatever is still queued is finished as
// Undelivered. The target is shut down by its owner afterwards. Safe to call twice.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	var err error
	p.stopOnce.Do(func() {
		close(p.stopping)
		p.stopAdmit()
		// At the deadline workers stop handing records to a target that is stuck (a node
		// that is down) and finish the rest as undelivered.
		hard := context.AfterFunc(ctx, p.cancelWork)
		defer hard()
		p.mu.Lock()
		p.closed = true
		p.in.close()
		p.mu.Unlock()
		if !p.started.Load() {
			// Nothing consumes: finish what was queued so acks and counts stay right.
			p.cancelWork()
			p.workers.Add(1)
			go p.work()
		}
		done := make(chan struct{})
		go func() { p.workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			p.cancelWork()
			<-done
			err = fmt.Errorf("pipeline drain: %w", ctx.Err())
		}
		p.log.Info("pipeline stopped", "queued_bytes", p.queued.Load())
	})
	return err
}

// Abort ends delivery at once: blocked target calls return and queued records finish as
// Undelivered. Shutdown calls it when its deadline passes.
func (p *Pipeline) Abort() { p.cancelWork() }

// Undelivered counts records finished as Undelivered so far.
func (p *Pipeline) Undelivered() int64 { return p.undelivered.Load() }

// QueuedBytes is the memory currently held by accepted, unfinished messages.
func (p *Pipeline) QueuedBytes() int64 { return p.queued.Load() }

// Capacity is the queue's size in bytes.
func (p *Pipeline) Capacity() int64 { return p.capacity }

// Pause stops sources from taking new work (the circuit breaker opened, for instance).
// Sources check Paused and wait in WaitResumed.
func (p *Pipeline) Pause(reason string) {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if p.pauseReason == "" {
		p.resumed = make(chan struct{})
		p.log.Warn("pipeline paused", "reason", reason)
	}
	p.pauseReason = reason
}

// Resume undoes Pause.
func (p *Pipeline) Resume() {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	if p.pauseReason != "" {
		close(p.resumed)
		p.log.Info("pipeline resumed", "was", p.pauseReason)
		p.pauseReason = ""
	}
}

// Paused reports whether sources should hold off, and why.
func (p *Pipeline) Paused() (bool, string) {
	p.pauseMu.Lock()
	defer p.pauseMu.Unlock()
	return p.pauseReason != "", p.pauseReason
}

// WaitResumed blocks while the pipeline is paused.
func (p *Pipeline) WaitResumed(ctx context.Context) error {
	p.pauseMu.Lock()
	ch := p.resumed
	p.pauseMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Op is the configured bulk action.
func (p *Pipeline) Op() Op { return p.op }
