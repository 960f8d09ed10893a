// Package control serves weir's control port: liveness, readiness, Prometheus metrics, and
// (as they arrive) the authenticated read-query endpoints. It listens apart from the data
// sources, on loopback by default, so that exposing ingest never exposes control.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config for the control listener.
type Config struct {
	// Listen is host:port; keep it on loopback or a private interface.
	Listen string `koanf:"listen"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Listen: "127.0.0.1:8089"} }

// Validate reports every problem.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return nil
}

// Check is one readiness condition; nil means ready.
type Check func(ctx context.Context) error

// Server is the control HTTP server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	gather prometheus.Gatherer
	mux    *http.ServeMux

	mu     sync.Mutex // guards checks, srv, ln
	checks map[string]Check
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	once   sync.Once
}

// New builds the server; gatherer serves /metrics.
func New(cfg Config, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, gather: gatherer, mux: http.NewServeMux(), checks: map[string]Check{}}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such endpoint", "path": r.URL.Path})
	})
	return s
}

// AddCheck registers a named readiness check.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// Handle mounts more endpoints (the query API) on the control mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Start binds the listener and serves; it fails at once if the address is taken.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("control: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("control server stopped", "err", err)
		}
	}()
	s.log.Info("control endpoint listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound address, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server; safe twice and without Start. It is stopped last so that
// /metrics and /readyz stay visible while the pipeline drains.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		srv, done := s.srv, s.done
		s.mu.Unlock()
		if srv == nil {
			return
		}
		err = srv.Shutdown(ctx)
		<-done
	})
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := map[string]string{}
	ready := true
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			out[n] = err.Error()
			ready = false
		} else {
			out[n] = "ok"
		}
	}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"ready": ready, "checks": out})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
