package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/measure"
)

func TestRecordKeepsTablesAboveTheMarker(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	require.NoError(t, os.WriteFile(path, []byte("# R\n\nintro\n"+resultsMarker+"\n\n## Later section\n"), 0o644))
	require.NoError(t, record(path, "### one\n"))
	require.NoError(t, record(path, "### two\n"))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := string(b)
	assert.Less(t, strings.Index(s, "### one"), strings.Index(s, "### two"))
	assert.Less(t, strings.Index(s, "### two"), strings.Index(s, resultsMarker))
	assert.True(t, strings.HasSuffix(s, "## Later section\n"))

	plain := filepath.Join(t.TempDir(), "plain.md")
	require.NoError(t, os.WriteFile(plain, []byte("# R\n"), 0o644))
	require.NoError(t, record(plain, "### t\n"))
	b, _ = os.ReadFile(plain)
	assert.Equal(t, "# R\n\n### t\n", string(b))
}

func TestMarkdownJudgesTargets(t *testing.T) {
	t.Parallel()
	rows := []row{
		{Scenario: "ceiling", DocsPerSec: measure.Summary{Median: 1_000_000}},
		{Scenario: "benthos", DocsPerSec: measure.Summary{Median: 30_000}, CPUPerM: 45},
		{Scenario: "weir", DocsPerSec: measure.Summary{Median: 450_000}, CPUPerM: 2.5, PeakRSS: 90 << 20, RSS: []int64{80 << 20, 90 << 20, 85 << 20}},
		{Scenario: "weir-sigv4", DocsPerSec: measure.Summary{Median: 400_000}, CPUPerM: 3},
	}
	md := markdown(options{conns: 8, perRequest: 500, warmup: time.Second, duration: time.Second, flushDocs: 500, command: "x"}, rows)
	assert.Contains(t, md, "| weir | 450,000")
	assert.Contains(t, md, "| 45% |")
	assert.Contains(t, md, "| 80 / 85 / 90 |")
	assert.Contains(t, md, "15.0× (target ≥ 10×: met)")
	assert.Contains(t, md, "18.0× (target ≥ 15×: met)")
	assert.Contains(t, md, "45% (target ≥ 40%: met)")
	assert.Contains(t, md, "90 MiB (target < 100 MiB: met)")
	assert.Contains(t, md, "-11.1% docs/s")
	assert.Contains(t, md, "**missed**", "SigV4 is 11% slower")
	assert.Equal(t, "1,234,568", thousands(1234567.8))
	assert.Equal(t, "-1,000", thousands(-1000))
}

func TestConfigs(t *testing.T) {
	t.Parallel()
	b := benthosConfig("127.0.0.1:1", "127.0.0.1:2", "http://127.0.0.1:3", 500)
	for _, want := range []string{"http_server:", "format: lines", "opensearch:", "count: 500", "max_in_flight: 4", "period: 1s"} {
		assert.Contains(t, b, want)
	}
	w := weirConfig("127.0.0.1:1", "127.0.0.1:2", "http://127.0.0.1:3", "/tmp/dl", 500, true)
	for _, want := range []string{"mode: async", "flush_documents: 500", "sigv4: {enabled: true, service: es}", "endpoint_url: http://127.0.0.1:3", "provider: static"} {
		assert.Contains(t, w, want)
	}
	assert.NotContains(t, weirConfig("a", "b", "c", "d", 500, false), "sigv4")
}
