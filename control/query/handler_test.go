package query

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/control/query/querytest"
)

const (
	testAccount   = "123456789012"
	testDomainARN = "arn:aws:es:eu-west-1:123456789012:domain/logs"
)

// upstream is a fake OpenSearch node that records what reached it.
type upstream struct {
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	Method, Path, Query, Body, ContentType, Authorization string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Get("Content-Type"), r.Header.Get("Authorization")})
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"hits":{"total":{"value":0}}}`)
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func testHandlerConfig() Config {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Service, cfg.Region, cfg.Account, cfg.Domain = "es", "eu-west-1", testAccount, "logs"
	cfg.WeirPolicy = `{"Version":"2012-10-17","Statement":[
		{"Sid":"WeirReads","Effect":"Allow","Action":["es:ESHttpGet","es:ESHttpPost"],"Resource":"` + testDomainARN + `/*"},
		{"Sid":"NoCatIndices","Effect":"Deny","Action":"es:ESHttpGet","Resource":"` + testDomainARN + `/_cat/indices"}]}`
	cfg.APIKeys = []APIKey{
		{Name: "ana", Hash: HashAPIKey("key-analyst"), Role: "analyst"},
		{Name: "root", Hash: HashAPIKey("key-admin"), Role: "admin"},
	}
	cfg.Roles = map[string]Role{
		"analyst": {Policy: `{"Version":"2012-10-17","Statement":{"Sid":"LogsReads","Effect":"Allow","Action":["es:ESHttpGet","es:ESHttpPost"],"Resource":"` + testDomainARN + `/logs-*"}}`},
		"admin":   {Policy: `{"Version":"2012-10-17","Statement":{"Sid":"Everything","Effect":"Allow","Action":"es:*","Resource":"*"}}`},
	}
	return cfg
}

func newTestHandler(t *testing.T, cfg Config) (*Handler, *upstream, *prometheus.Registry) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	up := &upstream{}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	h, err := New(cfg, []string{srv.URL}, WithRegisterer(reg), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	return h, up, reg
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, h http.Handler, method, target, key string, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if key != "" {
		r.Header.Set("Authorization", "ApiKey "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return answer{w.Code, w.Header(), out}
}

func TestHandlerAuthorizesAndForwards(t *testing.T) {
	t.Parallel()
	h, up, _ := newTestHandler(t, testHandlerConfig())

	a := call(t, h, "POST", "/v1/query/logs-2026.11/_search?size=1", "key-analyst", `{"query":{"match_all":{}}}`, "Content-Type", "application/json")
	require.Equal(t, 200, a.status, "%v", a.body)
	assert.Equal(t, "application/json; charset=UTF-8", a.header.Get("Content-Type"))
	seen := up.requests()
	require.Len(t, seen, 1)
	assert.Equal(t, seenRequest{"POST", "/logs-2026.11/_search", "size=1", `{"query":{"match_all":{}}}`, "application/json", ""}, seen[0],
		"the caller's credentials are never forwarded")

	// Ids are re-escaped.
	a = call(t, h, "GET", "/v1/query/logs-1/_doc/a%2Fb", "key-analyst", "")
	require.Equal(t, 200, a.status, "%v", a.body)
	assert.Equal(t, "/logs-1/_doc/a%2Fb", up.requests()[1].Path)

	// The analyst role does not reach secret-*; the body names the deciding policy.
	a = call(t, h, "GET", "/v1/query/secret-1/_search", "key-analyst", "")
	require.Equal(t, 403, a.status)
	assert.Equal(t, ReasonRolePolicy, a.body["reason"])
	assert.Equal(t, "es:ESHttpGet", a.body["action"])
	assert.Equal(t, testDomainARN+"/secret-1/_search", a.body["resource"])
	assert.Equal(t, "ImplicitDeny", a.body["role_policy"].(map[string]any)["decision"])
	assert.Equal(t, "Allow", a.body["weir_policy"].(map[string]any)["decision"])

	// An index list is authorized index by index.
	a = call(t, h, "GET", "/v1/query/logs-1,secret-1/_search", "key-analyst", "")
	require.Equal(t, 403, a.status)
	assert.Equal(t, testDomainARN+"/secret-1/_search", a.body["resource"])

	// weir's own policy bounds even the admin role.
	a = call(t, h, "GET", "/v1/query/_cat/indices", "key-admin", "")
	require.Equal(t, 403, a.status)
	assert.Equal(t, ReasonWeirPolicy, a.body["reason"])
	assert.Contains(t, a.body["weir_policy"].(map[string]any)["explain"], `Statement "NoCatIndices"`)
	a = call(t, h, "GET", "/v1/query/_cluster/health", "key-admin", "")
	require.Equal(t, 200, a.status)

	// Structural refusals come before any policy.
	for _, c := range []struct{ method, path, reason string }{
		{"POST", "/v1/query/x/_doc", ReasonWrite},
		{"POST", "/v1/query/x/_bulk", ReasonWrite},
		{"POST", "/v1/query/x/_delete_by_query", ReasonWrite},
		{"GET", "/v1/query/_plugins/_security/api/roles", ReasonAdminAPI},
	} {
		a = call(t, h, c.method, c.path, "key-admin", "{}")
		assert.Equal(t, 403, a.status, c.path)
		assert.Equal(t, c.reason, a.body["reason"], c.path)
	}
	assert.Len(t, up.requests(), 3, "refused requests never reach OpenSearch")

	assert.Equal(t, 3.0, testutil.ToFloat64(h.m.requests.WithLabelValues("allow", reasonOK)))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.m.requests.WithLabelValues("deny", ReasonRolePolicy)))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.m.requests.WithLabelValues("deny", ReasonWeirPolicy)))
	assert.Equal(t, 3.0, testutil.ToFloat64(h.m.requests.WithLabelValues("deny", ReasonWrite)))
}

func TestHandlerAuthentication(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHandler(t, testHandlerConfig())
	a := call(t, h, "GET", "/v1/query/logs-1/_search", "", "")
	assert.Equal(t, 401, a.status)
	assert.Equal(t, `Bearer realm="weir"`, a.header.Get("WWW-Authenticate"))
	assert.Equal(t, reasonNoCredentials, a.body["reason"])
	a = call(t, h, "GET", "/v1/query/logs-1/_search", "wrong", "")
	assert.Equal(t, 401, a.status)
	assert.Equal(t, reasonInvalidAPIKey, a.body["reason"])
	// Unauthenticated callers learn nothing about routes: a write is 401 too.
	a = call(t, h, "POST", "/v1/query/x/_bulk", "", "")
	assert.Equal(t, 401, a.status)
}

func TestHandlerConsoleProxy(t *testing.T) {
	t.Parallel()
	h, up, _ := newTestHandler(t, testHandlerConfig())
	target := "/api/console/proxy?path=" + "%2Flogs-1%2F_search%3Fsize%3D2" + "&method=GET"
	a := call(t, h, "POST", target, "key-analyst", `{"size":1}`, "osd-xsrf", "true", "Content-Type", "application/json")
	require.Equal(t, 200, a.status, "%v", a.body)
	last := up.requests()[0]
	assert.Equal(t, "GET", last.Method)
	assert.Equal(t, "/logs-1/_search", last.Path)
	assert.Equal(t, "size=2", last.Query)
	assert.Equal(t, `{"size":1}`, last.Body)

	a = call(t, h, "POST", target, "key-analyst", `{}`)
	assert.Equal(t, 400, a.status)
	assert.Equal(t, reasonXSRF, a.body["reason"])

	a = call(t, h, "POST", "/api/console/proxy?path=%2Flogs-1&method=DELETE", "key-admin", "", "osd-xsrf", "1")
	assert.Equal(t, 403, a.status)
	assert.Equal(t, ReasonWrite, a.body["reason"])

	a = call(t, h, "GET", target, "key-analyst", "", "osd-xsrf", "1")
	assert.Equal(t, 405, a.status)
	assert.Len(t, up.requests(), 1)
}

func TestHandlerLimitsAndFallback(t *testing.T) {
	t.Parallel()
	cfg := testHandlerConfig()
	cfg.MaxBodyBytes = 64
	h, _, _ := newTestHandler(t, cfg)
	a := call(t, h, "POST", "/v1/query/logs-1/_search", "key-analyst", `{"query":{"match":{"msg":"`+strings.Repeat("x", 100)+`"}}}`)
	assert.Equal(t, 413, a.status)

	a = call(t, h, "POST", "/v1/query/logs-*/_msearch", "key-analyst", "{\"index\":\"secret-1\"}\n{}\n")
	assert.Equal(t, 403, a.status)
	assert.Equal(t, ReasonMultiSearchIndex, a.body["reason"])
}

func TestHandlerTimeout(t *testing.T) {
	t.Parallel()
	cfg := testHandlerConfig()
	cfg.Timeout = 50 * time.Millisecond
	require.NoError(t, cfg.Validate())
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	h, err := New(cfg, []string{srv.URL}, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	a := call(t, h, "GET", "/v1/query/logs-1/_search", "key-analyst", "")
	assert.Equal(t, 504, a.status)
}

func TestOffAnswers404(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Off(nil).ServeHTTP(w, httptest.NewRequest("GET", "/v1/query/x/_search", bytes.NewReader(nil)))
	assert.Equal(t, 404, w.Code)
	assert.Contains(t, w.Body.String(), "query endpoint is off")
}

func TestHandlerUnmappedCallerAndAuditLine(t *testing.T) {
	t.Parallel()
	iss := querytest.NewIssuer(t)
	cfg := testHandlerConfig()
	cfg.OIDC = OIDCConfig{Issuer: iss.URL, ClientIDs: []string{"app"}, ClockSkew: time.Minute, SubjectClaim: "sub"}
	cfg.RoleMapping = RoleMapping{Claim: "cognito:groups", MultiValue: MultiValueSortedJoin, Table: map[string]string{"analysts": "analyst"}}
	require.NoError(t, cfg.Validate())
	up := &upstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	var logs bytes.Buffer
	var mu sync.Mutex
	h, err := New(cfg, []string{srv.URL}, WithLogger(slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))))
	require.NoError(t, err)
	tok := iss.Token(t, map[string]any{"aud": "app", "sub": "u-7", "cognito:groups": []string{"contractors", "interns"}})

	r := httptest.NewRequest("GET", "/v1/query/logs-1/_search", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, 403, w.Code, w.Body.String())
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, ReasonNoRole, body["reason"])
	assert.Contains(t, body["message"], `"contractors,interns"`)
	assert.Empty(t, up.requests())

	mu.Lock()
	defer mu.Unlock()
	var line map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &line), logs.String())
	for k, v := range map[string]any{"msg": "query", "subject": "u-7", "via": "oidc", "role": "", "method": "GET",
		"path": "/logs-1/_search", "decision": "deny", "reason": ReasonNoRole, "status": 403.0} {
		assert.Equal(t, v, line[k], k)
	}
	assert.Contains(t, line, "latency_ms")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestHandlerLifecycle(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHandler(t, testHandlerConfig())
	require.NoError(t, h.Shutdown(context.Background()), "without Start")
	require.NoError(t, h.Start(context.Background()))
	a := call(t, h, "GET", "/v1/query/logs-1/_search", "key-analyst", "")
	assert.Equal(t, 200, a.status)
	require.NoError(t, h.Shutdown(context.Background()))
	require.NoError(t, h.Shutdown(context.Background()), "twice")

	_, err := New(DefaultConfig(), []string{"http://x"})
	assert.Error(t, err, "not enabled")
	cfg := testHandlerConfig()
	cfg.WeirPolicy, cfg.WeirPolicyFile = "", "/does/not/exist.json"
	_, err = New(cfg, []string{"http://x"})
	assert.ErrorContains(t, err, "query.weir_policy_file")
}
