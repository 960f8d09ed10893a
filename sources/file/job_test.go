package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// recordingTarget indexes records (remembering each) unless refuse says otherwise.
type recordingTarget struct {
	mu     sync.Mutex
	seen   map[string]int // key#offset → times indexed
	refuse func(*pipeline.Record) bool
}

func (t *recordingTarget) Add(_ context.Context, r *pipeline.Record) error {
	if t.refuse != nil && t.refuse(r) {
		r.Finish(pipeline.Result{Outcome: pipeline.Undelivered, Reason: "test"})
		return nil
	}
	t.mu.Lock()
	t.seen[fmt.Sprintf("%s#%d", r.Key, r.Offset)]++
	t.mu.Unlock()
	r.Finish(pipeline.Result{Outcome: pipeline.Indexed})
	return nil
}

type memDLQ struct {
	mu      sync.Mutex
	letters []pipeline.DeadLetter
}

func (m *memDLQ) WriteDeadLetters(_ context.Context, l []pipeline.DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.letters = append(m.letters, l...)
	return nil
}

func newTestPipeline(t *testing.T, tgt pipeline.Target, dlq pipeline.DeadLetterSink) *pipeline.Pipeline {
	t.Helper()
	cfg := pipeline.DefaultConfig()
	cfg.Workers = 2
	cfg.QueueBytes = 1 << 20
	p, err := pipeline.New(cfg, tgt, dlq, pipeline.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func writeFile(t *testing.T, path string, content []byte, gz bool) {
	t.Helper()
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(content)
		require.NoError(t, zw.Close())
		content = b.Bytes()
	}
	require.NoError(t, os.WriteFile(path, content, 0o600))
}

func ndjsonDocs(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("p", 100))
	}
	return b.Bytes()
}

func runJob(t *testing.T, j *Job, inputs []Input) {
	t.Helper()
	j.Read(context.Background(), inputs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, j.Wait(ctx))
	require.NoError(t, j.Close())
}

// TestJobReadsEveryDocumentOnce: files (plain, gzip, a JSON array), a glob and stdin each
// land once per document; a bad line is dead-lettered by the pipeline.
func TestJobReadsEveryDocumentOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.ndjson"), ndjsonDocs(3000), false)
	writeFile(t, filepath.Join(dir, "b.ndjson.gz"), append(ndjsonDocs(2000), "{broken\n"...), true)
	writeFile(t, filepath.Join(dir, "c.json"), []byte(`[{"x":1},{"x":2},{"x":3}]`), false)
	inputs, err := Expand(context.Background(), []string{filepath.Join(dir, "*.ndjson*"), filepath.Join(dir, "c.json"), "-"}, nil)
	require.NoError(t, err)
	require.Len(t, inputs, 4)

	tgt := &recordingTarget{seen: map[string]int{}}
	dlq := &memDLQ{}
	p := newTestPipeline(t, tgt, dlq)
	j, err := NewJob(Config{ChunkBytes: 64 << 10, Parallel: 2, CheckpointPath: filepath.Join(dir, "cp.json")}, p, dlq,
		WithStdin(bytes.NewReader(ndjsonDocs(500))), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	runJob(t, j, inputs)

	s := j.Stats()
	assert.EqualValues(t, 3000+2001+3+500, s.Documents)
	assert.EqualValues(t, 3000+2000+3+500, s.Indexed)
	assert.EqualValues(t, 1, s.DeadLettered)
	assert.Zero(t, s.Undelivered)
	assert.EqualValues(t, 4, s.InputsDone)
	assert.Len(t, tgt.seen, 3000+2000+3+500)
	for k, n := range tgt.seen {
		require.Equal(t, 1, n, k)
	}
	require.Len(t, dlq.letters, 1)
	assert.Equal(t, "invalid_json", dlq.letters[0].Reason)
	assert.EqualValues(t, 2001, dlq.letters[0].Offset, "line number in the file")
	assert.True(t, strings.HasSuffix(dlq.letters[0].Key, "b.ndjson.gz"))

	cp, err := LoadCheckpoint(filepath.Join(dir, "cp.json"))
	require.NoError(t, err)
	assert.Len(t, cp.Done, 3, "stdin is not checkpointed")
	assert.Empty(t, cp.Partial)
}

// TestJobResumesFromCheckpoint: a first run delivers part of a file (the rest comes back
// undelivered); the second run skips the finished file, resumes the other from the
// checkpoint's offset and line, and between them every document is indexed.
func TestJobResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "done.ndjson"), ndjsonDocs(100), false)
			big := filepath.Join(dir, "big.ndjson")
			writeFile(t, big, ndjsonDocs(5000), gz)
			cpPath := filepath.Join(dir, "cp.json")
			inputs, err := Expand(context.Background(), []string{filepath.Join(dir, "done.ndjson"), big}, nil)
			require.NoError(t, err)

			// First run: everything after line 3000 of big is refused.
			first := &recordingTarget{seen: map[string]int{}, refuse: func(r *pipeline.Record) bool {
				return strings.HasSuffix(r.Key, "big.ndjson") && r.Offset > 3000
			}}
			dlq := &memDLQ{}
			j, err := NewJob(Config{ChunkBytes: 32 << 10, Parallel: 1, CheckpointPath: cpPath}, newTestPipeline(t, first, dlq), dlq,
				WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(t, err)
			runJob(t, j, inputs)
			s1 := j.Stats()
			assert.Positive(t, s1.Undelivered)
			assert.EqualValues(t, 1, s1.InputsDone)

			cp, err := LoadCheckpoint(cpPath)
			require.NoError(t, err)
			require.Contains(t, cp.Partial, inputs[1].Name)
			part := cp.Partial[inputs[1].Name]
			assert.LessOrEqual(t, part.Line, int64(3000))
			assert.Greater(t, part.Line, int64(2000), "chunks are 32KiB: the checkpoint is close behind the failure")
			assert.Equal(t, gz, part.Gzip)

			second := &recordingTarget{seen: map[string]int{}}
			j2, err := NewJob(Config{ChunkBytes: 32 << 10, Parallel: 1, CheckpointPath: cpPath}, newTestPipeline(t, second, dlq), dlq,
				WithCheckpoint(cp), WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(t, err)
			runJob(t, j2, inputs)
			s2 := j2.Stats()
			assert.EqualValues(t, 1, s2.InputsSkipped)
			assert.EqualValues(t, 1, s2.InputsResumed)
			assert.EqualValues(t, 5000-part.Line, s2.Documents, "the re-run reads from the checkpoint on")
			assert.Zero(t, s2.Undelivered)
			for line := 1; line <= 5000; line++ {
				k := fmt.Sprintf("%s#%d", inputs[1].Name, line)
				require.Positive(t, first.seen[k]+second.seen[k], "line %d indexed", line)
			}
			cp, err = LoadCheckpoint(cpPath)
			require.NoError(t, err)
			assert.Len(t, cp.Done, 2)
			assert.Empty(t, cp.Partial)
		})
	}
}

