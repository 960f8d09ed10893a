package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline/docscan"
)

type gotDoc struct {
	doc    string
	offset int64
}

// readAll reads content from pos to the end and returns documents, oversized offsets and
// every chunk's end.
func readAll(t *testing.T, r io.Reader, opts ReaderOptions, pos Position) (docs []gotDoc, big []int64, ends []Position, format Format) {
	t.Helper()
	rd, err := NewReader(r, opts, pos)
	require.NoError(t, err)
	for {
		c, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return docs, big, ends, rd.Format()
		}
		require.NoError(t, err)
		require.True(t, len(c.Docs) > 0 || len(c.Oversized) > 0, "no empty chunks")
		for _, s := range c.Docs {
			docs = append(docs, gotDoc{string(c.Buf[s.Start:s.End]), s.Offset})
		}
		for _, o := range c.Oversized {
			big = append(big, o.Offset)
		}
		ends = append(ends, c.End)
	}
}

// expected frames content the way the HTTP source does (docscan), the reference.
func expected(t *testing.T, content string) ([]gotDoc, Format) {
	t.Helper()
	var out []gotDoc
	trimmed := strings.TrimLeft(content, " \n\r\t")
	switch {
	case strings.HasPrefix(trimmed, "["):
		require.NoError(t, docscan.SplitArray([]byte(content), func(i int, e []byte) error {
			out = append(out, gotDoc{string(e), int64(i)})
			return nil
		}))
		return out, Array
	case strings.HasPrefix(trimmed, `{"Records"`):
		body := strings.TrimSuffix(strings.TrimSpace(trimmed[len(`{"Records":`):]), "}")
		require.NoError(t, docscan.SplitArray([]byte(body), func(i int, e []byte) error {
			out = append(out, gotDoc{string(e), int64(i)})
			return nil
		}))
		return out, Records
	}
	require.NoError(t, docscan.Lines([]byte(content), func(no int, l []byte) error {
		out = append(out, gotDoc{string(bytes.TrimSpace(l)), int64(no)})
		return nil
	}))
	return out, NDJSON
}

func sampleNDJSON(n int) string {
	var b strings.Builder
	for i := range n {
		if i%7 == 3 {
			b.WriteString("\n  \r\n") // blank lines count in the numbering
		}
		fmt.Fprintf(&b, `{"n":%d,"s":"%s"}`, i, strings.Repeat("x", i%50))
		if i%5 == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func sampleArray(n int, records bool) string {
	var b strings.Builder
	if records {
		b.WriteString(`{"Records":[`)
	} else {
		b.WriteString(" [\n")
	}
	for i := range n {
		if i > 0 {
			b.WriteString(",\n ")
		}
		fmt.Fprintf(&b, `{"n":%d,"s":"a,]}\"%s","nested":{"a":[1,{"b":"]"}]}}`, i, strings.Repeat("y", i%40))
	}
	b.WriteString("]")
	if records {
		b.WriteString("}")
	}
	b.WriteString("\n")
	return b.String()
}

func TestReaderFramesLikeDocscan(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"ndjson":           sampleNDJSON(500),
		"ndjson-no-eol":    strings.TrimSuffix(sampleNDJSON(50), "\n"),
		"array":            sampleArray(400, false),
		"records":          sampleArray(300, true),
		"empty-array":      "[ ]",
		"array-of-scalars": `[1, "two", true, {"x":3}]`,
	}
	for name, content := range inputs {
		want, wantFormat := expected(t, content)
		for _, chunk := range []int{1, 200, 4096, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", name, chunk), func(t *testing.T) {
				t.Parallel()
				opts := ReaderOptions{ChunkBytes: chunk, MaxDoc: 1 << 20}
				docs, big, ends, f := readAll(t, iotest.HalfReader(strings.NewReader(content)), opts, Position{})
				assert.Equal(t, wantFormat, f)
				assert.Empty(t, big)
				assert.Equal(t, want, docs)
				if len(ends) > 0 {
					if wantFormat == Records {
						assert.LessOrEqual(t, ends[len(ends)-1].Offset, int64(len(content)))
					} else {
						assert.Equal(t, int64(len(content)), ends[len(ends)-1].Offset)
					}
				}
			})
		}
	}
}

