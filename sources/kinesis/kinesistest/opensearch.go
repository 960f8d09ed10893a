package kinesistest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/weir-ingest/weir/internal/testenv"
)

// Hit is one stored document: its _id and _source.
type Hit struct {
	ID     string
	Source map[string]any
}

// OS calls the real OpenSearch node directly.
func OS(t testing.TB, base, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return testenv.Call(t, base, method, path, body)
}

// Count refreshes index and counts its documents (0 when it does not exist).
func Count(t testing.TB, base, index string) int {
	t.Helper()
	OS(t, base, "POST", "/"+index+"/_refresh", nil)
	st, out := OS(t, base, "GET", "/"+index+"/_count", nil)
	if st == http.StatusNotFound {
		return 0
	}
	require.Equal(t, 200, st, "count %s: %v", index, out)
	return int(out["count"].(float64))
}

// All reads every document of index (with a scroll, so duplicates would show too).
func All(t testing.TB, base, index string) []Hit {
	t.Helper()
	OS(t, base, "POST", "/"+index+"/_refresh", nil)
	var out []Hit
	st, res := OS(t, base, "POST", "/"+index+"/_search?scroll=1m", map[string]any{"size": 5000, "sort": []any{"_doc"}})
	require.Equal(t, 200, st, "search %s: %v", index, res)
	for {
		hits := res["hits"].(map[string]any)["hits"].([]any)
		for _, h := range hits {
			m := h.(map[string]any)
			out = append(out, Hit{ID: m["_id"].(string), Source: m["_source"].(map[string]any)})
		}
		id, _ := res["_scroll_id"].(string)
		if len(hits) == 0 {
			if id != "" {
				OS(t, base, "DELETE", "/_search/scroll", map[string]any{"scroll_id": id})
			}
			return out
		}
		st, res = OS(t, base, "POST", "/_search/scroll", map[string]any{"scroll": "1m", "scroll_id": id})
		require.Equal(t, 200, st, "scroll %s: %v", index, res)
	}
}