func TestJobDeadLettersOversizedAndReportsBadGzip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := `{"big":"` + strings.Repeat("z", 400<<10) + `"}`
	writeFile(t, filepath.Join(dir, "a.ndjson"), []byte(`{"a":1}`+"\n"+huge+"\n"+`{"a":3}`+"\n"), false)
	writeFile(t, filepath.Join(dir, "bad.ndjson.gz"), []byte(`{"not":"gzip"}`), false)
	inputs, err := Expand(context.Background(), []string{dir}, nil)
	require.NoError(t, err)
	require.Len(t, inputs, 2)
	tgt := &recordingTarget{seen: map[string]int{}}
	dlq := &memDLQ{}
	j, err := NewJob(Config{}, newTestPipeline(t, tgt, dlq), dlq, WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	runJob(t, j, inputs)
	s := j.Stats()
	assert.EqualValues(t, 3, s.Documents)
	assert.EqualValues(t, 2, s.Indexed)
	assert.EqualValues(t, 1, s.TooLarge)
	require.Len(t, dlq.letters, 1)
	assert.Equal(t, ReasonTooLarge, dlq.letters[0].Reason)
	assert.EqualValues(t, 2, dlq.letters[0].Offset)
	f := j.Failures()
	require.Len(t, f, 1)
	assert.Contains(t, f[0].Error, "invalid gzip")
}

func TestCheckpointRoundTripAndAtomicWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "cp.json")
	cp, err := LoadCheckpoint(path)
	require.NoError(t, err, "a missing checkpoint is an empty one")
	assert.Empty(t, cp.Done)

	mtime := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	local := Input{Name: "/data/a.ndjson", Path: "/data/a.ndjson", Size: 10, ModTime: mtime}
	obj := Input{Name: "s3://b/k.gz", Bucket: "b", Key: "k.gz", Size: 20, ETag: "abc"}
	cp.Done[local.Name] = Entry{Size: 10, ModTime: mtime, Documents: 3}
	cp.Partial[obj.Name] = Partial{Size: 20, ETag: "abc", Offset: 4096, Line: 77, Format: Records, Gzip: true}
	require.NoError(t, cp.Save(path))

	got, err := LoadCheckpoint(path)
	require.NoError(t, err)
	assert.Equal(t, cp.Done, got.Done)
	assert.Equal(t, cp.Partial, got.Partial)
	assert.True(t, got.Finished(local))
	p, ok := got.Resume(obj)
	require.True(t, ok)
	assert.Equal(t, Position{Format: Records, Offset: 4096, Line: 77}, Position{Format: p.Format, Offset: p.Offset, Line: p.Line})

	changed := local
	changed.ModTime = mtime.Add(time.Second)
	assert.False(t, got.Finished(changed), "a changed file is read again")
	replaced := obj
	replaced.ETag = "def"
	_, ok = got.Resume(replaced)
	assert.False(t, ok, "a replaced object starts over")

	// Atomic: only the checkpoint is left in the directory, no temporary file, and a
	// reader never sees a torn file while saves go on.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cp.Partial[obj.Name] = Partial{Size: 20, ETag: "abc", Offset: int64(i), Line: int64(i)}
			assert.NoError(t, cp.Save(path))
		}
	}()
	for range 200 {
		_, err := LoadCheckpoint(path)
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "cp.json", entries[0].Name())

	require.NoError(t, os.WriteFile(path, []byte(`{"version":99}`), 0o600))
	_, err = LoadCheckpoint(path)
	assert.ErrorContains(t, err, "version 99")
}

func TestDecodeDetectsGzipByMagicBytes(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"a":1}` + "\n"))
	_ = zw.Close()
	for _, tc := range []struct {
		name, data string
		gzip       bool
		err        string
	}{
		{"x.ndjson", `{"a":1}`, false, ""},
		{"x.ndjson", gz.String(), true, ""}, // no .gz, Content-Encoding stripped: still gzip
		{"x.ndjson.gz", gz.String(), true, ""},
		{"x.ndjson.gz", `{"a":1}`, false, "invalid gzip"},
		{"empty.gz", "", false, "invalid gzip"},
	} {
		r, isGz, err := decode(strings.NewReader(tc.data), tc.name)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.gzip, isGz)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, `{"a":1}`, strings.TrimSpace(string(b)))
	}
}
