package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/nullbulk"
)

// BenchmarkEndToEnd measures the whole daemon: ~1 KiB NDJSON documents posted in requests of
// 500 over 8 connections to the HTTP source, through the pipeline and the bulk sink, into a
// null _bulk receiver on loopback. One op is one request (500 documents).
//
//	go test -run '^$' -bench EndToEnd -benchmem -benchtime 2000x ./cmd/weir/
func BenchmarkEndToEnd(b *testing.B) {
	for _, mode := range []string{"async", "sync"} {
		b.Run(mode, func(b *testing.B) {
			null := nullbulk.New(nullbulk.WithCompact())
			srv := httptest.NewServer(null)
			defer srv.Close()
			cfg := testConfig(b, srv.URL, mode)
			cfg.Log.Level = "warn"
			cfg.OpenSearch.FlushDocuments = 5000
			cfg.OpenSearch.FlushBytes = 5 << 20
			cfg.OpenSearch.MaxInFlight = 4
			cfg.Pipeline.QueueBytes = 128 << 20
			cfg.Sources.HTTP.MaxRequestBytes = 10 << 20
			d, base := startDaemon(b, cfg)
			defer func() { _, _ = d.shutdown(b.Context()) }()

			const perRequest, conns = 500, 8
			body := ndjson(0, perRequest, false)
			url := base + "/v1/ingest/bench"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
			send := func() {
				for {
					resp, err := client.Post(url, "application/x-ndjson", bytes.NewReader(body))
					require.NoError(b, err)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests {
						time.Sleep(time.Millisecond)
						continue
					}
					require.Less(b, resp.StatusCode, 300)
					return
				}
			}
			send() // warm-up: connections, pools
			before := null.Documents()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			work := make(chan struct{}, b.N)
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			for range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						send()
					}
				}()
			}
			wg.Wait()
			want := before + int64(b.N*perRequest)
			for null.Documents() < want {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*perRequest)/elapsed.Seconds(), "docs/s")
		})
	}
}
