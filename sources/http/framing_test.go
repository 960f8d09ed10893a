package httpsource

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

func docsOf(recs []pipeline.Record) (docs []string, offsets []int64) {
	for _, r := range recs {
		docs = append(docs, string(r.Doc))
		offsets = append(offsets, r.Offset)
	}
	return docs, offsets
}

func TestFrameIngest(t *testing.T) {
	t.Parallel()
	pretty := "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": [1, 2]\n  }\n}\n"
	tests := []struct {
		name    string
		body    string
		ndjson  bool
		framing framing
		docs    []string
		offsets []int64
		err     string // substring; "" means no error
	}{
		{name: "ndjson with final newline", body: "{\"a\":1}\n{\"a\":2}\n",
			docs: []string{`{"a":1}`, `{"a":2}`}, offsets: []int64{1, 2}},
		{name: "ndjson without final newline", body: "{\"a\":1}\n{\"a\":2}",
			docs: []string{`{"a":1}`, `{"a":2}`}, offsets: []int64{1, 2}},
		{name: "crlf", body: "{\"a\":1}\r\n{\"a\":2}\r\n",
			docs: []string{`{"a":1}`, `{"a":2}`}, offsets: []int64{1, 2}},
		{name: "blank lines keep editor line numbers", body: "\n{\"a\":1}\n \t\r\n\n{\"a\":2}\n\n",
			docs: []string{`{"a":1}`, `{"a":2}`}, offsets: []int64{2, 5}},
		{name: "a bad line is a document of its own", body: "{\"a\":1}\nnot json\n{\"a\":3}",
			docs: []string{`{"a":1}`, `not json`, `{"a":3}`}, offsets: []int64{1, 2, 3}},
		{name: "one compact object", body: `{"a":1}`,
			docs: []string{`{"a":1}`}, offsets: []int64{1}},
		{name: "array", body: " [ {\"a\":1} ,\n{\"a\":2}, 3 ]\n", framing: framingArray,
			docs: []string{`{"a":1}`, `{"a":2}`, `3`}, offsets: []int64{0, 1, 2}},
		{name: "pretty-printed object", body: pretty, framing: framingSingle,
			docs: []string{strings.TrimSpace(pretty)}, offsets: []int64{1}},
		{name: "pretty-printed after blank lines", body: "\r\n\n" + pretty, framing: framingSingle,
			docs: []string{strings.TrimSpace(pretty)}, offsets: []int64{3}},
		{name: "broken pretty-printed object is one document", body: "{\n  \"a\": 1,\n  \"b\": \n}\n", framing: framingSingle,
			docs: []string{"{\n  \"a\": 1,\n  \"b\": \n}"}, offsets: []int64{1}},
		{name: "two pretty-printed objects are one (invalid) document", body: "{\n\"a\":1\n}\n{\n\"b\":2\n}", framing: framingSingle,
			docs: []string{"{\n\"a\":1\n}\n{\n\"b\":2\n}"}, offsets: []int64{1}},
		{name: "pretty object holding a one-line object is not split", body: "{\"x\": [\n{\"a\":1}\n]}", framing: framingSingle,
			docs: []string{"{\"x\": [\n{\"a\":1}\n]}"}, offsets: []int64{1}},
		{name: "truncated first line of ndjson", body: "{\"a\":\"x\n{\"a\":2}\n{\"a\":3}\n",
			docs: []string{`{"a":"x`, `{"a":2}`, `{"a":3}`}, offsets: []int64{1, 2, 3}},
		{name: "content type forces ndjson", body: pretty, ndjson: true,
			docs: []string{"{", `  "a": 1,`, `  "b": {`, `    "c": [1, 2]`, `  }`, "}"}, offsets: []int64{1, 2, 3, 4, 5, 6}},
		{name: "content type forces ndjson over an array", body: "[{\"a\":1}]", ndjson: true,
			docs: []string{`[{"a":1}]`}, offsets: []int64{1}},
		{name: "empty body", body: "", err: "no documents"},
		{name: "whitespace only", body: " \r\n\t\n", err: "no documents"},
		{name: "empty array", body: "[ ]", framing: framingArray, err: "no documents"},
		{name: "malformed array", body: "[{\"a\":1},{\"a\":}]", framing: framingArray, err: "not a well-formed JSON array"},
		{name: "array with trailing data", body: "[{\"a\":1}] x", framing: framingArray, err: "not a well-formed JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl := pipeline.Record{Source: SourceName, Key: "k", Index: "i", Op: pipeline.OpCreate}
			recs, fr, err := frameIngest([]byte(tt.body), tt.ndjson, tmpl, math.MaxInt32)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Empty(t, recs)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.framing, fr)
			docs, offsets := docsOf(recs)
			assert.Equal(t, tt.docs, docs)
			assert.Equal(t, tt.offsets, offsets)
			for _, r := range recs {
				assert.Equal(t, SourceName, r.Source)
				assert.Equal(t, "k", r.Key)
				assert.Equal(t, "i", r.Index)
				assert.Equal(t, pipeline.OpCreate, r.Op)
			}
		})
	}
}

