package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/corpus"
	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/bench/report"
)

// TestBenchNullTarget runs `weir bench --target null` for real: a short sweep against the
// in-process receiver, with the JSON result, the SVG chart and a comparison with itself.
func TestBenchNullTarget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, svg := filepath.Join(dir, "r.json"), filepath.Join(dir, "c.svg")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--target", "null", "--warmup", "200ms", "--duration", "2s",
		"--clients", "1,2", "--bulk-docs", "200", "--corpus-docs", "500", "--out", out, "--svg", svg}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	res, err := report.ReadFile(out)
	require.NoError(t, err)
	require.Len(t, res.Runs, 2)
	for _, r := range res.Runs {
		assert.Positive(t, r.Docs)
		assert.Positive(t, r.DocsPerSec.Median)
		assert.Positive(t, r.Latency.P99)
		assert.Positive(t, r.CPUSecondsPerMillion)
		assert.Zero(t, r.RequestErrors+r.ItemErrors+r.Requests429+r.Items429)
		assert.GreaterOrEqual(t, r.Seconds, 2.0)
		assert.Less(t, r.Seconds, 10.0)
	}
	assert.Equal(t, "null", res.Target)
	assert.Equal(t, "none", res.Auth)
	assert.Contains(t, stdout.String(), "docs/s min")
	b, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("<?xml")))

	// --compare against the file just written, with a one-document run: the sweep's other
	// configuration shows as gone.
	stdout.Reset()
	code = run(context.Background(), []string{"bench", "--target", "null", "--warmup", "0s", "--docs", "400",
		"--clients", "1", "--bulk-docs", "200", "--compare", out}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "change")
	assert.Contains(t, stdout.String(), "gone")
}

// TestBenchSignsWithSigV4 checks that weir bench uses weir's signing transport when the
// configuration turns SigV4 on.
func TestBenchSignsWithSigV4(t *testing.T) {
	t.Parallel()
	var signed, total atomic.Int64
	null := nullbulk.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDBENCH/") &&
			r.Header.Get("X-Amz-Content-Sha256") != "" {
			signed.Add(1)
		}
		null.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--target", srv.URL, "--warmup", "0s", "--docs", "300",
		"--clients", "2", "--bulk-docs", "100",
		"--set", "opensearch.sigv4.enabled=true", "--set", "aws.region=eu-west-1",
		"--set", "aws.credentials.provider=static", "--set", "aws.credentials.access_key_id=AKIDBENCH",
		"--set", "aws.credentials.secret_access_key=secret"}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	assert.Equal(t, int64(300), null.Documents())
	assert.Equal(t, total.Load(), signed.Load(), "every request is signed")
	assert.Contains(t, stdout.String(), "auth sigv4")
}

func TestBenchRecreatesIndex(t *testing.T) {
	t.Parallel()
	var calls []string
	null := nullbulk.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bench-x" {
			b, _ := io.ReadAll(r.Body)
			calls = append(calls, r.Method+" "+string(b))
			if r.Method == http.MethodDelete {
				w.WriteHeader(http.StatusNotFound)
			}
			return
		}
		null.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--target", srv.URL, "--index", "bench-x", "--recreate-index",
		"--shards", "2", "--warmup", "0s", "--docs", "100", "--bulk-docs", "50", "--clients", "1"}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	require.Len(t, calls, 2)
	assert.Equal(t, "DELETE ", calls[0])
	assert.Contains(t, calls[1], `"number_of_shards":2`)
}

func TestBenchUsageErrors(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"bad clients":        {"--clients", "1,x"},
		"zero bulk":          {"--bulk-docs", "0"},
		"bad target":         {"--target", "nowhere"},
		"stray argument":     {"extra"},
		"corpus needs docs":  {"--write-corpus", "x.ndjson"},
		"missing compare":    {"--compare", "/nonexistent/old.json"},
		"bad sigv4 settings": {"--set", "opensearch.sigv4.enabled=true"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"bench", "--warmup", "0s", "--duration", "100ms"}, args...), nil, &stdout, &stderr)
			assert.NotEqual(t, exitOK, code, "stdout: %s", stdout.String())
			assert.NotEmpty(t, stderr.String())
		})
	}
}

func TestBenchWriteCorpus(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "docs.ndjson")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--write-corpus", path, "--docs", "25", "--doc-bytes", "300"}, nil, &stdout, &stderr)
	require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	c, err := corpus.Load(path)
	require.NoError(t, err)
	assert.Equal(t, 25, c.Len())
	assert.InDelta(t, 300, c.AvgBytes(), 0.01)
}

func TestBenchServeNull(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"bench", "--serve-null", "127.0.0.1:0"}, nil, &stdout, &stderr) }()
	var base string
	require.Eventually(t, func() bool {
		s := stdout.String()
		if i := strings.Index(s, "http://"); i >= 0 {
			base, _, _ = strings.Cut(s[i:], " ")
			return true
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	resp, err := http.Post(base+"/_bulk", "application/x-ndjson", strings.NewReader("{\"index\":{\"_index\":\"a\"}}\n{}\n"))
	require.NoError(t, err)
	resp.Body.Close()
	resp, err = http.Get(base + nullbulk.StatsPath)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `{"requests":1,"documents":1,"bytes":28}`, string(b))
	cancel()
	assert.Equal(t, exitOK, <-done)
}
