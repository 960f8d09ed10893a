// Package httpsource is weir's HTTP source: clients POST documents (NDJSON, a JSON array or
// one object) to /v1/ingest, or point a log shipper (Fluent Bit, Vector, Logstash, Beats)
// at it as if it were OpenSearch and send _bulk requests. Documents go to the pipeline with
// the request's Ack; in sync mode the answer waits for that Ack, so a client that gets 200
// may forget its documents, and one that gets anything else sends them again.
package httpsource

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/pipeline"
)

// SourceName is the Record.Source of every document this source hands over.
const SourceName = "http"

// ErrShutDown is returned by Start after Shutdown.
var ErrShutDown = errors.New("http source: shut down")

// Pipeline is what the source uses of *pipeline.Pipeline.
type Pipeline interface {
	// Reserve takes queue room for a body before it is read, waiting while the queue is full.
	Reserve(ctx context.Context, bytes int64) (*pipeline.Reservation, error)
	// TrySubmitReserved hands over one request's records, using res (which may be nil)
	// first; on error nothing was taken.
	TrySubmitReserved(res *pipeline.Reservation, ack *pipeline.Ack, recs []pipeline.Record, bytes int64) error
	// Paused reports the circuit breaker open, and why.
	Paused() (bool, string)
	// Op is the configured bulk action for documents that do not name one.
	Op() pipeline.Op
	// Capacity is the queue's size in bytes; a request that could never fit is refused
	// before its records are built.
	Capacity() int64
}

var _ Pipeline = (*pipeline.Pipeline)(nil)

// Source serves the HTTP endpoints on its own listener.
type Source struct {
	cfg        Config
	p          Pipeline
	log        *slog.Logger
	m          *metrics
	reg        prometheus.Registerer
	tokens     [][sha256.Size]byte
	retryAfter string
	mux        *http.ServeMux
	// probe has the real routes only; it tells an unmatched request's 404 from a 405.
	probe *http.ServeMux

	// mu guards the lifecycle fields below.
	mu        sync.Mutex
	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}
	closed    bool

	stopOnce sync.Once
	stopErr  error
	// hardStop is closed when Shutdown's deadline passes: sync requests still waiting stop
	// waiting (their documents stay in the pipeline, whose own shutdown decides their fate).
	hardStop chan struct{}
	inflight sync.WaitGroup

	// reading bounds the bytes of request bodies being read at once: before a body is
	// framed and admitted to the pipeline's queue it is nobody's memory, and many parallel
	// uploads must not add up to more than this.
	reading *semaphore.Weighted

	// docBytes is the mean document size of the last framed body (0: none yet); a body's
	// queue reservation estimates its record overhead from it.
	docBytes atomic.Int64
}

// Option adjusts a Source.
type Option func(*Source)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithRegisterer registers the source's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(s *Source) { s.reg = r } }

// New builds the source; Start binds its listener.
func New(cfg Config, p Pipeline, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("http source config: %w", err)
	}
	if p == nil {
		return nil, errors.New("http source: a pipeline is required")
	}
	s := &Source{
		cfg:      cfg,
		p:        p,
		log:      slog.Default(),
		hardStop: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.m = newMetrics(s.reg)
	// Tokens are kept as hashes: comparing fixed-size digests in constant time does not
	// leak a token's length, as comparing the tokens themselves would.
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t.Reveal())))
	}
	s.reading = semaphore.NewWeighted(readBudget(cfg))
	s.retryAfter = strconv.FormatInt(int64((cfg.RetryAfter+time.Second-1)/time.Second), 10)
	s.routes()
	return s, nil
}

func (s *Source) routes() {
	s.mux = http.NewServeMux()
	s.probe = http.NewServeMux()
	handle := func(pattern, endpoint string, h func(http.ResponseWriter, *http.Request) int) {
		s.mux.Handle(pattern, s.instrument(endpoint, h))
		s.probe.Handle(pattern, http.NotFoundHandler())
	}
	handle("POST /v1/ingest", endpointIngest, s.handleIngest)
	handle("POST /v1/ingest/{index}", endpointIngest, s.handleIngest)
	// OpenSearch takes _bulk with PUT as well as POST.
	handle("POST /_bulk", endpointBulk, s.handleBulk)
	handle("PUT /_bulk", endpointBulk, s.handleBulk)
	handle("POST /{index}/_bulk", endpointBulk, s.handleBulk)
	handle("PUT /{index}/_bulk", endpointBulk, s.handleBulk)
	// GET also serves HEAD, which Logstash and Beats use to probe the "cluster".
	handle("GET /{$}", endpointInfo, s.handleInfo)
	s.mux.Handle("/", s.instrument(endpointUnmatched, s.handleUnmatched))
}

