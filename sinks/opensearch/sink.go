// Package opensearch is weir's bulk sink: it batches records into `_bulk` requests, sends a
// bounded number at once, reads the answer item by item and gives every record exactly one
// outcome: indexed, dead-lettered (refused for good), or, at a shutdown deadline,
// undelivered (its source keeps the message, so it comes back).
//
// What is retried, and how:
//   - Items refused with 429 or 5xx are resent alone, in a batch of their own, with full
//     jitter backoff (honouring Retry-After), up to retry.max_attempts; then dead-lettered
//     as retries_exhausted.
//   - Items refused with another 4xx are dead-lettered at once with OpenSearch's error type.
//   - A whole request answered 413 is split in half, recursively; a single document that is
//     still too large is dead-lettered as request_too_large.
//   - A whole request that fails otherwise (network, timeout, 429, 5xx, an answer that does
//     not parse) is retried whole, with capped backoff and no limit while weir runs: a node
//     that is down must not lose data.
//   - A whole request refused with another 4xx (400, 401, 403, 404) is retried too, and
//     logged once per distinct reason. Such refusals are almost always about configuration
//     or permissions (a proxy path, a role without bulk rights), not about the documents:
//     dead-lettering would throw away good data for an operator's mistake. Backpressure
//     makes the problem visible upstream while someone fixes it. A 401/403 is explained
//     (WithExplainer): the log line says which policy refused and what to change, and
//     weir_auth_denied_total{reason} counts each refusal.
//
// Sending is a chain of small steps: at most max_in_flight batches being delivered, an
// adaptive limit on the requests among them that are on the wire (limiter.go), the circuit
// breaker (breaker.go), request timeout and metrics (meteredSender), any WithSender wrapper,
// and the HTTP client (with SigV4 signing in its transport).
package opensearch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/auth/explain"
	"github.com/weir-ingest/weir/pipeline"
)

// Errors from Add. The record was not taken when one is returned.
var (
	ErrNotStarted = errors.New("opensearch sink is not started")
	ErrClosed     = errors.New("opensearch sink is shut down")
)

// Clock is time as the sink's backoff sees it; tests replace it to make waits instant and
// observable.
type Clock = pipeline.Clock

// Sink is the OpenSearch bulk sink; it implements pipeline.Target.
type Sink struct {
	cfg        Config
	log        *slog.Logger
	dlq        pipeline.DeadLetterSink
	clock      Clock
	random     func() float64
	m          *metrics
	transport  http.RoundTripper
	client     *opensearchgo.Client
	pinger     clientSender
	send       Sender
	wrapSender func(Sender) Sender
	breaker    *Breaker
	// explainer classifies whole-request 401/403s; nil: logged as other refusals are.
	explainer  *explain.Explainer
	explainCtx explain.Context
	// principal is weir's own identity (STS GetCallerIdentity), learned after the sink is
	// built; a refusal's explanation names it when the response does not.
	principal atomic.Pointer[string]
	// bulkURL is where a bulk request goes when the sender does not say (the first node).
	bulkURL *url.URL
	// finish, when set, reports outcomes instead of the records' own Finish: tests observe
	// outcomes through it.
	finish func(*pipeline.Record, pipeline.Result)

	// lock is a one-slot channel rather than a mutex so that Add can give up waiting when
	// its context ends. It guards cur, pending, closed, started and ids.
	lock    chan struct{}
	cur     *batch
	pending []*batch // full batches not yet handed to a sender
	closed  bool
	started bool
	ids     itemCache

	slots chan struct{} // one token per batch being delivered, retries and backoffs included
	// limit caps the requests on the wire, adaptively, at or under max_in_flight. A
	// delivery backing off holds its slot but not a request: the node sees only requests.
	limit   *limiter
	senders sync.WaitGroup
	// sendCtx ends at the hard stop of Shutdown: requests, backoffs and dead-letter writes
	// all watch it.
	sendCtx    context.Context
	cancelSend context.CancelFunc
	// stopCtx ends when Shutdown begins: the flusher and the start-up ping watch it.
	stopCtx  context.Context
	stopBg   context.CancelFunc
	bg       sync.WaitGroup
	wake     chan struct{} // a batch got its first document
	batches  sync.Pool
	stopOnce sync.Once

	undelivered atomic.Int64
	failing     atomic.Bool // whole requests are failing: logged on the transitions only
	dlqFailing  atomic.Bool
	seenMu      sync.Mutex
	seen        map[string]bool // whole-request refusal reasons already logged
}

