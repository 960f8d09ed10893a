package sqs

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// capturePipeline keeps what is submitted, never finishing it.
type capturePipeline struct {
	mu       sync.Mutex
	recs     []pipeline.Record
	capacity int64
}

func (p *capturePipeline) Submit(_ context.Context, _ *pipeline.Ack, recs []pipeline.Record, _ int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, recs...)
	return nil
}
func (p *capturePipeline) Paused() (bool, string)            { return false, "" }
func (p *capturePipeline) WaitResumed(context.Context) error { return nil }
func (p *capturePipeline) Op() pipeline.Op                   { return pipeline.OpIndex }
func (p *capturePipeline) Capacity() int64                   { return p.capacity }

// lines is n NDJSON documents of about pad bytes each; line i (1-based) is lineDoc(i, pad).
func lines(n, pad int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(lineDoc(i, pad) + "\n")
	}
	return b.String()
}

func lineDoc(i, pad int) string {
	return fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("p", pad+i%37))
}

// pinnedLines is what lines(n, pad) gives, from line 1 to line last.
func pinnedLines(key string, last int64, pad int) []pinned {
	var out []pinned
	for i := int64(1); i <= last; i++ {
		out = append(out, pinned{key, i, lineDoc(int(i), pad)})
	}
	return out
}

func truncated(b []byte) []byte { return b[:len(b)/2] }

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	require.NoError(t, zw.Close())
	return b.Bytes()
}

type pinned struct {
	Key    string
	Offset int64
	Doc    string
}

type pinnedLetter struct {
	Key    string
	Offset int64
	Reason string
	Error  string
}

