package nullbulk

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type bulkAnswer struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Index  string          `json:"_index"`
		ID     string          `json:"_id"`
		Status int             `json:"status"`
		Error  json.RawMessage `json:"error"`
	} `json:"items"`
}

const body = `{"index":{"_index":"a","_id":"1"}}
{"n":1}
{"create":{"_index":"b"}}
{"n":2}
{"delete":{"_index":"a","_id":"9"}}
{"update":{"_index":"a","_id":"3"}}
{"doc":{"n":3}}
`

func post(t *testing.T, h http.Handler, path, body string, gz bool) (*httptest.ResponseRecorder, bulkAnswer) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(body))
		require.NoError(t, zw.Close())
		rd = &b
	}
	req := httptest.NewRequest(http.MethodPost, path, rd)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a bulkAnswer
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), rec.Body.String())
	}
	return rec, a
}

func TestBulk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []Option
		path    string
		gz      bool
		errors  bool
		status  []int
		indexes []string
	}{
		{name: "plain", path: "/_bulk", status: []int{201, 201, 200, 200}, indexes: []string{"a", "b", "a", "a"}},
		{name: "gzip", path: "/_bulk", gz: true, status: []int{201, 201, 200, 200}},
		{name: "index in path", path: "/dflt/_bulk", status: []int{201, 201, 200, 200}},
		{name: "compact", path: "/_bulk", opts: []Option{WithCompact()}, status: []int{201, 201, 200, 200}},
		{
			name: "injected item statuses", path: "/_bulk", errors: true, status: []int{201, 429, 200, 400},
			opts: []Option{WithItemStatus(func(i int) (int, string) {
				switch i {
				case 1:
					return 429, "es_rejected_execution_exception"
				case 3:
					return 400, "mapper_parsing_exception"
				}
				return 0, ""
			})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(tt.opts...)
			rec, a := post(t, s, tt.path, body, tt.gz)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, tt.errors, a.Errors)
			require.Len(t, a.Items, len(tt.status))
			for i, it := range a.Items {
				require.Len(t, it, 1)
				for _, v := range it {
					assert.Equal(t, tt.status[i], v.Status, "item %d", i)
					assert.Equal(t, v.Status >= 300, v.Error != nil, "item %d", i)
					if tt.indexes != nil {
						assert.Equal(t, tt.indexes[i], v.Index, "item %d", i)
					}
				}
			}
			assert.EqualValues(t, 1, s.Requests())
			assert.EqualValues(t, 2, s.Documents(), "index and create actions only")
			assert.EqualValues(t, len(body), s.Bytes())
		})
	}
}

func TestRequestStatusAndHeader(t *testing.T) {
	t.Parallel()
	s := New(
		WithRequestStatus(func(n int64) int {
			if n == 1 {
				return http.StatusTooManyRequests
			}
			return 0
		}),
		WithHeader(func(int64) http.Header { return http.Header{"Retry-After": {"2"}} }),
	)
	rec, _ := post(t, s, "/_bulk", body, false)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "2", rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), "es_rejected_execution_exception")
	assert.Zero(t, s.Documents(), "a refused request stores nothing")
	rec, a := post(t, s, "/_bulk", body, false)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Len(t, a.Items, 4)
}

func TestNodeEndpoints(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(New())
	defer srv.Close()
	for path, want := range map[string]int{"/": 200, "/_cluster/health": 200, "/nope": 404} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		var v map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&v), path)
		_ = resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
}

func BenchmarkBulk(b *testing.B) {
	s := New(WithCompact())
	var sb strings.Builder
	for range 1000 {
		sb.WriteString(`{"index":{"_index":"bench","_id":"x"}}` + "\n" + `{"message":"hello world","n":42}` + "\n")
	}
	payload := []byte(sb.String())
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		req := httptest.NewRequest(http.MethodPost, "/_bulk", bytes.NewReader(payload))
		s.ServeHTTP(w, req)
	}
}

func TestItemsHookAndMaxBody(t *testing.T) {
	t.Parallel()
	var docs []string
	s := New(WithMaxBodyBytes(len(body)), WithItems(func(n int64, i int, action, doc []byte) (int, string) {
		docs = append(docs, string(doc))
		if bytes.Contains(doc, []byte(`"n":2`)) {
			return 500, "node_closed_exception"
		}
		return 0, ""
	}))
	rec, a := post(t, s, "/_bulk", body, false)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, a.Errors)
	assert.Equal(t, []string{`{"n":1}`, `{"n":2}`, ``, `{"doc":{"n":3}}`}, docs)
	assert.Equal(t, 500, a.Items[1]["create"].Status)
	rec, _ = post(t, s, "/_bulk", body+"\n", false)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

func TestStatsEndpoint(t *testing.T) {
	t.Parallel()
	s := New()
	h := s.WithStats()
	rec, _ := post(t, h, "/_bulk", body, false)
	require.Equal(t, http.StatusOK, rec.Code)
	req := httptest.NewRequest(http.MethodGet, StatsPath, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code)
	var st Stats
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
	assert.Equal(t, Stats{Requests: 1, Documents: 2, Bytes: int64(len(body))}, st)
	assert.Equal(t, st, s.Stats())
}

// TestFilterPath: the receiver trims its answer as a node does for the filter_path a bulk
// client sends, so that a benchmark of a client that asks for less measures less.
func TestFilterPath(t *testing.T) {
	t.Parallel()
	s := New(WithItemStatus(func(i int) (int, string) {
		if i == 1 {
			return 429, "es_rejected_execution_exception"
		}
		return 0, ""
	}))
	tests := []struct{ path, want string }{
		{"/_bulk?filter_path=errors,items.*.status,items.*.error",
			`{"errors":true,"items":[{"index":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"nullbulk was told to fail item with es_rejected_execution_exception"}}},{"delete":{"status":200}},{"update":{"status":200}}]}`},
		{"/_bulk?filter_path=took,errors,items.*._id",
			`{"took":0,"errors":true,"items":[{"index":{"_id":"1"}},{"create":{"_id":"nullbulk-1"}},{"delete":{"_id":"9"}},{"update":{"_id":"3"}}]}`},
	}
	for _, tt := range tests {
		rec, _ := post(t, s, tt.path, body, false)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.JSONEq(t, tt.want, rec.Body.String(), tt.path)
	}
}