var _ pipeline.Target = (*Sink)(nil)

// Option adjusts a Sink.
type Option func(*Sink)

// WithTransport sets the HTTP transport (SigV4 signing wraps one). The default is an
// http.Transport sized for max_in_flight.
func WithTransport(rt http.RoundTripper) Option { return func(s *Sink) { s.transport = rt } }

// WithDeadLetter sets where refused documents go. Required.
func WithDeadLetter(d pipeline.DeadLetterSink) Option { return func(s *Sink) { s.dlq = d } }

// WithRegisterer registers the sink's metrics.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(s *Sink) { s.m = newMetrics(r) }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Sink) { s.log = l } }

// WithClock sets the clock used for backoff waits.
func WithClock(c Clock) Option { return func(s *Sink) { s.clock = c } }

// WithRandom sets the jitter source, a function returning values in [0, 1).
func WithRandom(f func() float64) Option { return func(s *Sink) { s.random = f } }

// WithSender wraps the step that sends one bulk request over HTTP; tests replace it entirely
// by ignoring next. The circuit breaker, the request timeout and the metrics stay around it.
func WithSender(wrap func(next Sender) Sender) Option {
	return func(s *Sink) { s.wrapSender = wrap }
}

// WithExplainer explains whole bulk requests refused with 401 or 403: each is counted in
// weir_auth_denied_total{reason}, and each distinct reason is logged once, saying what to
// change. ctx names the signing service and region when requests are SigV4-signed; the
// canonical path is filled in from the refused request.
func WithExplainer(x *explain.Explainer, ctx explain.Context) Option {
	return func(s *Sink) { s.explainer, s.explainCtx = x, ctx }
}

// SetPrincipal tells the sink weir's identity (an IAM role, user or assumed-role session ARN),
// so that an explained 403 can say which principal the policy has to name. Safe at any time.
func (s *Sink) SetPrincipal(arn string) { s.principal.Store(&arn) }

// New builds the sink; nothing is contacted until Start.
func New(cfg Config, opts ...Option) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("opensearch config: %w", err)
	}
	s := &Sink{
		cfg:    cfg,
		log:    slog.Default(),
		clock:  pipeline.RealClock{},
		random: rand.Float64,
		lock:   make(chan struct{}, 1),
		slots:  make(chan struct{}, cfg.MaxInFlight),
		wake:   make(chan struct{}, 1),
		seen:   map[string]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.dlq == nil {
		return nil, errors.New("opensearch sink: a dead-letter sink is required (WithDeadLetter)")
	}
	if s.m == nil {
		s.m = newMetrics(nil)
	}
	if s.transport == nil {
		s.transport = DefaultTransport(cfg)
	}
	client, err := opensearchgo.NewClient(opensearchgo.Config{
		Addresses:          cfg.URLs,
		Username:           cfg.Username,
		Password:           cfg.Password.Reveal(),
		Transport:          s.transport,
		InsecureSkipVerify: cfg.TLSInsecureSkipVerify,
		DisableRetry:       true,
		// The sink has its own Ping and retry policy: no background health-check retries.
		HealthCheckMaxRetries: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch client: %w", err)
	}
	s.client = client
	s.pinger = clientSender{client: client}
	var send Sender = s.pinger
	if s.wrapSender != nil {
		send = s.wrapSender(send)
	}
	send = meteredSender{next: send, timeout: cfg.RequestTimeout, m: s.m}
	s.breaker = newBreaker(cfg.Breaker, s.pinger.probe, min(cfg.RequestTimeout, 30*time.Second), s.log, s.m)
	s.send = s.breaker.Wrap(send)
	s.limit = newLimiter(cfg.Adaptive.MinInFlight, cfg.MaxInFlight, cfg.Adaptive.Enabled, s.clock, func(n int, why string) {
		s.m.concurrencyLimit.Set(float64(n))
		s.log.Debug("bulk concurrency limit changed", "limit", n, "why", why)
	})
	start, _ := s.limit.current() // adaptive starts at min_in_flight, not at max
	s.m.concurrencyLimit.Set(float64(start))
	if u, err := url.Parse(cfg.URLs[0]); err == nil {
		s.bulkURL = u.JoinPath("_bulk")
	}
	s.batches.New = func() any { return &batch{} }
	s.cur = s.getBatch()
	s.sendCtx, s.cancelSend = context.WithCancel(context.Background())
	s.stopCtx, s.stopBg = context.WithCancel(context.Background())
	return s, nil
}

// DefaultTransport is the sink's HTTP transport, for callers that wrap it (SigV4 signing).
func DefaultTransport(cfg Config) *http.Transport {
	maxInFlight := max(cfg.MaxInFlight, 1)
	t := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialWholeBody((&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext),
		// Every request in flight keeps a connection; a pool smaller than that would close
		// and redial connections between batches (the default keeps 2 per host).
		MaxIdleConns:          maxInFlight * 4,
		MaxIdleConnsPerHost:   maxInFlight * 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	if cfg.TLSInsecureSkipVerify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in, warned at start
	}
	return t
}

// Start begins accepting records and flushing aged batches. It does not wait for
// OpenSearch: a node that is down at start is retried like any other outage, and Ping
// tells readiness. Safe to call more than once.
func (s *Sink) Start(context.Context) error {
	s.lock <- struct{}{}
	defer func() { <-s.lock }()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return nil
	}
	s.started = true
	if s.cfg.TLSInsecureSkipVerify {
		s.log.Warn("opensearch TLS certificate verification is disabled (tls_insecure_skip_verify)")
	}
	s.bg.Add(2)
	go s.flushLoop()
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(s.stopCtx, 10*time.Second)
		defer cancel()
		if err := s.Ping(ctx); err != nil {
			if s.stopCtx.Err() == nil {
				s.log.Warn("opensearch not reachable at start; documents wait and are retried", "urls", s.cfg.URLs, "err", err)
			}
			return
		}
		s.log.Info("opensearch reachable", "urls", s.cfg.URLs)
	}()
	s.log.Info("opensearch sink started", "urls", s.cfg.URLs, "flush_documents", s.cfg.FlushDocuments,
		"flush_bytes", s.cfg.FlushBytes.String(), "flush_interval", s.cfg.FlushInterval, "max_in_flight", s.cfg.MaxInFlight,
		"adaptive", s.cfg.Adaptive.Enabled, "breaker_cool_down", s.cfg.Breaker.CoolDown)
	return nil
}

