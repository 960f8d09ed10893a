package file

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLister serves keys two per page.
type fakeLister struct{ keys map[string][]string }

func (f fakeLister) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	var match []string
	for _, k := range f.keys[aws.ToString(in.Bucket)] {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			match = append(match, k)
		}
	}
	start := 0
	if in.ContinuationToken != nil {
		fmt.Sscan(*in.ContinuationToken, &start)
	}
	out := &s3.ListObjectsV2Output{}
	for i := start; i < min(start+2, len(match)); i++ {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(match[i]), Size: aws.Int64(int64(10 * (i + 1))), ETag: aws.String(`"e` + match[i] + `"`)})
	}
	if start+2 < len(match) {
		out.IsTruncated = aws.Bool(true)
		out.NextContinuationToken = aws.String(fmt.Sprint(start + 2))
	}
	return out, nil
}

func TestExpand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"logs/a.ndjson.gz", "logs/b.ndjson.gz", "logs/c.json", "deep/x/y.ndjson"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(`{}`), 0o600))
	}
	lister := fakeLister{keys: map[string][]string{"bkt": {"2026/11/a.gz", "2026/11/b.gz", "2026/11/", "2026/11/c.json", "2026/12/d"}}}
	ctx := context.Background()

	got, err := Expand(ctx, []string{
		filepath.Join(dir, "logs/*.ndjson.gz"),
		filepath.Join(dir, "logs/a.ndjson.gz"), // already named by the glob
		filepath.Join(dir, "deep"),
		"-",
		"s3://bkt/2026/11/",
	}, lister)
	require.NoError(t, err)
	var names []string
	for _, in := range got {
		names = append(names, strings.TrimPrefix(in.Name, dir))
	}
	assert.Equal(t, []string{
		"/logs/a.ndjson.gz", "/logs/b.ndjson.gz", "/deep/x/y.ndjson", "-",
		"s3://bkt/2026/11/a.gz", "s3://bkt/2026/11/b.gz", "s3://bkt/2026/11/c.json",
	}, names, "folder markers are left out; pages are followed")
	assert.True(t, filepath.IsAbs(got[0].Path))
	assert.EqualValues(t, 2, got[0].Size)
	assert.False(t, got[0].ModTime.IsZero())
	assert.True(t, got[3].IsStdin())
	assert.False(t, got[3].Resumable())
	obj := got[4]
	assert.Equal(t, "bkt", obj.Bucket)
	assert.Equal(t, "2026/11/a.gz", obj.Key)
	assert.Equal(t, "e2026/11/a.gz", obj.ETag, "quotes stripped")
	assert.True(t, obj.Resumable())

	for _, bad := range []string{filepath.Join(dir, "nothing*.gz"), filepath.Join(dir, "missing.ndjson"), "s3://bkt/1999/", "s3:///x"} {
		_, err := Expand(ctx, []string{bad}, lister)
		assert.Error(t, err, bad)
	}
	_, err = Expand(ctx, []string{"s3://bkt/"}, nil)
	assert.ErrorContains(t, err, "no S3 client")
}

func TestParseS3URI(t *testing.T) {
	t.Parallel()
	for uri, want := range map[string][2]string{
		"s3://b":                   {"b", ""},
		"s3://b/":                  {"b", ""},
		"s3://b/logs/2026/":        {"b", "logs/2026/"},
		"s3://b/key with space.gz": {"b", "key with space.gz"},
	} {
		b, p, err := ParseS3URI(uri)
		require.NoError(t, err, uri)
		assert.Equal(t, want, [2]string{b, p}, uri)
	}
	for _, bad := range []string{"s3://", "http://b/k", "b/k"} {
		_, _, err := ParseS3URI(bad)
		assert.Error(t, err, bad)
	}
}

func TestProgressFormatting(t *testing.T) {
	t.Parallel()
	s := Snapshot{Documents: 1_234_567, Indexed: 1_234_000, DeadLettered: 567, Bytes: 250e6, TotalBytes: 1000e6, InputsDone: 3, InputsTotal: 12}
	assert.Equal(t, "backfill: 1,234,567 docs  250.0/1000.0 MB (25%)  12,345 docs/s  ETA 5m00s  567 dead-lettered  inputs 3/12  1m40s",
		FormatLine(s, 100*time.Second))
	s.TotalBytes = 0
	assert.Equal(t, "backfill: 1,234,567 docs  250.0 MB  12,345 docs/s  567 dead-lettered  inputs 3/12  1m40s", FormatLine(s, 100*time.Second))

	var line map[string]map[string]any
	require.NoError(t, json.Unmarshal(FormatJSON(Snapshot{Documents: 500, Bytes: 10, TotalBytes: 40}, 5*time.Second), &line))
	p := line["progress"]
	assert.EqualValues(t, 500, p["documents"])
	assert.EqualValues(t, 100, p["docs_per_second"])
	assert.EqualValues(t, 15, p["eta_seconds"])
	assert.EqualValues(t, 5, p["elapsed_seconds"])

	// The reporter redraws one line on a terminal, clock injected.
	var out strings.Builder
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	pr := NewProgress(&out, true, time.Hour, clock, func() Snapshot { return Snapshot{Documents: 42, InputsTotal: 1} })
	pr.Start()
	now = now.Add(2 * time.Second)
	pr.Stop()
	pr.Stop()
	assert.Equal(t, "\rbackfill: 42 docs  0.0 MB  21 docs/s  inputs 0/1  2.0s\x1b[K\n", out.String())
}

func TestProgressJSONLinesOffTerminal(t *testing.T) {
	t.Parallel()
	var out syncWriter
	pr := NewProgress(&out, false, 10*time.Millisecond, nil, func() Snapshot { return Snapshot{Documents: 1} })
	pr.Start()
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= 2 }, 5*time.Second, 5*time.Millisecond)
	pr.Stop()
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		assert.True(t, strings.HasPrefix(l, `{"progress":{`), l)
	}
}

func TestSummaryJSONAndText(t *testing.T) {
	t.Parallel()
	s := Summary{Status: "ok", Documents: 1000, Indexed: 998, DeadLettered: 2,
		DeadLetters: map[string]int64{"invalid_json": 1, "mapper_parsing_exception": 1},
		InputBytes:  5e6, Inputs: InputCounts{Total: 3, Done: 2, Skipped: 1}, Checkpoint: "cp.json"}
	s.SetDuration(4 * time.Second)
	line := s.JSONLine()
	assert.True(t, strings.HasSuffix(string(line), "}\n"))
	assert.Equal(t, 1, strings.Count(string(line), "\n"), "one line")
	var back map[string]Summary
	require.NoError(t, json.Unmarshal(line, &back))
	assert.Equal(t, s, back["summary"])
	assert.InDelta(t, 250, back["summary"].DocsPerSecond, 0.01)

	text := s.Text()
	assert.Contains(t, text, "backfill ok: 1,000 documents in 4.0s (250 docs/s), 5.0 MB read")
	assert.Contains(t, text, "indexed 998, dead-lettered 2, undelivered 0")
	assert.Contains(t, text, "invalid_json")
	assert.Contains(t, text, "1 skipped (finished earlier)")

	var empty map[string]map[string]any
	require.NoError(t, json.Unmarshal(Summary{Status: "ok"}.JSONLine(), &empty))
	assert.NotNil(t, empty["summary"]["dead_letters_by_reason"], "always an object, never null")
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
