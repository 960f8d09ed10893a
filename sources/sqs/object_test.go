package sqs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/sources/file"
)

// readAll runs an object reader to the end and returns each document with its offset, and
// the oversized ones.
func readAll(t testing.TB, r io.Reader, chunkBytes, maxDoc int) (docs []string, offs []int64, big []file.Oversized, err error) {
	dr, err := newObjectReader(r, chunkBytes, maxDoc, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	for {
		c, err := dr.Next()
		if errors.Is(err, io.EOF) {
			return docs, offs, big, nil
		}
		if err != nil {
			return docs, offs, big, err
		}
		require.True(t, len(c.Docs) > 0 || len(c.Oversized) > 0, "a chunk holds something")
		for _, sp := range c.Docs {
			docs = append(docs, string(c.Buf[sp.Start:sp.End]))
			offs = append(offs, sp.Offset)
		}
		big = append(big, c.Oversized...)
	}
}

// randomDoc is a JSON object whose strings hold what trips a naive splitter.
func randomDoc(r *rand.Rand, n int) string {
	tricky := []string{`]`, `[`, `{`, `}`, `,`, `\"`, `\\`, `\n`, ` `, `x`, `é`}
	var b strings.Builder
	for range r.IntN(20) {
		b.WriteString(tricky[r.IntN(len(tricky))])
	}
	return fmt.Sprintf(`{"n":%d,"s":"%s","a":[1,{"b":[]},"]"],"o":{"p":null}}`, n, b.String())
}

func TestObjectReaderFormatsAndChunks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var want []string
	for i := range 300 {
		want = append(want, randomDoc(r, i))
	}
	ndjson := strings.Join(want, "\n") + "\n"
	array := " [\n" + strings.Join(want, " ,\n") + "\n]\n"
	records := `{"Records": [` + strings.Join(want, ",") + `], "other": {"x": [1]}}`
	for _, tc := range []struct {
		name, body string
		firstOff   int64
	}{
		{"ndjson", ndjson, 1},
		{"ndjson no final newline", strings.TrimSuffix(ndjson, "\n"), 1},
		{"ndjson crlf and blanks", "\r\n" + strings.ReplaceAll(ndjson, "\n", "\r\n"), 2},
		{"array", array, 0},
		{"records", records, 0},
	} {
		for _, chunk := range []int{1, 97, 500, 4096, 1 << 20} {
			for _, gz := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%d/gzip=%v", tc.name, chunk, gz), func(t *testing.T) {
					t.Parallel()
					var src io.Reader = strings.NewReader(tc.body)
					key := "o.json"
					if gz {
						var b bytes.Buffer
						zw := gzip.NewWriter(&b)
						_, _ = zw.Write([]byte(tc.body))
						require.NoError(t, zw.Close())
						src = &b
						key = "o.json.gz"
					}
					// One byte at a time: every document straddles reads.
					or, err := openObject(iotest.OneByteReader(src), key)
					require.NoError(t, err)
					docs, offs, big, err := readAll(t, or, chunk, 1<<20)
					require.NoError(t, err)
					assert.Empty(t, big)
					require.Equal(t, want, docs)
					assert.Equal(t, tc.firstOff, offs[0])
					for i := 1; i < len(offs); i++ {
						assert.Greater(t, offs[i], offs[i-1])
					}
				})
			}
		}
	}
}

func TestObjectReaderChunksStayWithinBudget(t *testing.T) {
	t.Parallel()
	// 10,000 tiny documents: the records' overhead, not the bytes, fills a chunk.
	body := strings.Repeat("{}\n", 10_000)
	dr, err := newObjectReader(strings.NewReader(body), 64<<10, 1<<20, 0)
	require.NoError(t, err)
	total := 0
	for {
		c, err := dr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		cost := 0
		for _, sp := range c.Docs {
			cost += sp.End - sp.Start + recordOverhead
		}
		assert.LessOrEqual(t, cost, 64<<10)
		assert.LessOrEqual(t, len(c.Buf), 2*(64<<10), "a chunk's buffer stays within twice the budget")
		total += len(c.Docs)
	}
	assert.Equal(t, 10_000, total)
}

func TestObjectReaderSkipsOversizedDocuments(t *testing.T) {
	t.Parallel()
	huge := `{"big":"` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct {
		name, body string
		offs       []int64
		bigOff     int64
	}{
		{"ndjson", "{\"a\":1}\n" + huge + "\n{\"a\":3}\n", []int64{1, 3}, 2},
		{"ndjson last", "{\"a\":1}\n" + huge, []int64{1}, 2},
		{"array", `[{"a":1},` + huge + `,{"a":3}]`, []int64{0, 2}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docs, offs, big, err := readAll(t, strings.NewReader(tc.body), 256, 1000)
			require.NoError(t, err)
			assert.Len(t, docs, len(tc.offs))
			assert.Equal(t, tc.offs, offs)
			require.Len(t, big, 1)
			assert.Equal(t, tc.bigOff, big[0].Offset)
			assert.True(t, strings.HasPrefix(huge, string(big[0].Sample)))
			assert.GreaterOrEqual(t, big[0].Size, int64(1000))
		})
	}
}

func TestObjectReaderTruncatedArrayKeepsTheFragment(t *testing.T) {
	t.Parallel()
	docs, _, _, err := readAll(t, strings.NewReader(`[{"a":1},{"a":`), 64, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, []string{`{"a":1}`, `{"a":`}, docs, "the fragment goes on, to be dead-lettered as invalid JSON")
}

func TestObjectReaderScalarsAndStrings(t *testing.T) {
	t.Parallel()
	docs, offs, _, err := readAll(t, strings.NewReader(`[1, "a]b", true ,null,{"x":"}"}]`), 3, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, []string{`1`, `"a]b"`, `true`, `null`, `{"x":"}"}`}, docs)
	assert.Equal(t, []int64{0, 1, 2, 3, 4}, offs)
}

func TestOpenObjectGzipDetection(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("{\"a\":1}\n"))
	require.NoError(t, zw.Close())

	// By magic bytes, whatever the name.
	r, err := openObject(bytes.NewReader(gz.Bytes()), "no-extension")
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "{\"a\":1}\n", string(b))

	// A .gz name that is not gzip.
	_, err = openObject(strings.NewReader("{\"a\":1}\n"), "logs/x.GZ")
	assert.ErrorIs(t, err, errInvalidGzip)

	// Plain content without a .gz name.
	r, err = openObject(strings.NewReader("{\"a\":1}\n"), "x.json")
	require.NoError(t, err)
	b, _ = io.ReadAll(r)
	assert.Equal(t, "{\"a\":1}\n", string(b))

	// Corrupt gzip after a good header: a content error, not a transport one.
	bad := append([]byte(nil), gz.Bytes()...)
	for i := 12; i < len(bad)-8; i++ {
		bad[i] ^= 0xff
	}
	r, err = openObject(bytes.NewReader(bad), "x.gz")
	require.NoError(t, err)
	_, err = io.ReadAll(r)
	assert.ErrorIs(t, err, errInvalidGzip)

	// A failing network read is a transport error, through gzip too.
	r, err = openObject(io.MultiReader(bytes.NewReader(gz.Bytes()[:15]), iotest.ErrReader(errors.New("connection reset"))), "x.gz")
	if err == nil {
		_, err = io.ReadAll(r)
	}
	var te *transportError
	assert.ErrorAs(t, err, &te)
	assert.NotErrorIs(t, err, errInvalidGzip)
}