// TestReaderResumesFromEveryChunkEnd: reading again from any chunk's end position yields
// exactly the documents after it, with the same offsets.
func TestReaderResumesFromEveryChunkEnd(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{"ndjson": sampleNDJSON(300), "array": sampleArray(200, false), "records": sampleArray(200, true)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := ReaderOptions{ChunkBytes: 700, MaxDoc: 1 << 20}
			all, _, ends, _ := readAll(t, strings.NewReader(content), opts, Position{})
			require.Greater(t, len(ends), 5)
			seen := 0
			for k, end := range ends[:len(ends)-1] {
				// Documents up to and including chunk k.
				before := 0
				for _, d := range all {
					if (end.Format == NDJSON && d.offset <= end.Line) || (end.Format != NDJSON && d.offset < end.Line) {
						before++
					}
				}
				require.Greater(t, before, seen, "chunk %d", k)
				seen = before
				rest, _, _, _ := readAll(t, strings.NewReader(content[end.Offset:]), opts, end)
				assert.Equal(t, all[before:], rest, "resumed at chunk %d end %+v", k, end)
			}
		})
	}
}

func TestReaderSkipsOversizedDocuments(t *testing.T) {
	t.Parallel()
	huge := `{"big":"` + strings.Repeat("z", 10_000) + `"}`
	cases := map[string]struct {
		content string
		docs    []int64
		big     []int64
	}{
		"ndjson": {`{"a":1}` + "\n" + huge + "\n" + `{"a":3}` + "\n" + huge, []int64{1, 3}, []int64{2, 4}},
		"array":  {`[{"a":1},` + huge + `,{"a":3},` + huge + `]`, []int64{0, 2}, []int64{1, 3}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			docs, big, _, _ := readAll(t, iotest.HalfReader(strings.NewReader(tc.content)), ReaderOptions{ChunkBytes: 256, MaxDoc: 1000}, Position{})
			var offs []int64
			for _, d := range docs {
				offs = append(offs, d.offset)
				assert.Less(t, len(d.doc), 1000)
			}
			assert.Equal(t, tc.docs, offs)
			assert.Equal(t, tc.big, big)
		})
	}
}

func TestReaderChunksStayWithinBudget(t *testing.T) {
	t.Parallel()
	content := sampleNDJSON(5000)
	rd, err := NewReader(strings.NewReader(content), ReaderOptions{ChunkBytes: 4096, MaxDoc: 1 << 20}, Position{})
	require.NoError(t, err)
	chunks := 0
	for {
		c, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		chunks++
		cost := 0
		for _, s := range c.Docs {
			cost += s.End - s.Start + recordOverhead
		}
		assert.LessOrEqual(t, cost, 4096)
		assert.LessOrEqual(t, c.Weight, int64(2*4096), "the buffer, carried bytes included")
	}
	assert.Greater(t, chunks, 30)
}

