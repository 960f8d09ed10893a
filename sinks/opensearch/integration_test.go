package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
)

// throttledNode returns the URL of the second node, whose write queue holds one task so
// that real 429s happen, or skips.
func throttledNode(t *testing.T) string {
	t.Helper()
	u := os.Getenv("WEIR_TEST_OPENSEARCH_THROTTLED")
	if u == "" {
		t.Skip("integration test: WEIR_TEST_OPENSEARCH_THROTTLED is not set; start a node with a one-slot write queue " +
			"(WEIR_OS_PORT=19201 WEIR_OS_WRITE_QUEUE=1 scripts/opensearch.sh start) and export its URL")
	}
	return u
}

var indexNameUnsafe = regexp.MustCompile(`[^a-z0-9_-]+`)

// testIndex creates a fresh index named after the test (body may give settings and
// mappings) and deletes it when the test ends.
func testIndex(t *testing.T, node, body string) string {
	t.Helper()
	name := fmt.Sprintf("weir-%s-%06d", strings.Trim(indexNameUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-"), rand.IntN(1e6))
	if body == "" {
		body = `{"settings":{"number_of_replicas":0}}`
	}
	nodeCall(t, node, http.MethodPut, "/"+name, body, nil)
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, node+"/"+name, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			_ = res.Body.Close()
		}
	})
	return name
}

func nodeCall(t *testing.T, node, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, node+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Less(t, res.StatusCode, 300, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out))
	}
}

func count(t *testing.T, node, index string) int {
	t.Helper()
	nodeCall(t, node, http.MethodPost, "/"+index+"/_refresh", "", nil)
	var c struct{ Count int }
	nodeCall(t, node, http.MethodGet, "/"+index+"/_count", "", &c)
	return c.Count
}

func drain(t *testing.T, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
}

func TestIntegrationTenThousandIndexedOnce(t *testing.T) {
	t.Parallel()
	node := testenv.OpenSearch(t)
	index := testIndex(t, node, "")
	const n = 10_000
	h := newHarness(t, node, n, func(c *Config) { c.FlushDocuments = 500; c.RequestTimeout = time.Minute })
	recs := make([]*pipeline.Record, n)
	for i := range recs {
		// Position ids, as a source would ask for: a request retried after a timeout (this
		// machine is shared and busy) overwrites instead of duplicating.
		recs[i] = &pipeline.Record{Doc: fmt.Appendf(nil, `{"n":%d,"msg":"hello %d"}`, i, i), Index: index,
			PositionID: true, Source: "it", Key: "m", Offset: int64(i)}
	}
	h.add(t, recs...)
	drain(t, h.sink)
	h.out.wait(t, time.Second)
	assert.Equal(t, n, h.out.count(pipeline.Indexed))
	assert.Equal(t, n, count(t, node, index))
	assert.Equal(t, float64(n), testutil.ToFloat64(h.sink.m.indexed))
}

func TestIntegrationMappingConflictDeadLettered(t *testing.T) {
	t.Parallel()
	node := testenv.OpenSearch(t)
	index := testIndex(t, node, `{"settings":{"number_of_replicas":0},"mappings":{"properties":{"n":{"type":"long"}}}}`)
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	dcfg := deadletter.DefaultConfig()
	dcfg.Path = path
	dlq, err := deadletter.NewFile(dcfg, deadletter.WithLogger(quiet))
	require.NoError(t, err)
	defer dlq.Shutdown(context.Background())

	cfg := DefaultConfig()
	cfg.URLs = []string{node}
	s, err := New(cfg, WithDeadLetter(dlq), WithLogger(quiet))
	require.NoError(t, err)
	out := newOutcomes(5)
	s.finish = out.finish
	require.NoError(t, s.Start(context.Background()))
	recs := make([]*pipeline.Record, 5)
	for i := range recs {
		recs[i] = &pipeline.Record{Doc: fmt.Appendf(nil, `{"n":%d}`, i), Index: index, PositionID: true, Source: "it", Key: "batch", Offset: int64(i)}
	}
	recs[2].Doc = []byte(`{"n":"not a number"}`)
	for _, r := range recs {
		require.NoError(t, s.Add(context.Background(), r))
	}
	drain(t, s)
	out.wait(t, time.Second)
	for i, r := range recs {
		if i == 2 {
			continue
		}
		assert.Equal(t, pipeline.Indexed, out.of(r).Outcome, "record %d", i)
	}
	res := out.of(recs[2])
	assert.Equal(t, pipeline.DeadLettered, res.Outcome)
	assert.Contains(t, []string{"mapper_parsing_exception", "document_parsing_exception"}, res.Reason)
	assert.Equal(t, 400, res.Status)
	assert.Contains(t, res.Error, "failed to parse field [n]")
	assert.Equal(t, 4, count(t, node, index))

	var entries []deadletter.Entry
	require.NoError(t, deadletter.Read(path, func(e deadletter.Entry) error { entries = append(entries, e); return nil }))
	require.Len(t, entries, 1)
	assert.Equal(t, res.Reason, entries[0].Reason)
	assert.Equal(t, PositionID("it", "batch", 2), entries[0].ID)
	assert.Equal(t, index, entries[0].Index)
	doc, err := entries[0].Document()
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":"not a number"}`, string(doc))
}

func TestIntegrationThrottledNode(t *testing.T) {
	t.Parallel()
	node := throttledNode(t)
	index := testIndex(t, node, `{"settings":{"number_of_replicas":0,"number_of_shards":4}}`)
	const n = 3_000
	reg := prometheus.NewRegistry()
	h := newHarness(t, node, n, func(c *Config) {
		c.MaxInFlight = 8
		c.FlushDocuments = 50
		c.RequestTimeout = time.Minute
		c.Retry = RetryConfig{MaxAttempts: 200, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	}, WithRegisterer(reg), WithClock(pipeline.RealClock{}))
	recs := make([]*pipeline.Record, n)
	for i := range recs {
		recs[i] = &pipeline.Record{Doc: fmt.Appendf(nil, `{"n":%d}`, i), Index: index, ID: fmt.Appendf(nil, "doc-%d", i)}
	}
	h.add(t, recs...)
	drain(t, h.sink)
	h.out.wait(t, time.Second)
	assert.Equal(t, n, h.out.count(pipeline.Indexed))
	assert.Empty(t, h.dlq.all())
	assert.Equal(t, n, count(t, node, index))

	retried := testutil.ToFloat64(h.sink.m.retried.WithLabelValues("rejected_execution_exception")) +
		testutil.ToFloat64(h.sink.m.retried.WithLabelValues("es_rejected_execution_exception"))
	assert.Positive(t, retried, "the one-slot write queue refused items with 429")
	t.Logf("retried by reason: %v; 2xx requests: %v", retriedByReason(t, reg), testutil.ToFloat64(h.sink.m.requests.WithLabelValues("2xx")))
}

func retriedByReason(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "weir_documents_retried_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}