func TestFrameIngestIsZeroCopy(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"{\"a\":1}\n{\"b\":2}\n", "[{\"a\":1},{\"b\":2}]", "{\n\"a\":1\n}"} {
		b := []byte(body)
		recs, _, err := frameIngest(b, false, pipeline.Record{}, math.MaxInt32)
		require.NoError(t, err)
		for _, r := range recs {
			// Doc must point into the body: same backing array.
			require.Same(t, &b[cap(b)-cap(r.Doc)], &r.Doc[0], "body %q", body)
		}
	}
}

func TestIsNDJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"application/x-ndjson":                true,
		"application/x-ndjson; charset=utf-8": true,
		"Application/X-NDJSON":                true,
		"application/ndjson":                  true,
		"application/json":                    false,
		"":                                    false,
		"garbage;;":                           false,
	}
	for ct, want := range tests {
		assert.Equal(t, want, isNDJSON(ct), ct)
	}
}

func TestParseAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line, op, index, id string
		indexEsc, idEsc     bool
		err                 string
	}{
		{line: `{"index":{}}`, op: "index"},
		{line: ` { "create" : { "_index" : "logs" , "_id" : "a1" } } `, op: "create", index: "logs", id: "a1"},
		{line: `{"index":{"_id":"a\"b","_index":"l\u006fgs","routing":"r","_type":"_doc","x":{"y":[1,"}"]}}}`,
			op: "index", index: `l\u006fgs`, indexEsc: true, id: `a\"b`, idEsc: true},
		{line: `{"index":{"_id":42}}`, op: "index", id: "42"},
		{line: `{"index":{"_id":null,"_index":null}}`, op: "index"},
		{line: `{"delete":{"_index":"x","_id":"1"}}`, op: "delete", index: "x", id: "1"},
		{line: `{"update":{"_id":"1"}}`, op: "update", id: "1"},
		{line: `{"upsert":{}}`, err: "found [upsert]"},
		{line: `{}`, err: "empty object"},
		{line: `{"index":{},"create":{}}`, err: "exactly one action"},
		{line: `{"index":"logs"}`, err: "must be an object"},
		{line: `{"index":{"_index":1}}`, err: "_index must be a string"},
		{line: `{"index":{"_id":true}}`, err: "_id must be a string"},
		{line: `{"index":{"_id":"1"}`, err: "invalid JSON"},
		{line: `["index"]`, err: "not an object"},
	}
	for _, tt := range tests {
		a, err := parseAction([]byte(tt.line))
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.line)
			continue
		}
		require.NoError(t, err, tt.line)
		assert.Equal(t, tt.op, a.op, tt.line)
		assert.Equal(t, tt.index, string(a.index), tt.line)
		assert.Equal(t, tt.indexEsc, a.indexEsc, tt.line)
		assert.Equal(t, tt.id, string(a.id), tt.line)
		assert.Equal(t, tt.idEsc, a.idEsc, tt.line)
	}
}

