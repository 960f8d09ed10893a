package httpsource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/config/secret"
	"github.com/weir-ingest/weir/pipeline"
)

func syncMode(c *Config) { c.Mode = ModeSync }

// refuseBad dead-letters documents that contain "bad", as OpenSearch refuses a mapping.
func refuseBad(rec *pipeline.Record) pipeline.Result {
	if bytes.Contains(rec.Doc, []byte("bad")) {
		return pipeline.Result{Outcome: pipeline.DeadLettered, Status: 400, Reason: "mapper_parsing_exception", Error: "failed to parse field [n]"}
	}
	return pipeline.Result{Outcome: pipeline.Indexed, Status: 201}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultConfig().Validate())
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"listen empty", func(c *Config) { c.Listen = "" }, []string{"listen: required"}},
		{"listen no port", func(c *Config) { c.Listen = "localhost" }, []string{"listen: "}},
		{"listen bad port", func(c *Config) { c.Listen = ":http" }, []string{`listen: port "http"`}},
		{"mode", func(c *Config) { c.Mode = "fast" }, []string{`mode: must be "sync" or "async", got "fast"`}},
		{"max_request_bytes", func(c *Config) { c.MaxRequestBytes = 0 }, []string{"max_request_bytes: "}},
		{"index", func(c *Config) { c.Index = "Logs" }, []string{"index: ", "lowercase"}},
		{"tokens", func(c *Config) { c.Tokens = []secret.Secret{"ok", ""} }, []string{"tokens[1]: must not be empty"}},
		{"timeouts", func(c *Config) { c.ReadTimeout, c.SyncTimeout, c.RetryAfter = 0, -1, 0 },
			[]string{"read_timeout: ", "sync_timeout: ", "retry_after: "}},
		{"every problem at once", func(c *Config) { c.Listen, c.Mode = "", "x" }, []string{"listen: required", "mode: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
			_, err = New(c, &fakePipeline{})
			require.ErrorContains(t, err, "http source config: ")
		})
	}
}

func TestConfigNeverPrintsTokens(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.Tokens = []secret.Secret{"s3cr3t-token"}
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", c, c, c), "s3cr3t")
}

func TestIngestSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: syncMode, target: &fakeTarget{fn: refuseBad}})
	body := "{\"n\":1}\n{\"n\":2,\n\n{\"n\":\"bad\"}\r\n{\"n\":4}"
	r := post(t, e.base+"/v1/ingest/logs", body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	assert.EqualValues(t, 4, m["accepted"])
	assert.EqualValues(t, 2, m["indexed"])
	assert.EqualValues(t, 2, m["dead_lettered"])
	errs := m["errors"].([]any)
	require.Len(t, errs, 2)
	first := errs[0].(map[string]any)
	assert.EqualValues(t, 2, first["line"])
	assert.EqualValues(t, 400, first["status"])
	assert.Equal(t, "invalid_json", first["reason"])
	assert.Contains(t, first["error"], "at byte 7")
	second := errs[1].(map[string]any)
	assert.EqualValues(t, 4, second["line"])
	assert.Equal(t, "mapper_parsing_exception", second["reason"])
	assert.Equal(t, "failed to parse field [n]", second["error"])

	// The invalid line reached the dead-letter sink, traceable to the request and line.
	letters := e.dlq.all()
	require.Len(t, letters, 1)
	assert.Equal(t, SourceName, letters[0].Source)
	assert.Regexp(t, `^http-[0-9a-f]{24}$`, letters[0].Key)
	assert.EqualValues(t, 2, letters[0].Offset)
	assert.Equal(t, `{"n":2,`, string(letters[0].Doc))
	assert.ElementsMatch(t, []string{"logs"}, uniq(e.target.idx))
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func TestIngestSyncArrayAndSingle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.Mode = ModeSync; c.Index = "conf" }})
	r := post(t, e.base+"/v1/ingest", `[{"n":1}, 2, {"n":3}]`, "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	assert.EqualValues(t, 3, m["accepted"])
	assert.EqualValues(t, 2, m["indexed"])
	errs := m["errors"].([]any)
	require.Len(t, errs, 1)
	assert.EqualValues(t, 1, errs[0].(map[string]any)["line"], "element index")
	assert.Contains(t, errs[0].(map[string]any)["error"], "not an object")

	r = post(t, e.base+"/v1/ingest", "{\n  \"n\": 5,\n  \"nested\": {\"x\": 1}\n}\n")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m = r.json(t)
	assert.EqualValues(t, 1, m["accepted"])
	assert.EqualValues(t, 1, m["indexed"])
	assert.Equal(t, []string{"conf"}, uniq(e.target.idx), "configured index when the URL names none")
}

