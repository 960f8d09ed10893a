package indexing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/corpus"
	"github.com/weir-ingest/weir/bench/nullbulk"
)

func testCorpus(t *testing.T) *corpus.Corpus {
	t.Helper()
	spec := corpus.DefaultSpec()
	spec.DocBytes = 256
	c, err := corpus.Generate(spec, 100)
	require.NoError(t, err)
	return c
}

func TestRunCountsDocumentsExactly(t *testing.T) {
	t.Parallel()
	null := nullbulk.New(nullbulk.WithCompact())
	srv := httptest.NewServer(null)
	defer srv.Close()
	r, err := Run(context.Background(), Config{
		URLs: []string{srv.URL}, Index: "bench", Client: srv.Client(), Corpus: testCorpus(t),
		Clients: 3, BulkDocs: 70, Docs: 1000, Load: func() float64 { return 1.5 },
	})
	require.NoError(t, err)
	assert.Equal(t, int64(1000), r.Docs, "a --docs run sends exactly that many")
	assert.Equal(t, int64(1000), null.Documents())
	assert.Equal(t, int64(15), r.Requests, "14 full bulks and one of 20")
	assert.Equal(t, null.Bytes(), r.Bytes)
	assert.Equal(t, uint64(0), uint64(r.RequestErrors+r.Requests429+r.ItemErrors+r.Items429))
	assert.Positive(t, r.Latency.P50)
	assert.GreaterOrEqual(t, r.Latency.P99, r.Latency.P50)
	assert.InDelta(t, 1.5, r.LoadAvg, 0)
}

func TestRunCountsThrottlingAndErrors(t *testing.T) {
	t.Parallel()
	null := nullbulk.New(
		// Every 4th request is refused whole with 429, every 5th with 503.
		nullbulk.WithRequestStatus(func(n int64) int {
			switch {
			case n%4 == 0:
				return http.StatusTooManyRequests
			case n%5 == 0:
				return http.StatusServiceUnavailable
			}
			return 0
		}),
		// In the others, item 0 is throttled and item 1 refused for its mapping.
		nullbulk.WithItemStatus(func(i int) (int, string) {
			switch i {
			case 0:
				return 429, "es_rejected_execution_exception"
			case 1:
				return 400, "mapper_parsing_exception"
			}
			return 0, ""
		}))
	srv := httptest.NewServer(null)
	defer srv.Close()
	var progress int
	r, err := Run(context.Background(), Config{
		URLs: []string{srv.URL + "/"}, Index: "bench", Client: srv.Client(), Corpus: testCorpus(t),
		Clients: 2, BulkDocs: 10, Warmup: 100 * time.Millisecond, Duration: 600 * time.Millisecond,
		Interval: 100 * time.Millisecond, Progress: func(time.Duration, float64) { progress++ },
	})
	require.NoError(t, err)
	require.Positive(t, r.Requests)
	assert.Positive(t, r.Requests429)
	assert.Positive(t, r.RequestErrors)
	ok := r.Requests - r.Requests429 - r.RequestErrors
	assert.Equal(t, ok*10, r.Items, "items are counted in answered requests")
	assert.Equal(t, ok, r.Items429)
	assert.Equal(t, ok, r.ItemErrors)
	assert.Equal(t, ok*8, r.Docs)
	assert.InDelta(t, 0.1, r.Item429Rate, 1e-6)
	assert.InDelta(t, float64(r.Requests429)/float64(r.Requests), r.Request429Rate, 1e-6)
	assert.GreaterOrEqual(t, len(r.Intervals), 2, "about 6 intervals of 100 ms (a loaded machine drops ticks)")
	assert.Positive(t, progress)
	assert.Positive(t, r.DocsPerSec.Median)
	assert.LessOrEqual(t, r.DocsPerSec.Min, r.DocsPerSec.Median)
	assert.LessOrEqual(t, r.DocsPerSec.Median, r.DocsPerSec.Max)
	assert.GreaterOrEqual(t, r.Seconds, 0.6, "a loaded machine may fire the end late, never early")
	assert.Less(t, r.Seconds, 5.0)
}

func TestRunFailsWhenNothingIsIndexed(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Config{
		URLs: []string{"http://127.0.0.1:1"}, Index: "bench", Client: &http.Client{}, Corpus: testCorpus(t),
		Clients: 1, BulkDocs: 10, Duration: 200 * time.Millisecond,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no document was indexed")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Config{})
	require.Error(t, err)
	for _, want := range []string{"no target URL", "no HTTP client", "no documents", "clients", "bulk-docs", "duration", "index"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestItemFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		body              string
		throttled, failed int64
		err               bool
	}{
		{"fast path", `{"took":3,"errors":false,"items":[{"index":{"status":201}}]}`, 0, 0, false},
		{"spaces", `{"took": 3, "errors": false, "items": []}`, 0, 0, false},
		{"mixed", `{"took":3,"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{}}},` +
			`{"create":{"status":409}},{"index":{"status":400}}]}`, 1, 2, false},
		{"broken", `{"took":3,"errors":true,"items":[`, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			th, f, err := itemFailures([]byte(tc.body))
			assert.Equal(t, tc.err, err != nil)
			assert.Equal(t, tc.throttled, th)
			assert.Equal(t, tc.failed, f)
		})
	}
}

func TestCPUTimeAndLoadAvg(t *testing.T) {
	t.Parallel()
	a := CPUTime()
	x := 0
	for i := range 20_000_000 {
		x += i % 7
	}
	_ = x
	assert.Greater(t, CPUTime(), a)
	assert.GreaterOrEqual(t, LoadAvg(), 0.0)
	assert.False(t, strings.Contains(quote(`a"b`), `a"b`))
}
