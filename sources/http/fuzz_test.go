package httpsource

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/pipeline/docscan"
)

// inBody reports whether sub is a sub-slice of body (zero-copy framing).
func inBody(body, sub []byte) bool {
	if len(sub) == 0 {
		return false
	}
	return cap(sub) <= cap(body) && &body[cap(body)-cap(sub)] == &sub[0]
}

// FuzzIngestBody: framing never panics, and every non-blank line ends up in a record
// unless the request is refused with an error.
func FuzzIngestBody(f *testing.F) {
	for _, s := range []string{
		"{\"a\":1}\n{\"a\":2}\n", "{\"a\":1}\r\n\r\n{\"a\":2}", "[{\"a\":1},{\"b\":[1,2]}]",
		"{\n  \"a\": 1\n}\n", "{\n\"a\":\n", "[", "]", "{\"a\":\"x\n{}\n", " \n\t\r\n", "",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		recs, fr, err := frameIngest(body, ndjson, pipeline.Record{Source: SourceName}, math.MaxInt32)
		if err != nil {
			require.Empty(t, recs)
			var fe *frameError
			if !(err == errNoDocuments || asFrameError(err, &fe)) {
				t.Fatalf("unexpected error %v", err)
			}
			if fe != nil {
				require.Equal(t, framingArray, fr, "only an array can be malformed as a whole")
			}
			if err == errNoDocuments && fr != framingArray {
				require.Zero(t, nonBlankLines(body))
			}
			return
		}
		require.NotEmpty(t, recs)
		for _, r := range recs {
			require.True(t, inBody(body, r.Doc), "Doc aliases the body")
		}
		switch fr {
		case framingNDJSON:
			require.Equal(t, nonBlankLines(body), len(recs), "one record per non-blank line")
			lines := strings.Split(string(body), "\n")
			for i, r := range recs {
				line := strings.TrimSuffix(lines[r.Offset-1], "\r")
				require.Equal(t, line, string(r.Doc))
				if i > 0 {
					require.Greater(t, r.Offset, recs[i-1].Offset)
				}
			}
		case framingSingle:
			require.False(t, ndjson)
			require.Len(t, recs, 1)
			require.Equal(t, string(docscan.TrimSpace(body)), string(recs[0].Doc), "the whole body")
		case framingArray:
			require.False(t, ndjson)
			for i, r := range recs {
				require.EqualValues(t, i, r.Offset)
			}
		}
		// A body that is one valid object is never split, whatever its layout.
		if _, err := validator.Scan(body); err == nil && !ndjson {
			require.Len(t, recs, 1)
			require.Equal(t, string(docscan.TrimSpace(body)), string(docscan.TrimSpace(recs[0].Doc)))
		}
		// Results render as valid JSON whatever the documents held.
		results := make([]pipeline.Result, len(recs))
		for i := range results {
			results[i] = pipeline.Result{Outcome: pipeline.DeadLettered, Status: 400, Reason: "invalid_json", Error: string(recs[i].Doc)}
		}
		out := appendIngestResult(nil, recs, results, 0, int64(len(recs)))
		require.True(t, json.Valid(out), "%s", out)
	})
}

func asFrameError(err error, fe **frameError) bool {
	e, ok := err.(*frameError)
	*fe = e
	return ok
}

// FuzzBulkBody: bulk parsing never panics, every non-blank line belongs to exactly one
// item, and the answer is valid JSON in both modes.
func FuzzBulkBody(f *testing.F) {
	for _, s := range []string{
		"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n",
		"{\"create\":{\"_id\":7}}\r\n{}\r\n{\"delete\":{\"_id\":\"2\"}}\n{\"update\":{}}\n{\"doc\":{}}\n",
		"garbage\n{\"x\":1}\n{\"index\":{}}\n", "{\"index\":{\"_index\":\"\\u00e9\",\"_id\":\"\\\"\"}}\n{}",
		"{\"index\":{\"_id\":\"\"}}\n{}\n", "{\"index\":{}}", "\n\n", "{\"\\u0069ndex\":{}}\n{}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		bt, err := parseBulk(body, pipeline.Record{Source: SourceName, Index: "url"}, math.MaxInt32)
		require.NoError(t, err)
		requireBulkCoversLines(t, body, bt)
		require.Equal(t, bt.items, len(bt.recs)+len(bt.refused))
		for i, fr := range bt.refused {
			if i > 0 {
				require.Greater(t, fr.item, bt.refused[i-1].item)
			}
			require.Less(t, fr.item, bt.items)
		}
		for _, r := range bt.recs {
			require.True(t, inBody(body, r.Doc))
			require.True(t, bytes.Contains(body, r.Doc))
		}
		start := time.Now()
		out := appendBulkResult(nil, start, &bt, nil)
		require.True(t, json.Valid(out), "async: %s", out)
		results := make([]pipeline.Result, len(bt.recs))
		for i := range results {
			results[i] = pipeline.Result{Outcome: pipeline.Outcome(1 + i%3), Status: 400, Reason: "r", Error: string(bt.recs[i].Doc)}
		}
		out = appendBulkResult(nil, start, &bt, results)
		require.True(t, json.Valid(out), "sync: %s", out)
		var resp struct {
			Items []map[string]json.RawMessage `json:"items"`
		}
		require.NoError(t, json.Unmarshal(out, &resp))
		require.Len(t, resp.Items, bt.items)
	})
}