// Ping checks that a node answers; for readiness probes.
func (s *Sink) Ping(ctx context.Context) error { return s.pinger.ping(ctx) }

// Breaker is the circuit breaker around bulk requests: its state for readiness checks, and
// OnStateChange to pause sources while it is open.
func (s *Sink) Breaker() *Breaker { return s.breaker }

// Undelivered counts records this sink finished as Undelivered.
func (s *Sink) Undelivered() int64 { return s.undelivered.Load() }

func (s *Sink) getBatch() *batch {
	return s.batches.Get().(*batch)
}

func (s *Sink) putBatch(b *batch) {
	b.reset()
	// An outsized batch (one huge document) would pin its buffer in the pool forever.
	if cap(b.buf) > 2*int(s.cfg.FlushBytes)+1<<20 || cap(b.resp) > 16<<20 {
		return
	}
	s.batches.Put(b)
}

// Add encodes rec into the open batch, and hands the batch to a sender when it is full.
// It blocks while every sender is busy and a full batch waits: that is the backpressure.
// It fails only when ctx ends before the record was taken, or when the sink is not running.
func (s *Sink) Add(ctx context.Context, rec *pipeline.Record) error {
	one := [1]*pipeline.Record{rec}
	_, err := s.AddBatch(ctx, one[:])
	return err
}

// AddBatch is Add for several records under one acquisition of the sink's lock: the
// pipeline's workers hand over a chunk at a time, and a lock (a select on a channel) per
// record cost 6-8% of weir's CPU at 300k documents/s. It returns how many records were
// taken, in order; the caller still owns recs[n:] when err is not nil.
func (s *Sink) AddBatch(ctx context.Context, recs []*pipeline.Record) (int, error) {
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-s.lock }()
	if s.closed {
		return 0, ErrClosed
	}
	if !s.started {
		return 0, ErrNotStarted
	}
	for i, rec := range recs {
		// A full batch left by a caller whose context ended goes first: taking more records
		// while it waits would sidestep the backpressure.
		if err := s.dispatchPending(ctx); err != nil {
			return i, err
		}
		s.addLocked(rec)
	}
	// The records are taken whatever happens now: a batch that cannot get a sender before
	// ctx ends stays pending, for the next Add, the flusher or Shutdown.
	_ = s.dispatchPending(ctx)
	return len(recs), nil
}

