package httpsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// discardWriter is a ResponseWriter that keeps nothing, so that allocs/op counts the
// server's work only.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(c int)           { d.code = c }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchBody(docs int) []byte {
	var b bytes.Buffer
	pad := strings.Repeat("x", 940)
	for i := range docs {
		fmt.Fprintf(&b, `{"@timestamp":"2026-11-25T13:00:00Z","seq":%d,"host":"web-1","msg":"%s"}`+"\n", i, pad)
	}
	return b.Bytes()
}

// BenchmarkIngestNDJSON sends 500 documents of about 1 KiB per request through the sync
// handler into the real pipeline, whose target finishes records at once: each iteration
// is one request answered after all its documents are indexed.
func BenchmarkIngestNDJSON(b *testing.B) {
	const docs = 500
	body := benchBody(docs)
	pc := pipeline.DefaultConfig()
	pc.Index = "bench"
	p, err := pipeline.New(pc, &immediateTarget{}, &fakeDLQ{}, pipeline.WithLogger(quiet))
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background()))
	defer func() { _ = p.Shutdown(context.Background()) }()
	cfg := DefaultConfig()
	cfg.Mode = ModeSync
	s, err := New(cfg, p, WithLogger(quiet))
	require.NoError(b, err)

	b.Run("handler", func(b *testing.B) {
		rd := bytes.NewReader(body)
		req, err := http.NewRequest(http.MethodPost, "/v1/ingest", nil)
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.ContentLength = int64(len(body))
		w := &discardWriter{h: http.Header{}}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			rd.Reset(body)
			req.Body = io.NopCloser(rd)
			s.mux.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
		b.ReportMetric(float64(b.N*docs)/time.Since(start).Seconds(), "docs/s")
	})

	b.Run("loopback", func(b *testing.B) {
		cfg.Listen = "127.0.0.1:0"
		s, err := New(cfg, p, WithLogger(quiet))
		require.NoError(b, err)
		require.NoError(b, s.Start(context.Background()))
		defer func() { _ = s.Shutdown(context.Background()) }()
		url := "http://" + s.Addr().String() + "/v1/ingest"
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			resp, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		b.ReportMetric(float64(b.N*docs)/time.Since(start).Seconds(), "docs/s")
	})
}

// immediateTarget indexes every record at once.
type immediateTarget struct{}

func (immediateTarget) Add(_ context.Context, rec *pipeline.Record) error {
	rec.Finish(pipeline.Result{Outcome: pipeline.Indexed, Status: 201})
	return nil
}

// TestIngestAllocsConstant pins that a request's allocations do not grow with its number
// of documents: the records are one slice, the documents alias the body.
func TestIngestAllocsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counting")
	}
	pc := pipeline.DefaultConfig()
	pc.Index = "bench"
	p, err := pipeline.New(pc, &immediateTarget{}, &fakeDLQ{}, pipeline.WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer func() { _ = p.Shutdown(context.Background()) }()
	cfg := DefaultConfig()
	cfg.Mode = ModeSync
	s, err := New(cfg, p, WithLogger(quiet))
	require.NoError(t, err)
	allocs := func(docs int) float64 {
		body := benchBody(docs)
		rd := bytes.NewReader(body)
		req, _ := http.NewRequest(http.MethodPost, "/v1/ingest", nil)
		req.ContentLength = int64(len(body))
		w := &discardWriter{h: http.Header{}}
		return testing.AllocsPerRun(50, func() {
			rd.Reset(body)
			req.Body = io.NopCloser(rd)
			s.mux.ServeHTTP(w, req)
		})
	}
	small, large := allocs(10), allocs(1000)
	// The pipeline allocates a little per chunk of 256 records; the source nothing per document.
	require.Less(t, large-small, 20.0, "allocations per request: %v for 10 docs, %v for 1000", small, large)
}
