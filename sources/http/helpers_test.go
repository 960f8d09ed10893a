package httpsource

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// fakeTarget finishes each record with fn's result (Indexed when fn is nil). When gate is
// set, Add waits for it to close first, which holds the records in the pipeline's queue.
type fakeTarget struct {
	fn   func(*pipeline.Record) pipeline.Result
	gate chan struct{}

	mu   sync.Mutex
	docs []string
	idx  []string
	ids  []string
}

func (t *fakeTarget) Add(ctx context.Context, rec *pipeline.Record) error {
	if t.gate != nil {
		select {
		case <-t.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t.mu.Lock()
	t.docs = append(t.docs, string(rec.Doc))
	t.idx = append(t.idx, rec.Index)
	t.ids = append(t.ids, string(rec.ID))
	t.mu.Unlock()
	res := pipeline.Result{Outcome: pipeline.Indexed, Status: 201}
	if t.fn != nil {
		res = t.fn(rec)
	}
	rec.Finish(res)
	return nil
}

func (t *fakeTarget) received() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.docs...)
}

// fakeDLQ keeps dead letters in memory.
type fakeDLQ struct {
	mu      sync.Mutex
	letters []pipeline.DeadLetter
}

func (d *fakeDLQ) WriteDeadLetters(_ context.Context, letters []pipeline.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range letters {
		l.Doc = append([]byte(nil), l.Doc...)
		d.letters = append(d.letters, l)
	}
	return nil
}

func (d *fakeDLQ) all() []pipeline.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]pipeline.DeadLetter(nil), d.letters...)
}

// env is a started source in front of a real pipeline.
type env struct {
	src    *Source
	p      *pipeline.Pipeline
	target *fakeTarget
	dlq    *fakeDLQ
	reg    *prometheus.Registry
	base   string
}

type envOpts struct {
	cfg    func(*Config)
	pcfg   func(*pipeline.Config)
	target *fakeTarget
}

var quiet = slog.New(slog.DiscardHandler)

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	pc := pipeline.DefaultConfig()
	pc.Workers = 2
	pc.Index = "weir-test"
	if o.pcfg != nil {
		o.pcfg(&pc)
	}
	e := &env{target: o.target, dlq: &fakeDLQ{}, reg: prometheus.NewRegistry()}
	if e.target == nil {
		e.target = &fakeTarget{}
	}
	p, err := pipeline.New(pc, e.target, e.dlq, pipeline.WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	e.p = p
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	src, err := New(cfg, p, WithLogger(quiet), WithRegisterer(e.reg))
	require.NoError(t, err)
	require.NoError(t, src.Start(context.Background()))
	e.src = src
	e.base = "http://" + src.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = src.Shutdown(ctx)
		_ = p.Shutdown(ctx)
	})
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

func do(t testing.TB, method, url string, body []byte, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func post(t testing.TB, url string, body string, header ...string) response {
	t.Helper()
	return do(t, http.MethodPost, url, []byte(body), header...)
}

// requireError checks an OpenSearch-style error body.
func requireError(t testing.TB, r response, status int, typ string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	m := r.json(t)
	require.EqualValues(t, status, m["status"])
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "body: %s", r.body)
	require.Equal(t, typ, e["type"])
	require.NotEmpty(t, e["reason"])
	return e
}