// addLocked encodes rec into the open batch, moving batches that fill up to pending; s.lock
// must be held.
func (s *Sink) addLocked(rec *pipeline.Record) {
	b := s.cur
	if b.n() == 0 {
		b.created = time.Now()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	b.add(rec, &s.ids)
	limit := int(s.cfg.FlushBytes)
	if b.n() > 1 && len(b.buf) > limit {
		// This document would take the body past flush_bytes: it starts the next batch.
		nb := s.getBatch()
		nb.created = time.Now()
		nb.copyItem(b, b.n()-1)
		b.dropLast()
		s.pending = append(s.pending, b)
		s.cur, b = nb, nb
	}
	if b.n() >= s.cfg.FlushDocuments || len(b.buf) >= limit {
		s.pending = append(s.pending, b)
		s.cur = s.getBatch()
	}
}

// dispatchPending hands pending batches to senders in order; s.lock must be held.
func (s *Sink) dispatchPending(ctx context.Context) error {
	for len(s.pending) > 0 {
		if err := s.dispatch(ctx, s.pending[0]); err != nil {
			return err
		}
		n := copy(s.pending, s.pending[1:])
		s.pending[n] = nil
		s.pending = s.pending[:n]
	}
	return nil
}

// dispatch waits for a free sender slot and starts delivering b.
func (s *Sink) dispatch(ctx context.Context, b *batch) error {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.sendCtx.Done():
		return s.sendCtx.Err()
	}
	s.start(b)
	return nil
}

// FlushIdle sends the open batch at once if a sender slot is free. The pipeline calls it
// when its queue runs dry: a lone request (which a sync client waits on) then goes out
// without waiting for flush_interval, while under load the queue is never dry and slots are
// busy, so batches still fill. It never blocks.
func (s *Sink) FlushIdle() {
	select {
	case s.lock <- struct{}{}:
	default:
		return // an Add or the flusher holds the batch: not idle
	}
	defer func() { <-s.lock }()
	if s.closed || !s.started || len(s.pending) > 0 || s.cur.n() == 0 {
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		return
	}
	b := s.cur
	s.cur = s.getBatch()
	s.start(b)
}

// start delivers b on a slot the caller already took; s.lock must be held.
func (s *Sink) start(b *batch) {
	s.m.batchDocs.Observe(float64(b.n()))
	s.m.batchBytes.Observe(float64(len(b.buf)))
	s.senders.Add(1)
	go func() {
		defer func() {
			<-s.slots
			s.senders.Done()
		}()
		s.deliver(b)
		s.putBatch(b)
	}()
}

// flushLoop sends batches that reached flush_interval without filling up.
func (s *Sink) flushLoop() {
	defer s.bg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-s.stopCtx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		select {
		case s.lock <- struct{}{}:
		case <-s.stopCtx.Done():
			return
		}
		wait := time.Duration(-1)
		if s.dispatchPending(s.stopCtx) == nil && s.cur.n() > 0 {
			if age := time.Since(s.cur.created); age >= s.cfg.FlushInterval {
				s.pending = append(s.pending, s.cur)
				s.cur = s.getBatch()
				_ = s.dispatchPending(s.stopCtx)
			} else {
				wait = s.cfg.FlushInterval - age
			}
		}
		<-s.lock
		if wait >= 0 {
			t.Reset(wait)
		}
	}
}

// Shutdown sends the open batch and waits for every request and its retries. When ctx ends
// first, it cancels them and finishes every record still held as Undelivered (reason
// "shutdown"), and returns an error saying how many. Safe to call twice and without Start.
func (s *Sink) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Sink) shutdown(ctx context.Context) error {
	s.stopBg()
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		// An Add is stuck waiting for a sender: ending the senders frees it.
		s.cancelSend()
		s.lock <- struct{}{}
	}
	s.closed = true
	left := s.pending
	if s.cur.n() > 0 {
		left = append(left, s.cur)
	}
	s.pending, s.cur = nil, s.getBatch()
	<-s.lock
	s.bg.Wait()

	cut := false
	for _, b := range left {
		if s.dispatch(ctx, b) != nil {
			cut = true
			s.abandon(b)
			s.putBatch(b)
		}
	}
	done := make(chan struct{})
	go func() {
		s.senders.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		cut = true
		s.cancelSend()
		<-done
	}
	s.cancelSend()
	s.breaker.close()
	if cut {
		err = fmt.Errorf("opensearch sink: drain cut short, %d documents undelivered: %w", s.undelivered.Load(), ctx.Err())
	}
	_ = s.client.Close() // also closes the transport's idle connections
	s.log.Info("opensearch sink stopped", "undelivered", s.undelivered.Load())
	return err
}