func TestIngestAsync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	var body strings.Builder
	for i := range 50 {
		fmt.Fprintf(&body, "{\"n\":%d}\n", i)
	}
	r := post(t, e.base+"/v1/ingest", body.String(), "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	assert.JSONEq(t, `{"accepted":50}`, string(r.body))
	require.Eventually(t, func() bool { return len(e.target.received()) == 50 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"weir-test"}, uniq(e.target.idx), "pipeline default index")
	assert.InDelta(t, 50, testutil.ToFloat64(e.src.m.documents[endpointIngest]), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(e.src.m.requests.WithLabelValues("ingest", "202")), 0)
	assert.InDelta(t, float64(body.Len()), testutil.ToFloat64(e.src.m.bytes), 0)
	families, err := e.reg.Gather()
	require.NoError(t, err)
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	assert.ElementsMatch(t, []string{"weir_http_requests_total", "weir_http_request_bytes_total",
		"weir_http_documents_total", "weir_http_request_duration_seconds"}, names)
}

func TestIngestGzip(t *testing.T) {
	t.Parallel()
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.Mode = ModeSync; c.MaxRequestBytes = 4096 }})
	for range 3 { // the pooled reader is reused
		r := do(t, http.MethodPost, e.base+"/v1/ingest", gz("{\"a\":1}\n{\"a\":2}\n"), "Content-Encoding", "gzip")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.EqualValues(t, 2, r.json(t)["indexed"])
	}
	// Small on the wire, over the limit once decompressed.
	bomb := gz(`{"a":"` + strings.Repeat("x", 10000) + `"}`)
	require.Less(t, len(bomb), 4096)
	r := do(t, http.MethodPost, e.base+"/v1/ingest", bomb, "Content-Encoding", "gzip")
	e1 := requireError(t, r, http.StatusRequestEntityTooLarge, errTypeTooLarge)
	assert.Equal(t, "request body exceeds max_request_bytes (4KiB)", e1["reason"])

	r = do(t, http.MethodPost, e.base+"/v1/ingest", []byte("not gzip"), "Content-Encoding", "gzip")
	requireError(t, r, http.StatusBadRequest, errTypeParse)
	corrupt := gz(`{"a":1}`)
	corrupt[len(corrupt)-5] ^= 0xff // CRC
	r = do(t, http.MethodPost, e.base+"/v1/ingest", corrupt, "Content-Encoding", "gzip")
	requireError(t, r, http.StatusBadRequest, errTypeParse)
	r = do(t, http.MethodPost, e.base+"/v1/ingest", []byte(`{}`), "Content-Encoding", "br")
	requireError(t, r, http.StatusUnsupportedMediaType, errTypeMediaType)
}

func TestBulkSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: syncMode, target: &fakeTarget{fn: refuseBad}})
	body := strings.Join([]string{
		`{"index":{"_index":"a","_id":"1"}}`, `{"n":1}`,
		`{"create":{"_id":"2"}}`, `{"n":2}`,
		`{"delete":{"_index":"a","_id":"3"}}`,
		`{"index":{}}`, `{"n":"bad"}`,
		`{"index":{}}`, `{"n":`,
		`not an action`, `{"n":6}`,
		`{"index":{"_index":"c"}}`, `{"n":7}`,
	}, "\n") + "\n"
	r := post(t, e.base+"/logs/_bulk", body, "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var resp struct {
		Took   int64                                   `json:"took"`
		Errors bool                                    `json:"errors"`
		Items  []map[string]map[string]json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal(r.body, &resp), "%s", r.body)
	assert.True(t, resp.Errors)
	want := []struct {
		op, index, id string
		status        int
		errType       string
	}{
		{"index", "a", "1", 201, ""},
		{"create", "logs", "2", 201, ""},
		{"delete", "a", "3", 400, errTypeIllegalArg},
		{"index", "logs", "", 400, "mapper_parsing_exception"},
		{"index", "logs", "", 400, "invalid_json"},
		{"index", "logs", "", 400, errTypeIllegalArg},
		{"index", "c", "", 201, ""},
	}
	require.Len(t, resp.Items, len(want), "%s", r.body)
	for i, w := range want {
		it, ok := resp.Items[i][w.op]
		require.True(t, ok, "item %d: %s", i, r.body)
		var index, id string
		var status int
		_ = json.Unmarshal(it["_index"], &index)
		_ = json.Unmarshal(it["_id"], &id)
		_ = json.Unmarshal(it["status"], &status)
		assert.Equal(t, w.index, index, "item %d", i)
		assert.Equal(t, w.id, id, "item %d", i)
		assert.Equal(t, w.status, status, "item %d", i)
		if w.errType == "" {
			assert.NotContains(t, it, "error", "item %d", i)
			continue
		}
		var e struct{ Type, Reason string }
		require.NoError(t, json.Unmarshal(it["error"], &e), "item %d", i)
		assert.Equal(t, w.errType, e.Type, "item %d", i)
		assert.NotEmpty(t, e.Reason, "item %d", i)
	}
	assert.ElementsMatch(t, []string{"a", "logs", "c"}, uniq(e.target.idx))
	assert.Contains(t, e.target.ids, "1")
	assert.Contains(t, e.target.ids, "2")

	// All indexed: errors false.
	r = post(t, e.base+"/_bulk", "{\"index\":{}}\n{\"n\":1}\n")
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, false, r.json(t)["errors"])
	assert.Contains(t, string(r.body), `"_index":"weir-test"`, "the index the pipeline resolved")
}

func TestBulkAsync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	body := "{\"index\":{\"_id\":\"x\\\"y\"}}\n{\"n\":1}\n{\"update\":{\"_id\":\"1\"}}\n{\"doc\":{}}\n{\"create\":{\"_index\":\"b\"}}\n{\"n\":\n"
	r := post(t, e.base+"/_bulk", body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var resp map[string]any
	require.NoError(t, json.Unmarshal(r.body, &resp), "%s", r.body)
	assert.Equal(t, true, resp["errors"])
	items := resp["items"].([]any)
	require.Len(t, items, 3)
	it0 := items[0].(map[string]any)["index"].(map[string]any)
	assert.EqualValues(t, 201, it0["status"], "accepted items are reported created")
	assert.Equal(t, `x"y`, it0["_id"])
	it1 := items[1].(map[string]any)["update"].(map[string]any)
	assert.EqualValues(t, 400, it1["status"])
	// Async cannot know yet that this document is invalid: it is dead-lettered later.
	it2 := items[2].(map[string]any)["create"].(map[string]any)
	assert.EqualValues(t, 201, it2["status"])
	assert.Equal(t, "b", it2["_index"])
	require.Eventually(t, func() bool { return len(e.dlq.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.EqualValues(t, 6, e.dlq.all()[0].Offset)
	require.Eventually(t, func() bool { return len(e.target.received()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, `x\"y`, e.target.ids[0], "_id as it appeared in the action line")
}

func TestBulkOnlyRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: syncMode})
	r := post(t, e.base+"/_bulk", "{\"delete\":{\"_id\":\"1\"}}\n")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, true, r.json(t)["errors"])
	r = post(t, e.base+"/_bulk", "\n\n")
	requireError(t, r, http.StatusBadRequest, errTypeValidation)
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.MaxRequestBytes = 1024 }})
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
	}{
		{"empty ingest", http.MethodPost, "/v1/ingest", "", 400, errTypeParse},
		{"malformed array", http.MethodPost, "/v1/ingest", "[{]", 400, errTypeParse},
		{"bad index in url", http.MethodPost, "/v1/ingest/Bad", "{}", 400, errTypeIndexName},
		{"bad index in bulk url", http.MethodPost, "/_x/_bulk", "{}", 400, errTypeIndexName},
		{"too large", http.MethodPost, "/v1/ingest", strings.Repeat(" ", 1025), 413, errTypeTooLarge},
		{"too large bulk", http.MethodPost, "/_bulk", strings.Repeat(" ", 2000), 413, errTypeTooLarge},
		{"wrong method", http.MethodGet, "/_bulk", "", 405, errTypeMethod},
		{"wrong method ingest", http.MethodDelete, "/v1/ingest/logs", "", 405, errTypeMethod},
		{"unknown path", http.MethodPost, "/v2/ingest", "{}", 404, errTypeNotFound},
		{"unknown path get", http.MethodGet, "/_cat/indices", "", 404, errTypeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, tt.method, e.base+tt.path, []byte(tt.body))
			e := requireError(t, r, tt.status, tt.typ)
			if tt.status == 413 {
				assert.Equal(t, "request body exceeds max_request_bytes (1KiB)", e["reason"])
			}
			if tt.status == 405 {
				assert.NotEmpty(t, r.header.Get("Allow"))
			}
		})
	}
}

func TestTooLargeWithoutContentLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.MaxRequestBytes = 1024 }})
	// A reader of unknown length makes the client send it chunked.
	req, err := http.NewRequest(http.MethodPost, e.base+"/v1/ingest", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("{}\n", 1000))})
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

func TestInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	r := do(t, http.MethodGet, e.base+"/", nil)
	require.Equal(t, http.StatusOK, r.status)
	m := r.json(t)
	v := m["version"].(map[string]any)
	assert.Equal(t, "2.19.0", v["number"])
	assert.Equal(t, "opensearch", v["distribution"])
	r = do(t, http.MethodHead, e.base+"/", nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Empty(t, r.body)
	r = do(t, http.MethodPost, e.base+"/", []byte("{}"))
	requireError(t, r, http.StatusMethodNotAllowed, errTypeMethod)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.Tokens = []secret.Secret{"tok-one", "tok-two"} }})
	tests := []struct {
		name   string
		header []string
		ok     bool
	}{
		{"none", nil, false},
		{"wrong", []string{"Authorization", "Bearer nope"}, false},
		{"prefix of a token", []string{"Authorization", "Bearer tok-on"}, false},
		{"empty bearer", []string{"Authorization", "Bearer "}, false},
		{"wrong scheme", []string{"Authorization", "Token tok-one"}, false},
		{"first", []string{"Authorization", "Bearer tok-one"}, true},
		{"second, lowercase scheme", []string{"Authorization", "bearer tok-two"}, true},
		{"basic with the token as password", []string{"Authorization", "Basic " + basic("fluentbit", "tok-two")}, true},
		{"basic with a wrong password", []string{"Authorization", "Basic " + basic("tok-one", "x")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/v1/ingest", "/_bulk"} {
				r := post(t, e.base+path, "{\"index\":{}}\n{}\n", tt.header...)
				if tt.ok {
					assert.Less(t, r.status, 300, "%s: %s", path, r.body)
					continue
				}
				requireError(t, r, http.StatusUnauthorized, errTypeSecurity)
				assert.Equal(t, `Bearer realm="weir"`, r.header.Get("WWW-Authenticate"))
				assert.NotContains(t, string(r.body), "tok-")
			}
		})
	}
	r := do(t, http.MethodGet, e.base+"/", nil)
	requireError(t, r, http.StatusUnauthorized, errTypeSecurity)
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	e := newEnv(t, envOpts{
		target: &fakeTarget{gate: gate},
		pcfg:   func(c *pipeline.Config) { c.QueueBytes = 1 << 20 },
	})
	defer close(gate)
	doc := `{"pad":"` + strings.Repeat("x", 1000) + `"}` + "\n"
	body := strings.Repeat(doc, 600) // ~600KB: one fits in the 1MiB queue, two do not
	r := post(t, e.base+"/v1/ingest", body)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	for _, path := range []string{"/v1/ingest", "/_bulk"} {
		b := body
		if path == "/_bulk" {
			b = strings.Repeat("{\"index\":{}}\n"+doc, 600)
		}
		r = post(t, e.base+path, b)
		requireError(t, r, http.StatusTooManyRequests, errTypeRejected)
		assert.Equal(t, "1", r.header.Get("Retry-After"))
	}
	// More than the whole queue can ever hold: in bytes, or in records of tiny documents
	// (refused before they are built).
	for _, b := range []string{strings.Repeat(doc, 1100), strings.Repeat("{}\n", 100_000), "[" + strings.Repeat("{},", 100_000) + "{}]"} {
		r = post(t, e.base+"/v1/ingest", b)
		requireError(t, r, http.StatusRequestEntityTooLarge, errTypeTooLarge)
	}
	r = post(t, e.base+"/_bulk", strings.Repeat("{\"index\":{}}\n{}\n", 50_000))
	requireError(t, r, http.StatusRequestEntityTooLarge, errTypeTooLarge)
	// Blank lines cost nothing.
	r = post(t, e.base+"/v1/ingest", strings.Repeat("\n", 900_000))
	requireError(t, r, http.StatusBadRequest, errTypeParse)
}

func TestPausedAndClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.RetryAfter = 1500 * time.Millisecond }})
	e.p.Pause("circuit breaker open")
	for _, path := range []string{"/v1/ingest", "/_bulk"} {
		r := post(t, e.base+path, "{\"index\":{}}\n{}\n")
		er := requireError(t, r, http.StatusServiceUnavailable, errTypeUnavailable)
		assert.Contains(t, er["reason"], "circuit breaker open")
		assert.Equal(t, "2", r.header.Get("Retry-After"), "rounded up to whole seconds")
	}
	e.p.Resume()
	r := post(t, e.base+"/v1/ingest", "{}")
	require.Equal(t, http.StatusAccepted, r.status)

	require.NoError(t, e.p.Shutdown(context.Background()))
	r = post(t, e.base+"/v1/ingest", "{}")
	requireError(t, r, http.StatusServiceUnavailable, errTypeUnavailable)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
}

func TestSyncTimeout(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	e := newEnv(t, envOpts{
		cfg:    func(c *Config) { c.Mode = ModeSync; c.SyncTimeout = 50 * time.Millisecond },
		target: &fakeTarget{gate: gate},
	})
	r := post(t, e.base+"/v1/ingest", "{}")
	er := requireError(t, r, http.StatusGatewayTimeout, errTypeTimeout)
	assert.Contains(t, er["reason"], "will not be lost")
	close(gate)
	require.Eventually(t, func() bool { return len(e.target.received()) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return e.p.QueuedBytes() == 0 }, 5*time.Second, 5*time.Millisecond,
		"the request's records finished and released their queue bytes")
}

func TestShutdownWaitsForSyncRequests(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	e := newEnv(t, envOpts{cfg: syncMode, target: &fakeTarget{gate: gate}})
	answered := make(chan response, 1)
	go func() { answered <- post(t, e.base+"/v1/ingest", "{\"a\":1}\n{\"a\":2}\n") }()
	require.Eventually(t, func() bool { return e.p.QueuedBytes() > 0 }, 5*time.Second, time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- e.src.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a sync request waited for delivery", err)
	case <-time.After(100 * time.Millisecond):
	}
	// No new connections once shutting down.
	_, err := net.DialTimeout("tcp", e.src.Addr().String(), time.Second)
	require.Error(t, err)

	close(gate)
	r := <-answered
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.EqualValues(t, 2, r.json(t)["indexed"])
	require.NoError(t, <-stopped)
	require.NoError(t, e.src.Shutdown(context.Background()), "second Shutdown")
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	defer close(gate)
	e := newEnv(t, envOpts{cfg: syncMode, target: &fakeTarget{gate: gate}})
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post(e.base+"/v1/ingest", "application/json", strings.NewReader("{}"))
		if err != nil {
			answered <- 0 // connection closed: the client sends again
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return e.p.QueuedBytes() > 0 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := e.src.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	code := <-answered
	assert.Contains(t, []int{0, http.StatusServiceUnavailable}, code, "never a success for undelivered documents")
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	p := &fakePipeline{}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"

	never, err := New(cfg, p, WithLogger(quiet))
	require.NoError(t, err)
	require.Nil(t, never.Addr())
	require.NoError(t, never.Shutdown(context.Background()), "without Start")
	require.NoError(t, never.Shutdown(context.Background()), "twice")
	require.ErrorIs(t, never.Start(context.Background()), ErrShutDown)

	s, err := New(cfg, p, WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	require.NoError(t, s.Start(context.Background()), "twice")
	addr := s.Addr().String()

	taken := cfg
	taken.Listen = addr
	s2, err := New(taken, p, WithLogger(quiet))
	require.NoError(t, err)
	err = s2.Start(context.Background())
	require.ErrorContains(t, err, "listen on "+addr)
	require.NoError(t, s2.Shutdown(context.Background()))

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { assert.NoError(t, s.Shutdown(context.Background())) })
	}
	wg.Wait()
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "listener closed")
}

