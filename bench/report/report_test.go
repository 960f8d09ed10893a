package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/measure"
)

func sample() *Result {
	res := &Result{
		Format: FormatVersion, Tool: "weir bench", Version: "test",
		Started: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Target:  "http://127.0.0.1:19200", Auth: "none",
		Load: Load{Source: "generated", DocBytes: 1024, Fields: 12, Cardinality: 1000, Seed: 1,
			AvgDocBytes: 1024, Index: "weir-bench", Warmup: "10s", Duration: "1m0s"},
		Host: Host{CPUs: 2, GoVersion: "go1.26.8"},
	}
	for _, c := range []int{1, 2, 4} {
		for _, b := range []int{500, 1000} {
			r := Run{Clients: c, BulkDocs: b, Seconds: 60, Docs: int64(c*b) * 600, Bytes: int64(c*b) * 600 * 1060,
				DocsPerSec: measure.Summary{Min: float64(c * b * 9), Median: float64(c * b * 10), Max: float64(c * b * 11), Mean: float64(c * b * 10)},
				Latency:    Latency{P50: 10, P90: 20, P99: float64(30 * c), P999: 40 * float64(c), Max: 100, Mean: 12},
				Requests:   1000, Requests429: 10, Items: 1000 * int64(b), Items429: 5, ItemErrors: 1,
				CPUSeconds: 3, Intervals: []float64{1, 2, 3}}
			r.FillRates()
			res.Runs = append(res.Runs, r)
		}
	}
	return res
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	res := sample()
	path := filepath.Join(t.TempDir(), "results.json")
	require.NoError(t, WriteFile(path, res))
	back, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, res, back)
	assert.InDelta(t, 0.01, back.Runs[0].Request429Rate, 1e-9)
	assert.InDelta(t, 3.0/float64(back.Runs[0].Docs)*1e6, back.Runs[0].CPUSecondsPerMillion, 1e-3)
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not json":     "{",
		"other format": `{"format":99,"runs":[{}]}`,
		"no runs":      `{"format":1}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(strings.NewReader(in))
			assert.Error(t, err)
		})
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	old, new := sample(), sample()
	new.Runs[0].DocsPerSec.Median *= 1.25 // clients=1 bulk=500: 25% faster
	new.Runs[0].Latency.P99 /= 2
	new.Runs = append(new.Runs[:1], new.Runs[2:]...) // clients=1 bulk=1000 only in old
	new.Runs = append(new.Runs, Run{Clients: 8, BulkDocs: 500, DocsPerSec: measure.Summary{Median: 1}})
	changes := Compare(old, new)
	require.Len(t, changes, 7)
	assert.Equal(t, "clients=1 bulk=500", changes[0].Key)
	assert.InDelta(t, 0.25, changes[0].DocsChange(), 1e-9)
	assert.InDelta(t, -0.5, changes[0].P99Change(), 1e-9)
	assert.InDelta(t, 0, changes[1].DocsChange(), 1e-9)
	assert.True(t, changes[5].OnlyNew)
	assert.True(t, changes[6].OnlyOld)
	assert.Equal(t, "clients=1 bulk=1000", changes[6].Key)
	assert.True(t, math.IsNaN(Change{}.DocsChange()))

	var out bytes.Buffer
	require.NoError(t, WriteCompare(&out, old, new))
	s := out.String()
	assert.Contains(t, s, "+25.0%")
	assert.Contains(t, s, "-50.0%")
	assert.Contains(t, s, "new")
	assert.Contains(t, s, "gone")
	lines := strings.Split(strings.TrimSpace(s), "\n")
	assert.Len(t, lines, 3+7, "two header lines, the column names, one line per configuration")
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, WriteTable(&out, sample()))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2+6)
	assert.Contains(t, lines[1], "p99.9")
	assert.Contains(t, lines[2], "5000", "clients=1 bulk=500 median docs/s")
	assert.Contains(t, lines[2], "1%/0.001%", "429 rates of requests and items")
}

// wellFormed decodes the whole document with encoding/xml, which fails on anything that is
// not well-formed XML, and counts elements by name.
func wellFormed(t *testing.T, b []byte) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return counts
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
			if counts["svg"] == 1 && se.Name.Local == "svg" {
				assert.Equal(t, "http://www.w3.org/2000/svg", se.Name.Space)
			}
		}
	}
}

func TestWriteSVG(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		res       func() *Result
		polylines int
	}{
		{"sweep", sample, 4}, // two bulk sizes × two panels
		{"one run", func() *Result { r := sample(); r.Runs = r.Runs[:1]; return r }, 0},
		{"escaping", func() *Result {
			r := sample()
			r.Target = `http://a<b>&"c"/` + strings.Repeat("é", 200)
			return r
		}, 4},
		{"zeros", func() *Result {
			r := sample()
			for i := range r.Runs {
				r.Runs[i].DocsPerSec = measure.Summary{}
				r.Runs[i].Latency = Latency{}
			}
			return r
		}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			require.NoError(t, WriteSVG(&out, tc.res()))
			counts := wellFormed(t, out.Bytes())
			assert.Equal(t, 1, counts["svg"])
			assert.Equal(t, tc.polylines, counts["polyline"])
			assert.NotContains(t, out.String(), "<script")
			assert.NotContains(t, out.String(), "NaN")
		})
	}
}

func TestNiceCeilAndCompact(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{0: 1, 0.7: 1, 3: 5, 12: 20, 22: 25, 180000: 200000, 1000: 1000} {
		assert.InDelta(t, want, niceCeil(in), 1e-9, "niceCeil(%v)", in)
	}
	assert.Equal(t, "12.5k", compact(12500))
	assert.Equal(t, "1.5M", compact(1500000))
	assert.Equal(t, "0.25", compact(0.25))
	assert.Equal(t, "40", compact(40))
}
