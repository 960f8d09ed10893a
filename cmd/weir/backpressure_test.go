package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/nullbulk"
)

// TestBackpressureBoundsMemoryAndLosesNothing floods the HTTP source faster than a slow bulk
// receiver drains: weir must answer 429 instead of growing, keep its queue within
// pipeline.queue_bytes, and deliver every document it accepted.
func TestBackpressureBoundsMemoryAndLosesNothing(t *testing.T) {
	t.Parallel()
	null := nullbulk.New(nullbulk.WithCompact(), nullbulk.WithDelay(func(int64) time.Duration { return 30 * time.Millisecond }))
	srv := httptest.NewServer(null)
	defer srv.Close()
	cfg := testConfig(t, srv.URL, "async")
	cfg.Pipeline.QueueBytes = 4 << 20
	cfg.Sources.HTTP.MaxRequestBytes = 1 << 20
	cfg.OpenSearch.MaxInFlight = 2
	cfg.OpenSearch.FlushDocuments = 500
	d, base := startDaemon(t, cfg)

	body := ndjson(0, 200, false) // ~200 KiB per request
	var accepted, refused atomic.Int64
	var maxQueued atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(base+"/v1/ingest/bp", "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusAccepted:
					accepted.Add(200)
				case http.StatusTooManyRequests:
					assert.NotEmpty(t, resp.Header.Get("Retry-After"))
					refused.Add(1)
					time.Sleep(5 * time.Millisecond)
				default:
					t.Errorf("unexpected status %d", resp.StatusCode)
				}
			}
		}()
	}
	deadline := time.After(3 * time.Second)
sample:
	for {
		select {
		case <-deadline:
			break sample
		case <-time.After(2 * time.Millisecond):
			if q := d.pipe.QueuedBytes(); q > maxQueued.Load() {
				maxQueued.Store(q)
			}
		}
	}
	close(stop)
	wg.Wait()
	undelivered, err := d.shutdown(t.Context())
	require.NoError(t, err)
	require.Zero(t, undelivered)
	assert.Positive(t, refused.Load(), "a flood must meet 429s")
	assert.LessOrEqual(t, maxQueued.Load(), int64(cfg.Pipeline.QueueBytes), "queue stays within its bound")
	assert.Equal(t, accepted.Load(), null.Documents(), "every accepted document is delivered")
	t.Logf("accepted %d documents, refused %d requests with 429, peak queue %d of %d bytes",
		accepted.Load(), refused.Load(), maxQueued.Load(), cfg.Pipeline.QueueBytes)
}