// TestReadObjectPinsKeysAndOffsets pins the Key and Offset of documents read from S3
// objects, in every format: they make the position ids, so a redelivered message must give
// the same ones. It pins the source's own dead letters for bad objects too.
func TestReadObjectPinsKeysAndOffsets(t *testing.T) {
	t.Parallel()
	huge := `{"big":"` + strings.Repeat("x", 3000) + `"}`
	for _, tc := range []struct {
		name     string
		obj      s3Object
		body     []byte
		capacity int64
		docs     []pinned
		letters  []pinnedLetter
	}{
		{
			name: "ndjson, blank lines and CRLF count",
			obj:  s3Object{Bucket: "bkt", Key: "logs/a b.ndjson", ETag: "e1"},
			body: []byte("\r\n{\"a\":1}\r\n\r\n  {\"a\":2}  \n{\"a\":3}"),
			docs: []pinned{
				{"s3://bkt/logs/a b.ndjson#e1", 2, `{"a":1}`},
				{"s3://bkt/logs/a b.ndjson#e1", 4, `{"a":2}`},
				{"s3://bkt/logs/a b.ndjson#e1", 5, `{"a":3}`},
			},
		},
		{
			name: "gzip ndjson without an etag",
			obj:  s3Object{Bucket: "bkt", Key: "x.ndjson.gz"},
			body: gzipped(t, "{\"a\":1}\n\n{\"a\":2}\n"),
			docs: []pinned{{"s3://bkt/x.ndjson.gz", 1, `{"a":1}`}, {"s3://bkt/x.ndjson.gz", 3, `{"a":2}`}},
		},
		{
			name: "array",
			obj:  s3Object{Bucket: "bkt", Key: "arr.json", ETag: "e2"},
			body: []byte(` [ {"a":1} , 2, "x]" ]`),
			docs: []pinned{{"s3://bkt/arr.json#e2", 0, `{"a":1}`}, {"s3://bkt/arr.json#e2", 1, `2`}, {"s3://bkt/arr.json#e2", 2, `"x]"`}},
		},
		{
			name: "records",
			obj:  s3Object{Bucket: "bkt", Key: "ct.json.gz", ETag: "e3"},
			body: gzipped(t, `{"Records":[{"a":1},{"a":[2]}],"Next":[{"no":1}]}`),
			docs: []pinned{{"s3://bkt/ct.json.gz#e3", 0, `{"a":1}`}, {"s3://bkt/ct.json.gz#e3", 1, `{"a":[2]}`}},
		},
		{
			name: "truncated array keeps the fragment",
			obj:  s3Object{Bucket: "bkt", Key: "t.json", ETag: "e4"},
			body: []byte(`[{"a":1},{"a":`),
			docs: []pinned{{"s3://bkt/t.json#e4", 0, `{"a":1}`}, {"s3://bkt/t.json#e4", 1, `{"a":`}},
		},
		{
			name: "a stray brace is an element of its own",
			obj:  s3Object{Bucket: "bkt", Key: "s.json", ETag: "e5"},
			body: []byte(`[{"a":1}},{"b":2}]`),
			docs: []pinned{{"s3://bkt/s.json#e5", 0, `{"a":1}`}, {"s3://bkt/s.json#e5", 1, `}`}, {"s3://bkt/s.json#e5", 2, `{"b":2}`}},
		},
		{
			name:     "oversized ndjson lines",
			obj:      s3Object{Bucket: "bkt", Key: "big.ndjson", ETag: "e6"},
			body:     []byte("{\"a\":1}\n" + huge + "\n{\"a\":3}\n" + huge),
			capacity: 4096,
			docs:     []pinned{{"s3://bkt/big.ndjson#e6", 1, `{"a":1}`}, {"s3://bkt/big.ndjson#e6", 3, `{"a":3}`}},
			letters: []pinnedLetter{
				{"s3://bkt/big.ndjson#e6", 2, reasonTooLarge, "document of 3010 bytes or more is larger than half the pipeline queue; its first 1024 bytes are kept (message m-1, ApproximateReceiveCount 1)"},
				{"s3://bkt/big.ndjson#e6", 4, reasonTooLarge, "document of 3010 bytes or more is larger than half the pipeline queue; its first 1024 bytes are kept (message m-1, ApproximateReceiveCount 1)"},
			},
		},
		{
			name:     "oversized array element",
			obj:      s3Object{Bucket: "bkt", Key: "big.json", ETag: "e7"},
			body:     []byte(`[{"a":1},` + huge + `,{"a":3}]`),
			capacity: 4096,
			docs:     []pinned{{"s3://bkt/big.json#e7", 0, `{"a":1}`}, {"s3://bkt/big.json#e7", 2, `{"a":3}`}},
			letters: []pinnedLetter{
				{"s3://bkt/big.json#e7", 1, reasonTooLarge, "document of 3010 bytes or more is larger than half the pipeline queue; its first 1024 bytes are kept (message m-1, ApproximateReceiveCount 1)"},
			},
		},
		{
			// Over maxDoc (1952 here) is too large even when the document fits in one
			// buffer. (Before the reader was shared with sources/file, such a document went
			// to the pipeline when it happened to fit.)
			name:     "just over the largest document",
			obj:      s3Object{Bucket: "bkt", Key: "over.ndjson", ETag: "e12"},
			body:     []byte(`{"x":"` + strings.Repeat("a", 1960-8) + `"}` + "\n{\"a\":2}\n"),
			capacity: 4096,
			docs:     []pinned{{"s3://bkt/over.ndjson#e12", 2, `{"a":2}`}},
			letters: []pinnedLetter{
				{"s3://bkt/over.ndjson#e12", 1, reasonTooLarge, "document of 1960 bytes or more is larger than half the pipeline queue; its first 1024 bytes are kept (message m-1, ApproximateReceiveCount 1)"},
			},
		},
		{
			name: "named .gz but not gzip",
			obj:  s3Object{Bucket: "bkt", Key: "n.ndjson.gz", ETag: "e8"},
			body: []byte("{\"a\":1}\n"),
			letters: []pinnedLetter{
				{"s3://bkt/n.ndjson.gz#e8", 0, reasonInvalidGzip, "invalid gzip: the object is named .gz but does not start with gzip's magic bytes (message m-1, ApproximateReceiveCount 1)"},
			},
		},
		{
			// The documents of the chunks read before the failure go on; the dead letter
			// names the last of them.
			name:     "gzip cut off midway",
			obj:      s3Object{Bucket: "bkt", Key: "c.ndjson.gz", ETag: "e10"},
			body:     truncated(gzipped(t, lines(3000, 250))),
			capacity: 64 << 10,
			docs:     pinnedLines("s3://bkt/c.ndjson.gz#e10", 1448, 250),
			letters: []pinnedLetter{
				{"s3://bkt/c.ndjson.gz#e10", 1448, reasonInvalidGzip, "invalid gzip: unexpected EOF (message m-1, ApproximateReceiveCount 1)"},
			},
		},
		{
			// Many documents much smaller than the per-record overhead: chunks are cut by
			// their budget long before their buffer is used up.
			name:     "many small documents",
			obj:      s3Object{Bucket: "bkt", Key: "small.ndjson", ETag: "e11"},
			body:     []byte(lines(3000, 0)),
			capacity: 16 << 10,
			docs:     pinnedLines("s3://bkt/small.ndjson#e11", 3000, 0),
		},
		{
			name: "missing",
			obj:  s3Object{Bucket: "bkt", Key: "gone.json", ETag: "e9"},
			letters: []pinnedLetter{
				{"s3://bkt/gone.json#e9", 0, reasonObjectMissing, "NoSuchKey: The specified key does not exist. (message m-1, ApproximateReceiveCount 1)"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.capacity == 0 {
				tc.capacity = 8 << 20
			}
			objs := map[string][]byte{}
			if tc.body != nil {
				objs[tc.obj.Bucket+"/"+tc.obj.Key] = tc.body
			}
			p := &capturePipeline{capacity: tc.capacity}
			dlq := &memDLQ{}
			s, err := New(testConfig(), p, dlq, aws.Config{}, WithSQSClient(newFakeQueue()), WithS3Client(&fakeS3{objects: objs}))
			require.NoError(t, err)
			m := &message{id: "m-1", receiveCount: 1, ack: pipeline.NewAck(func(*pipeline.Ack) {})}
			require.True(t, s.readObject(context.Background(), m, tc.obj))

			var docs []pinned
			for _, r := range p.recs {
				assert.Equal(t, SourceName, r.Source)
				assert.True(t, r.PositionID)
				assert.False(t, r.OneLine, "S3 objects' documents are not marked OneLine")
				docs = append(docs, pinned{r.Key, r.Offset, string(r.Doc)})
			}
			assert.Equal(t, tc.docs, docs)
			var letters []pinnedLetter
			for _, l := range dlq.letters {
				letters = append(letters, pinnedLetter{l.Key, l.Offset, l.Reason, l.Error})
			}
			assert.Equal(t, tc.letters, letters)
		})
	}
}