// TestReaderPinsOffsetsAndEnds pins what makes the position ids and the checkpoint: each
// document's offset and each chunk's end, in every format.
func TestReaderPinsOffsetsAndEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, content string
		format        Format
		docs          []gotDoc
		ends          []Position
	}{
		{
			name:    "ndjson",
			content: "\r\n{\"a\":1}\r\n\r\n  {\"a\":22}  \n{\"a\":333}",
			format:  NDJSON,
			docs:    []gotDoc{{`{"a":1}`, 2}, {`{"a":22}`, 4}, {`{"a":333}`, 5}},
			// The last line, without a newline, goes with the chunk that reaches the end.
			ends: []Position{{NDJSON, 11, 2}, {NDJSON, 35, 5}},
		},
		{
			name:    "array",
			content: ` [ {"a":1} , 22, "x]" ]  `,
			format:  Array,
			docs:    []gotDoc{{`{"a":1}`, 0}, {`22`, 1}, {`"x]"`, 2}},
			ends:    []Position{{Array, 10, 1}, {Array, 15, 2}, {Array, 25, 3}},
		},
		{
			name:    "records",
			content: `{"Records":[{"a":1},{"a":[22]}],"Next":[{"no":1}]}`,
			format:  Records,
			docs:    []gotDoc{{`{"a":1}`, 0}, {`{"a":[22]}`, 1}},
			ends:    []Position{{Records, 19, 1}, {Records, 50, 2}},
		},
		{
			// A stray '}' is part of a malformed element (the pipeline refuses it).
			name:    "stray brace",
			content: `[{"a":1}},{"b":2}]`,
			format:  Array,
			docs:    []gotDoc{{`{"a":1}`, 0}, {`}`, 1}, {`{"b":2}`, 2}},
			ends:    []Position{{Array, 8, 1}, {Array, 9, 2}, {Array, 18, 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A budget of one document a chunk.
			docs, big, ends, f := readAll(t, strings.NewReader(tc.content), ReaderOptions{ChunkBytes: recordOverhead + 12, MaxDoc: 1 << 20}, Position{})
			assert.Equal(t, tc.format, f)
			assert.Empty(t, big)
			assert.Equal(t, tc.docs, docs)
			assert.Equal(t, tc.ends, ends)
		})
	}
}

// FuzzReader: reading any input in tiny chunks, with or without a size hint, gives exactly
// the documents and offsets that reading it whole does (NDJSON lines as docscan.Lines sees
// them), and never panics or loops.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"{\"a\":1}\n{\"b\":2}", `[{"a":"]"},2,"x\"]"]`, `{"Records":[{"a":1},{"b":[2]}]}`, "\n\n{}\r\n", `[{"a":`,
		`[{"a":1}},{"b":2}]`, `[}]`, `[1}, 2]`,
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, body []byte, chunk uint8) {
		read := func(size, hint int) ([]string, Format, error) {
			rd, err := NewReader(bytes.NewReader(body), ReaderOptions{ChunkBytes: size, MaxDoc: 1 << 20, SizeHint: hint}, Position{})
			if err != nil {
				return nil, 0, err
			}
			var docs []string
			for {
				c, err := rd.Next()
				if errors.Is(err, io.EOF) {
					return docs, rd.Format(), nil
				}
				if err != nil {
					return nil, 0, err
				}
				if len(docs) > len(body) {
					return nil, 0, fmt.Errorf("more documents (%d) than bytes (%d)", len(docs), len(body))
				}
				for _, s := range c.Docs {
					docs = append(docs, fmt.Sprintf("%d:%s", s.Offset, c.Buf[s.Start:s.End]))
				}
			}
		}
		whole, format, err := read(1<<20, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, hint := range []int{0, int(chunk)} {
			small, _, err := read(int(chunk)+1, hint)
			if err != nil {
				t.Fatal(err)
			}
			if len(small) != len(whole) {
				t.Fatalf("chunked read (hint %d) gives %d documents, whole read %d:\n%q\n%q", hint, len(small), len(whole), small, whole)
			}
			for i := range small {
				if small[i] != whole[i] {
					t.Fatalf("document %d differs (hint %d): %q vs %q", i, hint, small[i], whole[i])
				}
			}
		}
		if format == NDJSON {
			var want []string
			_ = docscan.Lines(body, func(no int, line []byte) error {
				want = append(want, fmt.Sprintf("%d:%s", no, docscan.TrimSpace(line)))
				return nil
			})
			if fmt.Sprint(want) != fmt.Sprint(whole) {
				t.Fatalf("NDJSON: %q, docscan.Lines sees %q", whole, want)
			}
		}
	})
}
