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

// Rounds are judged pair by pair: a slow round's weir is compared with that round's ceiling,
// not with a fast round's.
func TestMarkdownJudgesRoundsPairwise(t *testing.T) {
	t.Parallel()
	run := func(round int, scenario string, median, cpuPerM float64, docs int64) row {
		return row{Scenario: scenario, Round: round, DocsPerSec: measure.Summary{Min: median / 2, Median: median, Max: median * 1.1},
			Docs: docs, CPUSeconds: cpuPerM * float64(docs) / 1e6, CPUPerM: cpuPerM, PeakRSS: 70 << 20}
	}
	runs := []row{
		run(1, "ceiling", 2_000_000, 0.5, 60_000_000), run(1, "weir", 960_000, 1.2, 28_000_000), run(1, "weir-sigv4", 700_000, 1.9, 21_000_000),
		run(2, "ceiling", 1_300_000, 0.6, 39_000_000), run(2, "weir", 680_000, 1.4, 20_000_000), run(2, "weir-sigv4", 650_000, 1.9, 19_000_000),
	}
	md := markdown(options{scenarios: []string{"ceiling", "weir", "weir-sigv4"}, rounds: 2, conns: 8, perRequest: 500, flushDocs: 500}, runs)
	assert.Contains(t, md, "| 1 | 2,000,000 | 960,000 | 700,000 |\n| 2 | 1,300,000 | 680,000 | 650,000 |\n")
	// Each round's ratio is listed, and their median judged.
	assert.Contains(t, md, "- weir ÷ ceiling, median of 2 rounds (48%, 52%): 50% (target ≥ 40%: met)")
	assert.Contains(t, md, "| weir | 820,000 (340,000–1,056,000) | 50% | 1.28 |")
	assert.Contains(t, md, "- SigV4 vs unsigned, median of 2 rounds (-27.1%, -4.4%): -15.7% docs/s, 1.90 vs 1.28 CPU-s/M (target within 10%: **missed**)")
	combined := combine(runs)
	require.Len(t, combined, 3)
	assert.Equal(t, int64(48_000_000), combined[1].Docs)
}