// fakePipeline is a stand-in for unit tests that need no delivery.
type fakePipeline struct {
	err     error
	paused  string
	mu      sync.Mutex
	records int
}

func (f *fakePipeline) Reserve(context.Context, int64) (*pipeline.Reservation, error) {
	return nil, nil
}

func (f *fakePipeline) TrySubmitReserved(_ *pipeline.Reservation, ack *pipeline.Ack, recs []pipeline.Record, _ int64) error {
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	f.records += len(recs)
	f.mu.Unlock()
	return nil
}

func (f *fakePipeline) Paused() (bool, string) { return f.paused != "", f.paused }
func (f *fakePipeline) Op() pipeline.Op        { return pipeline.OpCreate }
func (f *fakePipeline) Capacity() int64        { return 64 << 20 }

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		typ    string
	}{
		{pipeline.ErrQueueFull, 429, errTypeRejected},
		{fmt.Errorf("wrapped: %w", pipeline.ErrTooLarge), 413, errTypeTooLarge},
		{pipeline.ErrClosed, 503, errTypeUnavailable},
		{fmt.Errorf("surprise"), 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			s, err := New(cfg, &fakePipeline{err: tt.err}, WithLogger(quiet))
			require.NoError(t, err)
			for _, path := range []string{"/v1/ingest", "/_bulk"} {
				w := httptest.NewRecorder()
				req, _ := http.NewRequest(http.MethodPost, path, strings.NewReader("{\"index\":{}}\n{}\n"))
				s.mux.ServeHTTP(w, req)
				r := response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
				requireError(t, r, tt.status, tt.typ)
			}
		})
	}
}

func TestIngestUsesPipelineOp(t *testing.T) {
	t.Parallel()
	var got []pipeline.Record
	fp := &recordingPipeline{fn: func(recs []pipeline.Record) { got = recs }}
	s, err := New(DefaultConfig(), fp, WithLogger(quiet))
	require.NoError(t, err)
	w := httptest.NewRecorder()
	req, _ := http.NewRequest(http.MethodPost, "/v1/ingest/idx", strings.NewReader("{}\n{}"))
	s.mux.ServeHTTP(w, req)
	require.Equal(t, http.StatusAccepted, w.Code)
	require.Len(t, got, 2)
	for _, r := range got {
		assert.Equal(t, pipeline.OpCreate, r.Op)
		assert.Equal(t, "idx", r.Index)
		assert.Equal(t, got[0].Key, r.Key, "one key per request")
	}
}

type recordingPipeline struct {
	fakePipeline
	fn func([]pipeline.Record)
}

func (r *recordingPipeline) TrySubmitReserved(_ *pipeline.Reservation, ack *pipeline.Ack, recs []pipeline.Record, n int64) error {
	r.fn(append([]pipeline.Record(nil), recs...))
	return nil
}

func TestSyncUndelivered(t *testing.T) {
	t.Parallel()
	leaveSecond := func(rec *pipeline.Record) pipeline.Result {
		if bytes.Contains(rec.Doc, []byte(`"n":2`)) {
			return pipeline.Result{Outcome: pipeline.Undelivered, Reason: "shutdown"}
		}
		return pipeline.Result{Outcome: pipeline.Indexed, Status: 201}
	}
	e := newEnv(t, envOpts{cfg: syncMode, target: &fakeTarget{fn: leaveSecond}})
	r := post(t, e.base+"/v1/ingest", "{\"n\":1}\n{\"n\":2}\n")
	er := requireError(t, r, http.StatusServiceUnavailable, errTypeUnavailable)
	assert.Contains(t, er["reason"], "1 of 2 documents were not delivered")
	assert.Equal(t, "1", r.header.Get("Retry-After"))

	r = post(t, e.base+"/_bulk", "{\"index\":{}}\n{\"n\":1}\n{\"index\":{}}\n{\"n\":2}\n")
	require.Equal(t, http.StatusOK, r.status)
	m := r.json(t)
	assert.Equal(t, true, m["errors"])
	items := m["items"].([]any)
	assert.EqualValues(t, 201, items[0].(map[string]any)["index"].(map[string]any)["status"])
	assert.EqualValues(t, 503, items[1].(map[string]any)["index"].(map[string]any)["status"], "the shipper sends it again")
}