func TestParseBulk(t *testing.T) {
	t.Parallel()
	type item struct {
		op, index, id, doc string
		line               int64  // the document's line, for records
		status             int    // 0 for records
		reason             string // substring, for refusals
	}
	tests := []struct {
		name  string
		body  string
		items []item
	}{
		{
			name: "index and create with _index and _id",
			body: "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n{\"create\":{\"_index\":\"b\"}}\n{\"x\":2}\n",
			items: []item{
				{op: "index", index: "a", id: "1", doc: `{"x":1}`, line: 2},
				{op: "create", index: "b", doc: `{"x":2}`, line: 4},
			},
		},
		{
			name: "url index when the action names none; crlf and blank lines",
			body: "{\"index\":{}}\r\n\r\n{\"x\":1}\r\n{\"index\":{\"_index\":\"\"}}\r\n{\"x\":2}",
			items: []item{
				{op: "index", index: "url", doc: `{"x":1}`, line: 3},
				{op: "index", index: "url", doc: `{"x":2}`, line: 5},
			},
		},
		{
			name:  "escaped _index is decoded, _id stays escaped",
			body:  "{\"index\":{\"_index\":\"l\\u006fgs\",\"_id\":\"a\\\"b\"}}\n{}\n",
			items: []item{{op: "index", index: "logs", id: `a\"b`, doc: `{}`, line: 2}},
		},
		{
			name: "delete refused alone, update refused with its body",
			body: "{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"update\":{\"_id\":\"2\"}}\n{\"doc\":{\"x\":1}}\n{\"index\":{}}\n{\"x\":3}\n",
			items: []item{
				{op: "delete", index: "a", id: "1", status: 400, reason: "delete action is not supported"},
				{op: "update", index: "url", id: "2", status: 400, reason: "update action is not supported"},
				{op: "index", index: "url", doc: `{"x":3}`, line: 5},
			},
		},
		{
			name: "malformed action takes its document line",
			body: "{\"index\":{\"_id\":}}\n{\"x\":1}\n{\"index\":{}}\n{\"x\":2}\n",
			items: []item{
				{op: "index", index: "url", status: 400, reason: "malformed action/metadata line [1]"},
				{op: "index", index: "url", doc: `{"x":2}`, line: 4},
			},
		},
		{
			name: "malformed action followed by an action",
			body: "garbage\n{\"create\":{}}\n{\"x\":2}\n",
			items: []item{
				{op: "index", index: "url", status: 400, reason: "malformed action/metadata line [1]"},
				{op: "create", index: "url", doc: `{"x":2}`, line: 3},
			},
		},
		{
			name:  "unknown action",
			body:  "{\"upsert\":{}}\n{\"x\":1}\n",
			items: []item{{op: "index", index: "url", status: 400, reason: "found [upsert]"}},
		},
		{
			name: "bad _id refuses the item and its document",
			body: "{\"index\":{\"_id\":\"\"}}\n{\"x\":1}\n{\"index\":{\"_id\":\"" + strings.Repeat("x", 513) + "\"}}\n{\"x\":2}\n{\"index\":{\"_id\":7}}\n{\"x\":3}\n",
			items: []item{
				{op: "index", index: "url", id: "", status: 400, reason: "must not be empty"},
				{op: "index", index: "url", id: strings.Repeat("x", 513), status: 400, reason: "too long"},
				{op: "index", index: "url", id: "7", doc: `{"x":3}`, line: 6},
			},
		},
		{
			name: "last action without its document",
			body: "{\"index\":{}}\n{\"x\":1}\n{\"index\":{\"_index\":\"z\"}}\n",
			items: []item{
				{op: "index", index: "url", doc: `{"x":1}`, line: 2},
				{op: "index", index: "z", status: 400, reason: "no document line"},
			},
		},
		{
			name:  "the line after an action is its document, whatever it holds",
			body:  "{\"index\":{}}\n{\"index\":{}}\n",
			items: []item{{op: "index", index: "url", doc: `{"index":{}}`, line: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bt, err := parseBulk([]byte(tt.body), pipeline.Record{Source: SourceName, Key: "k", Index: "url"}, math.MaxInt32)
			require.NoError(t, err)
			require.Equal(t, len(tt.items), bt.items)
			ri, fi := 0, 0
			for i, want := range tt.items {
				if want.status == 0 {
					require.Less(t, ri, len(bt.recs), "item %d", i)
					r := bt.recs[ri]
					ri++
					assert.Equal(t, want.op, r.Op.String(), "item %d", i)
					assert.Equal(t, want.index, r.Index, "item %d", i)
					assert.Equal(t, want.id, string(r.ID), "item %d", i)
					assert.Equal(t, want.doc, string(r.Doc), "item %d", i)
					assert.Equal(t, want.line, r.Offset, "item %d", i)
					assert.Equal(t, "k", r.Key)
					continue
				}
				require.Less(t, fi, len(bt.refused), "item %d", i)
				f := bt.refused[fi]
				fi++
				assert.Equal(t, i, f.item)
				assert.Equal(t, want.op, f.op, "item %d", i)
				assert.Equal(t, want.index, f.index, "item %d", i)
				assert.Equal(t, want.id, string(f.id), "item %d", i)
				assert.Equal(t, want.status, f.status, "item %d", i)
				assert.Contains(t, f.reason, want.reason, "item %d", i)
			}
			assert.Equal(t, len(bt.recs), ri)
			assert.Equal(t, len(bt.refused), fi)
			requireBulkCoversLines(t, []byte(tt.body), bt)
		})
	}
}

// requireBulkCoversLines checks that every non-blank line went to exactly one item.
func requireBulkCoversLines(t testing.TB, body []byte, bt bulkBatch) {
	t.Helper()
	covered := 2 * len(bt.recs)
	for _, f := range bt.refused {
		covered += f.lines
	}
	require.Equal(t, nonBlankLines(body), covered)
	require.Equal(t, nonBlankLines(body), bt.lines)
}

func nonBlankLines(body []byte) int {
	n := 0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Trim(l, " \t\r") != "" {
			n++
		}
	}
	return n
}

func TestOutcomeStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		res  pipeline.Result
		want int
	}{
		{pipeline.Result{Outcome: pipeline.Indexed, Status: 200}, 200},
		{pipeline.Result{Outcome: pipeline.Indexed, Status: 409}, http.StatusCreated},
		{pipeline.Result{Outcome: pipeline.Indexed}, http.StatusCreated},
		{pipeline.Result{Outcome: pipeline.DeadLettered, Status: 400}, 400},
		{pipeline.Result{Outcome: pipeline.DeadLettered, Status: 404}, 404},
		{pipeline.Result{Outcome: pipeline.DeadLettered, Status: 500}, 400},
		{pipeline.Result{Outcome: pipeline.Undelivered}, 503},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, outcomeStatus(tt.res), "%+v", tt.res)
	}
}
