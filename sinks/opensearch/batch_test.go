package opensearch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

func TestAppendItem(t *testing.T) {
	t.Parallel()
	pos := PositionID("sqs", "m-1", 7)
	tests := []struct {
		name string
		rec  pipeline.Record
		want string
	}{
		{name: "index with id", rec: pipeline.Record{Index: "logs", ID: []byte("a1"), Doc: []byte(`{"a":1}`)},
			want: `{"index":{"_index":"logs","_id":"a1"}}` + "\n" + `{"a":1}` + "\n"},
		{name: "create", rec: pipeline.Record{Op: pipeline.OpCreate, Index: "logs", ID: []byte("a1"), Doc: []byte(`{}`)},
			want: `{"create":{"_index":"logs","_id":"a1"}}` + "\n{}\n"},
		{name: "no id", rec: pipeline.Record{Index: "logs", Doc: []byte(`{}`)},
			want: `{"index":{"_index":"logs"}}` + "\n{}\n"},
		{name: "escaped id is kept as it is", rec: pipeline.Record{Index: "logs", ID: []byte(`q\"\u00e9`), Doc: []byte(`{}`)},
			want: `{"index":{"_index":"logs","_id":"q\"\u00e9"}}` + "\n{}\n"},
		{name: "position id", rec: pipeline.Record{Index: "logs", PositionID: true, Source: "sqs", Key: "m-1", Offset: 7, Doc: []byte(`{}`)},
			want: `{"index":{"_index":"logs","_id":"` + pos + `"}}` + "\n{}\n"},
		{name: "explicit id wins over position id", rec: pipeline.Record{Index: "logs", ID: []byte("x"), PositionID: true, Doc: []byte(`{}`)},
			want: `{"index":{"_index":"logs","_id":"x"}}` + "\n{}\n"},
		{name: "index name escaped", rec: pipeline.Record{Index: "a\"b\\c\x01", Doc: []byte(`{}`)},
			want: `{"index":{"_index":"a\"b\\c\u0001"}}` + "\n{}\n"},
		{name: "pretty-printed document kept on one line", rec: pipeline.Record{Index: "l", Doc: []byte("{\n  \"a\": \"x\\ny\"\r\n}\n")},
			want: `{"index":{"_index":"l"}}` + "\n" + `{   "a": "x\ny"` + "\r } \n"},
		{name: "a line of NDJSON is copied as it is", rec: pipeline.Record{Index: "l", OneLine: true, Doc: []byte(`{ "a": "x\ny" }`)},
			want: `{"index":{"_index":"l"}}` + "\n" + `{ "a": "x\ny" }` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := string(appendItem(nil, &tt.rec, new(itemCache)))
			assert.Equal(t, tt.want, got)
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			require.Len(t, lines, 2, "exactly an action line and a source line")
			for _, l := range lines {
				assert.True(t, json.Valid([]byte(l)), l)
			}
		})
	}
}

func TestPositionID(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("sqs\x00m-1"))
	want := base64.RawURLEncoding.EncodeToString(sum[:12]) + "42"
	assert.Equal(t, want, PositionID("sqs", "m-1", 42))
	assert.Len(t, want, positionPrefixLen+2)
	assert.NotEqual(t, PositionID("sqs", "m-1", 42), PositionID("sqs", "m-1", 43))
	assert.NotEqual(t, PositionID("sqs", "m-1", 4), PositionID("sqs", "m-14", 0), "NUL separators keep fields apart")
	assert.Equal(t, PositionID("k", "s:1", -1), PositionID("k", "s:1", -1))
	assert.NotEqual(t, PositionID("k", "s:1", -1), PositionID("k", "s:1", 1))

	// The cache serves a message's documents from one hash, and notices a new message or
	// a new source.
	var c itemCache
	for _, tt := range []struct {
		source, key string
		offset      int64
	}{{"sqs", "m-1", 0}, {"sqs", "m-1", 1}, {"sqs", "m-2", 0}, {"kinesis", "m-2", 0}, {"sqs", "m-1", 7}} {
		got := string(c.appendPositionID(nil, tt.source, tt.key, tt.offset))
		assert.Equal(t, PositionID(tt.source, tt.key, tt.offset), got, "%v", tt)
	}
}

func TestEncodeAllocatesNothingPerDocument(t *testing.T) {
	doc := []byte(`{"message":"` + strings.Repeat("x", 1000) + `"}`)
	recs := []*pipeline.Record{
		{Index: "logs", ID: []byte("id-1"), Doc: doc},
		{Index: "logs", PositionID: true, Source: "sqs", Key: "m", Offset: 1, Doc: doc},
	}
	for _, rec := range recs {
		b := &batch{}
		var ids itemCache
		for range 100 { // warm: the buffers reach their working size
			b.add(rec, &ids)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			b.reset()
			for range 100 {
				b.add(rec, &ids)
			}
		})
		assert.Zero(t, allocs, "position id %v", rec.PositionID)
	}
}

func TestItemCacheFollowsTheIndexName(t *testing.T) {
	t.Parallel()
	var c itemCache
	for _, name := range []string{"logs", "logs", `a"b`, "logs", ""} {
		assert.Equal(t, string(appendEscaped(nil, name)), string(c.appendIndex([]byte{}, name)), name)
	}
}