// Start binds the listener, failing at once if the address is taken, and serves in the
// background. It is safe to call more than once.
func (s *Source) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrShutDown
	}
	if s.srv != nil {
		return nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http source: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: min(s.cfg.ReadTimeout, 10*time.Second),
		// A sync answer may take the whole sync_timeout after the body is read.
		WriteTimeout: s.cfg.ReadTimeout + s.cfg.SyncTimeout + 10*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.serveDone = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http source stopped serving", "addr", ln.Addr().String(), "err", err)
		}
	}(s.srv, s.serveDone)
	s.log.Info("http source started", "addr", ln.Addr().String(), "mode", s.cfg.Mode,
		"auth", len(s.tokens) > 0, "max_request_bytes", s.cfg.MaxRequestBytes.String())
	if len(s.tokens) == 0 && !isLoopback(ln.Addr()) {
		s.log.Warn("http source accepts documents from the network without authentication; set tokens",
			"addr", ln.Addr().String())
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr is the bound address, nil before Start.
func (s *Source) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections and waits for requests in flight, sync ones until
// their documents are delivered, until ctx ends; then it closes the connections that are
// left. Safe to call twice and without Start.
func (s *Source) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Source) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv, done := s.srv, s.serveDone
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		// Requests still waiting answer 503 (send again); at-least-once allows the duplicate.
		close(s.hardStop)
		_ = srv.Close()
		err = fmt.Errorf("http source shutdown: %w", err)
	}
	<-done
	// After Close, handlers return promptly (their connections are gone and hardStop is
	// closed); waiting for them means none touches the pipeline once Shutdown returns.
	s.inflight.Wait()
	s.log.Info("http source stopped", "graceful", err == nil)
	return err
}

// instrument wraps a handler with authentication, metrics and in-flight tracking.
func (s *Source) instrument(endpoint string, h func(http.ResponseWriter, *http.Request) int) http.Handler {
	dur := s.m.duration[endpoint]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		start := time.Now()
		var code int
		if s.authorized(r) {
			code = h(w, r)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
			code = s.writeError(w, http.StatusUnauthorized, errTypeSecurity, "missing or invalid bearer token")
		}
		s.m.request(endpoint, code)
		dur.Observe(time.Since(start).Seconds())
	})
}

// authorized accepts "Authorization: Bearer TOKEN" and, for shippers that can only send
// a user and password (Fluent Bit's es output, Beats, Logstash), Basic auth whose password
// is a token (the user name is ignored).
func (s *Source) authorized(r *http.Request) bool {
	if len(s.tokens) == 0 {
		return true
	}
	h := r.Header.Get("Authorization")
	var presented string
	switch scheme, rest, _ := strings.Cut(h, " "); {
	case strings.EqualFold(scheme, "Bearer"):
		presented = strings.TrimSpace(rest)
	case strings.EqualFold(scheme, "Basic"):
		if _, pass, ok := r.BasicAuth(); ok {
			presented = pass
		}
	}
	if presented == "" {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	match := 0
	for i := range s.tokens {
		// No early exit: the time taken does not say which token matched.
		match |= subtle.ConstantTimeCompare(sum[:], s.tokens[i][:])
	}
	return match == 1
}

// captureWriter records what the probe mux would answer, without sending it.
type captureWriter struct {
	h    http.Header
	code int
}

func (c *captureWriter) Header() http.Header         { return c.h }
func (c *captureWriter) WriteHeader(code int)        { c.code = code }
func (c *captureWriter) Write(b []byte) (int, error) { return len(b), nil }

// handleUnmatched answers a JSON 405 (with Allow) when the path exists for other methods,
// else a JSON 404; ServeMux's own answers are plain text.
func (s *Source) handleUnmatched(w http.ResponseWriter, r *http.Request) int {
	h, _ := s.probe.Handler(r)
	cw := &captureWriter{h: http.Header{}, code: http.StatusOK}
	h.ServeHTTP(cw, r)
	if cw.code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", cw.h.Get("Allow"))
		return s.writeError(w, http.StatusMethodNotAllowed, errTypeMethod,
			"method "+r.Method+" is not allowed for "+r.URL.Path+"; allowed: "+cw.h.Get("Allow"))
	}
	return s.writeError(w, http.StatusNotFound, errTypeNotFound,
		"no handler for "+r.Method+" "+r.URL.Path+"; weir serves POST /v1/ingest[/{index}], POST /_bulk, POST /{index}/_bulk and GET /")
}

// infoBody mimics OpenSearch's GET / closely enough for shippers that check the version
// before sending (Logstash, Beats, Vector's version detection).
const infoBody = `{"name":"weir","cluster_name":"weir","cluster_uuid":"weir","version":{"distribution":"opensearch",` +
	`"number":"2.19.0","build_type":"weir","build_snapshot":false,"lucene_version":"9.12.1",` +
	`"minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},` +
	`"tagline":"The OpenSearch Project: https://opensearch.org/"}`

func (s *Source) handleInfo(w http.ResponseWriter, _ *http.Request) int {
	return writeJSON(w, http.StatusOK, []byte(infoBody))
}

// requestKey identifies one request's documents (Record.Key, hence dead letters).
func requestKey() string {
	var raw [12]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	var out [5 + 2*len(raw)]byte
	copy(out[:], "http-")
	hex.Encode(out[5:], raw[:])
	return string(out[:])
}
