package deadletter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

func newFile(t *testing.T, mut func(*Config), opts ...Option) (*File, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "dlq", "dead.ndjson")
	if mut != nil {
		mut(&cfg)
	}
	f, err := NewFile(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Shutdown(context.Background()) })
	return f, cfg.Path
}

func readAll(t *testing.T, path string) []Entry {
	t.Helper()
	var out []Entry
	require.NoError(t, Read(path, func(e Entry) error { out = append(out, e); return nil }))
	return out
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mut  func(*Config)
		want []string
	}{
		{name: "default", mut: func(*Config) {}},
		{name: "all wrong", mut: func(c *Config) { *c = Config{MaxFiles: -1} }, want: []string{"path: required", "max_bytes:", "max_files:"}},
		{name: "tiny max_bytes", mut: func(c *Config) { c.MaxBytes = 10 }, want: []string{"max_bytes: must be at least 4KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	f, path := newFile(t, nil, WithRegisterer(reg))
	require.NoError(t, f.Start(context.Background()))
	when := time.Date(2026, 5, 1, 12, 0, 0, 123, time.UTC)
	letters := []pipeline.DeadLetter{
		{Time: when, Source: "sqs", Key: "msg-1", Offset: 3, Index: "logs", ID: `a\"b`, Status: 400,
			Reason: "mapper_parsing_exception", Error: "failed to parse field [n]", Attempts: 1,
			Doc: []byte("{\n  \"n\": \"x<y>&\"\n}")},
		{Time: when, Source: "http", Offset: 0, Reason: "invalid_json", Error: "invalid JSON at byte 1", Doc: []byte(`{"broken`)},
		{Time: when, Source: "http", Reason: "novel_reason", Doc: []byte(`"just a string"`)},
		{Source: "kinesis", Reason: "retries_exhausted", Doc: nil},
	}
	require.NoError(t, f.WriteDeadLetters(context.Background(), letters))

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	require.Len(t, lines, 4, "one line per letter, even for a pretty-printed document")
	assert.Contains(t, lines[0], `"doc":{"n":"x<y>&"}`, "raw JSON, compacted, not HTML-escaped")
	assert.Contains(t, lines[0], `"id":"a\"b"`, "an escaped id is written as it is")
	assert.Contains(t, lines[1], `"doc":"{\"broken"`, "invalid JSON is stored as a string")

	got := readAll(t, path)
	require.Len(t, got, 4)
	e := got[0]
	assert.Equal(t, when, e.Time)
	assert.Equal(t, "sqs", e.Source)
	assert.Equal(t, "msg-1", e.Key)
	assert.EqualValues(t, 3, e.Offset)
	assert.Equal(t, "logs", e.Index)
	assert.Equal(t, `a"b`, e.ID)
	assert.Equal(t, 400, e.Status)
	assert.Equal(t, "mapper_parsing_exception", e.Reason)
	assert.Equal(t, "failed to parse field [n]", e.Error)
	assert.Equal(t, 1, e.Attempts)
	for i, want := range []string{`{"n":"x<y>&"}`, `{"broken`, `"just a string"`, ``} {
		doc, err := got[i].Document()
		require.NoError(t, err)
		assert.Equal(t, want, string(doc), "letter %d", i)
	}
	assert.False(t, got[3].Time.IsZero(), "a letter without a time gets the clock's")

	assert.Equal(t, 1.0, testutil.ToFloat64(f.m.vec.WithLabelValues("mapper_parsing_exception")))
	assert.Equal(t, 1.0, testutil.ToFloat64(f.m.vec.WithLabelValues("other")), "unknown reasons are bounded to other")
}

func TestRotation(t *testing.T) {
	t.Parallel()
	f, path := newFile(t, func(c *Config) { c.MaxBytes = 4 << 10; c.MaxFiles = 2 })
	doc := []byte(`{"pad":"` + strings.Repeat("x", 1500) + `"}`)
	for i := range 12 {
		require.NoError(t, f.WriteDeadLetters(context.Background(), []pipeline.DeadLetter{{Source: "t", Offset: int64(i), Reason: "r", Doc: doc}}))
	}
	var offsets []int64
	for _, p := range []string{path + ".2", path + ".1", path} {
		st, err := os.Stat(p)
		require.NoError(t, err, p)
		assert.LessOrEqual(t, st.Size(), int64(4<<10), p)
		for _, e := range readAll(t, p) {
			offsets = append(offsets, e.Offset)
		}
	}
	_, err := os.Stat(path + ".3")
	assert.ErrorIs(t, err, os.ErrNotExist, "only max_files rotated files are kept")
	// Two ~1.6KB letters fit in 4KiB: three files hold the six newest, oldest first.
	assert.Equal(t, []int64{6, 7, 8, 9, 10, 11}, offsets)
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	f, path := newFile(t, func(c *Config) { c.MaxBytes = 64 << 10; c.MaxFiles = 100 })
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				l := pipeline.DeadLetter{Source: fmt.Sprint("w", w), Offset: int64(i), Reason: "r", Doc: []byte(`{"a":"` + strings.Repeat("y", 300) + `"}`)}
				assert.NoError(t, f.WriteDeadLetters(context.Background(), []pipeline.DeadLetter{l, l}))
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	matches, err := filepath.Glob(path + "*")
	require.NoError(t, err)
	for _, p := range matches {
		for _, e := range readAll(t, p) {
			seen[fmt.Sprint(e.Source, "/", e.Offset)]++
		}
	}
	require.Len(t, seen, writers*each)
	for k, n := range seen {
		assert.Equal(t, 2, n, k)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	f, path := newFile(t, nil)
	ctx := context.Background()
	require.NoError(t, f.Shutdown(ctx), "shutdown without start")
	require.NoError(t, f.Shutdown(ctx), "shutdown twice")
	assert.ErrorIs(t, f.Start(ctx), ErrClosed)
	assert.ErrorIs(t, f.WriteDeadLetters(ctx, []pipeline.DeadLetter{{Reason: "r"}}), ErrClosed)
	_, err := os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing written, nothing created")

	g, _ := newFile(t, nil)
	require.NoError(t, g.Start(ctx))
	require.NoError(t, g.Start(ctx), "start twice")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, g.WriteDeadLetters(cctx, []pipeline.DeadLetter{{Reason: "r"}}), context.Canceled)
	require.NoError(t, g.Shutdown(ctx))

	_, err = NewFile(Config{})
	require.Error(t, err)
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "torn.ndjson")
	require.NoError(t, os.WriteFile(p, []byte(`{"source":"a","reason":"r","doc":{}}`+"\n"+`{"source":"b","rea`), 0o600))
	n := 0
	err := Read(p, func(Entry) error { n++; return nil })
	require.ErrorContains(t, err, "line 2")
	assert.Equal(t, 1, n)
	assert.Error(t, Read(filepath.Join(dir, "missing"), func(Entry) error { return nil }))
	stop := fmt.Errorf("stop")
	assert.ErrorIs(t, Read(p, func(Entry) error { return stop }), stop)
}
