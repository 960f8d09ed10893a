package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/control/query"
	"github.com/weir-ingest/weir/control/query/querytest"
	"github.com/weir-ingest/weir/internal/sigv4check"
	"github.com/weir-ingest/weir/internal/testenv"
)

const (
	e2eAccount   = "123456789012"
	e2eDomainARN = "arn:aws:es:eu-west-1:123456789012:domain/logs"
	e2eClientID  = "weir-console"
	e2eAPIKey    = "weir_e2e_analyst_key"
)

// queryCaller sends read queries to the control port.
type queryCaller struct {
	t    *testing.T
	base string
}

type queryAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (q queryCaller) do(method, path, auth, body string, hdr ...string) queryAnswer {
	q.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, q.base+path, rd)
	require.NoError(q.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(q.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(q.t, err)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return queryAnswer{resp.StatusCode, resp.Header, out, string(raw)}
}

func writeJSONFile(t *testing.T, name, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
	return p
}

// TestQueryEndpointEndToEnd: an OIDC issuer on loopback issues tokens with multi-valued
// attributes; callers mapped to different roles get exactly the reads their role and
// weir's own policy allow, against the real node, every request signed with weir's
// identity and checked by an independent SigV4 verifier in front of it.
func TestQueryEndpointEndToEnd(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	node := osClient{t, osURL}
	run := strings.TrimPrefix(uniqueIndex(t, "q"), "q-")
	logs, secret := "logs-"+run, "secret-"+run
	for _, ix := range []string{logs, secret} {
		st, out := node.do("PUT", "/"+ix+"/_doc/a%2Fb?refresh=true", map[string]any{"msg": "first", "n": 1})
		require.Equal(t, 201, st, "%v", out)
		st, out = node.do("PUT", "/"+ix+"/_doc/2?refresh=true", map[string]any{"msg": "second", "n": 2})
		require.Equal(t, 201, st, "%v", out)
		t.Cleanup(func() { node.do("DELETE", "/"+ix, nil) })
	}

	target, err := url.Parse(osURL)
	require.NoError(t, err)
	proxy := &verifyingProxy{
		verifier: sigv4check.Verifier{
			Region: "eu-west-1", Service: auth.ServiceOpenSearch,
			SecretFor: func(id string) (string, string, bool) {
				return "test-secret-key", "test-session-token", id == "AKIDWEIRTEST"
			},
			Now: time.Now, MaxSkew: 5 * time.Minute, RequireContentSHA256: true, Normalize: true,
		},
		next: httputil.NewSingleHostReverseProxy(target),
	}
	signed := httptest.NewServer(proxy)
	defer signed.Close()

	iss := querytest.NewIssuer(t)
	cfg := testConfig(t, signed.URL, "sync")
	cfg.AWS.Region = "eu-west-1"
	cfg.AWS.EndpointURL = "http://127.0.0.1:1" // no STS here: the caller-identity log just warns
	cfg.AWS.Credentials.Provider = auth.ProviderStatic
	cfg.AWS.Credentials.AccessKeyID = "AKIDWEIRTEST"
	cfg.AWS.Credentials.SecretAccessKey = "test-secret-key"
	cfg.AWS.Credentials.SessionToken = "test-session-token"
	cfg.OpenSearch.SigV4.Enabled = true
	cfg.Query.Enabled = true
	cfg.Query.Domain, cfg.Query.Account = "logs", e2eAccount
	// weir's role may read the whole domain and write bulk, but not list indices.
	cfg.Query.WeirPolicyFile = writeJSONFile(t, "weir.json", `{"Version": "2012-10-17", "Statement": [
		{"Sid": "WeirIngestAndReads", "Effect": "Allow", "Action": ["es:ESHttpGet", "es:ESHttpPost"], "Resource": "`+e2eDomainARN+`/*"},
		{"Sid": "WeirNoCatIndices", "Effect": "Deny", "Action": "es:ESHttpGet", "Resource": "`+e2eDomainARN+`/_cat/indices"}]}`)
	cfg.Query.PolicyCheck = query.PolicyCheckStrict
	cfg.Query.OIDC.Issuer, cfg.Query.OIDC.ClientIDs = iss.URL, []string{e2eClientID}
	cfg.Query.OIDC.SubjectClaim = "email"
	cfg.Query.RoleMapping = query.RoleMapping{
		Claim: "custom:groups", MultiValue: query.MultiValueSortedJoin,
		Table:        map[string]string{"analysts,readers": "analyst", "admins": "admin"},
		FallbackRole: "guest",
	}
	cfg.Query.Roles = map[string]query.Role{
		"analyst": {PolicyFile: writeJSONFile(t, "analyst.json", `{"Version": "2012-10-17", "Statement": [
			{"Sid": "AnalystLogs", "Effect": "Allow", "Action": ["es:ESHttpGet", "es:ESHttpPost"], "Resource": "`+e2eDomainARN+`/logs-*"}]}`)},
		"admin": {Policy: `{"Version": "2012-10-17", "Statement": {"Sid": "AdminAll", "Effect": "Allow", "Action": "es:*", "Resource": "*"}}`},
		"guest": {Policy: `{"Version": "2012-10-17", "Statement": {"Sid": "GuestHealth", "Effect": "Allow", "Action": "es:ESHttpGet", "Resource": "` + e2eDomainARN + `/_cluster/health"}}`},
	}
	cfg.Query.APIKeys = []query.APIKey{{Name: "reporting", Hash: query.HashAPIKey(e2eAPIKey), Role: "analyst"}}
	d, _ := startDaemon(t, cfg)
	defer func() { _, _ = d.shutdown(t.Context()) }()
	q := queryCaller{t, "http://" + d.ctrl.Addr()}

	token := func(groups any) string {
		return "Bearer " + iss.Token(t, map[string]any{"aud": e2eClientID, "sub": "u-1", "email": "ana@example.com", "custom:groups": groups})
	}
	analyst := token([]any{"readers", "analysts"}) // an array claim
	admin := token("admins")                       // a comma-separated string claim
	hits := func(a queryAnswer) int {
		t.Helper()
		require.Equal(t, 200, a.status, a.raw)
		return int(a.body["hits"].(map[string]any)["total"].(map[string]any)["value"].(float64))
	}

	t.Run("analyst reads logs", func(t *testing.T) {
		assert.Equal(t, 2, hits(q.do("POST", "/v1/query/"+logs+"/_search", analyst, `{"query":{"match_all":{}}}`)))
		assert.Equal(t, 2, hits(q.do("GET", "/v1/query/"+logs[:len(logs)-1]+"*/_search?q=msg:first%20OR%20msg:second", analyst, "")))
		a := q.do("GET", "/v1/query/"+logs+"/_count", analyst, "")
		require.Equal(t, 200, a.status, a.raw)
		assert.EqualValues(t, 2, a.body["count"])
		a = q.do("GET", "/v1/query/"+logs+"/_doc/a%2Fb", analyst, "")
		require.Equal(t, 200, a.status, a.raw)
		assert.Equal(t, "a/b", a.body["_id"])
		assert.Equal(t, "application/json; charset=UTF-8", a.header.Get("Content-Type"))
		a = q.do("GET", "/v1/query/"+logs+"/_mapping", analyst, "")
		require.Equal(t, 200, a.status, a.raw)
		assert.Contains(t, a.body, logs)
		a = q.do("POST", "/v1/query/"+logs+"/_msearch", analyst, "{}\n{\"size\":0}\n{\"index\":\""+logs+"\"}\n{\"query\":{\"term\":{\"n\":2}}}\n",
			"Content-Type", "application/x-ndjson")
		require.Equal(t, 200, a.status, a.raw)
		assert.Len(t, a.body["responses"], 2)
		// A missing document is OpenSearch's 404, streamed back as it is.
		a = q.do("GET", "/v1/query/"+logs+"/_doc/nope", analyst, "")
		assert.Equal(t, 404, a.status, a.raw)
		assert.Equal(t, false, a.body["found"])
	})

	t.Run("analyst is refused secret", func(t *testing.T) {
		a := q.do("POST", "/v1/query/"+secret+"/_search", analyst, `{}`)
		require.Equal(t, 403, a.status, a.raw)
		assert.Equal(t, "role_policy", a.body["reason"])
		assert.Equal(t, "analyst", a.body["role"])
		assert.Equal(t, "es:ESHttpPost", a.body["action"])
		assert.Equal(t, e2eDomainARN+"/"+secret+"/_search", a.body["resource"])
		assert.Contains(t, a.body["role_policy"].(map[string]any)["explain"], "no statement allows es:ESHttpPost")
		for _, path := range []string{"/v1/query/" + logs + "," + secret + "/_search", "/v1/query/" + secret + "/_doc/2"} {
			a = q.do("GET", path, analyst, "")
			assert.Equal(t, 403, a.status, a.raw)
		}
		a = q.do("POST", "/v1/query/logs-*/_msearch", analyst, "{\"index\":\""+secret+"\"}\n{}\n", "Content-Type", "application/x-ndjson")
		assert.Equal(t, 403, a.status, a.raw)
		assert.Equal(t, "msearch_index", a.body["reason"])
		a = q.do("POST", "/v1/query/"+logs+"/_search", analyst, `{"query":{"terms":{"msg":{"index":"`+secret+`","id":"2","path":"msg"}}}}`)
		assert.Equal(t, 403, a.status, a.raw)
		assert.Equal(t, "cross_index_lookup", a.body["reason"])
	})

	t.Run("weir's policy bounds even admin", func(t *testing.T) {
		assert.Equal(t, 2, hits(q.do("GET", "/v1/query/"+secret+"/_search", admin, "")))
		a := q.do("GET", "/v1/query/_cat/indices?format=json", admin, "")
		require.Equal(t, 403, a.status, a.raw)
		assert.Equal(t, "weir_policy", a.body["reason"])
		assert.Equal(t, "Allow", a.body["role_policy"].(map[string]any)["decision"])
		assert.Contains(t, a.body["weir_policy"].(map[string]any)["explain"], `denied by Statement "WeirNoCatIndices"`)
		a = q.do("GET", "/v1/query/_cluster/health", admin, "")
		require.Equal(t, 200, a.status, a.raw)
		assert.NotEmpty(t, a.body["status"])
	})

	t.Run("writes are refused structurally", func(t *testing.T) {
		for _, w := range []struct{ method, path, body string }{
			{"POST", "/v1/query/" + logs + "/_doc", `{"msg":"planted"}`},
			{"PUT", "/v1/query/" + logs + "/_doc/3", `{"msg":"planted"}`},
			{"POST", "/v1/query/_bulk", "{\"index\":{\"_index\":\"" + logs + "\"}}\n{\"msg\":\"planted\"}\n"},
			{"POST", "/v1/query/" + logs + "/_delete_by_query", `{"query":{"match_all":{}}}`},
			{"POST", "/v1/query/" + logs + "/_update_by_query", `{"script":{"source":"ctx._source.msg='x'"}}`},
			{"DELETE", "/v1/query/" + logs, ""},
			{"GET", "/v1/query/_plugins/_security/api/roles", ""},
		} {
			a := q.do(w.method, w.path, admin, w.body)
			assert.Equal(t, 403, a.status, "%s %s: %s", w.method, w.path, a.raw)
			assert.Contains(t, []any{"write", "admin_api"}, a.body["reason"], a.raw)
		}
		a := q.do("POST", "/api/console/proxy?path=/"+logs+"/_doc/2&method=DELETE", admin, "", "osd-xsrf", "true")
		assert.Equal(t, 403, a.status, a.raw)
		assert.Equal(t, "write", a.body["reason"])
		assert.Equal(t, 2, node.count(logs), "nothing was written or deleted")
	})

	t.Run("console proxy", func(t *testing.T) {
		path := "/api/console/proxy?path=" + url.QueryEscape("/"+logs+"/_search?size=1") + "&method=GET"
		a := q.do("POST", path, analyst, `{"query":{"term":{"n":2}}}`, "osd-xsrf", "true")
		assert.Equal(t, 1, hits(a))
		a = q.do("POST", path, analyst, `{}`)
		assert.Equal(t, 400, a.status, a.raw)
		assert.Equal(t, "xsrf", a.body["reason"])
		a = q.do("POST", "/api/console/proxy?path="+url.QueryEscape("/"+secret+"/_search")+"&method=POST", analyst, `{}`, "osd-xsrf", "true")
		assert.Equal(t, 403, a.status, a.raw)
	})

	t.Run("credentials", func(t *testing.T) {
		a := q.do("GET", "/v1/query/"+logs+"/_search", "", "")
		assert.Equal(t, 401, a.status)
		assert.True(t, strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer"), a.header.Get("WWW-Authenticate"))
		expired := "Bearer " + iss.Token(t, map[string]any{"aud": e2eClientID, "custom:groups": "admins", "exp": time.Now().Add(-10 * time.Minute)})
		a = q.do("GET", "/v1/query/"+logs+"/_search", expired, "")
		assert.Equal(t, 401, a.status)
		assert.Contains(t, a.body["message"], "expired")
		assert.Contains(t, a.header.Get("WWW-Authenticate"), `error="invalid_token"`)
		forged := "Bearer " + iss.Forge(t, map[string]any{"aud": e2eClientID, "custom:groups": "admins"})
		a = q.do("GET", "/v1/query/"+logs+"/_search", forged, "")
		assert.Equal(t, 401, a.status)
		assert.Contains(t, a.body["message"], "signature")
		otherApp := "Bearer " + iss.Token(t, map[string]any{"aud": "another-app", "custom:groups": "admins"})
		a = q.do("GET", "/v1/query/"+logs+"/_search", otherApp, "")
		assert.Equal(t, 401, a.status)
		assert.Equal(t, 2, hits(q.do("GET", "/v1/query/"+logs+"/_search", "ApiKey "+e2eAPIKey, "")))
		a = q.do("GET", "/v1/query/"+logs+"/_search", "ApiKey not-the-key", "")
		assert.Equal(t, 401, a.status)
	})

	t.Run("unmapped caller gets the fallback role", func(t *testing.T) {
		contractor := token([]any{"contractors", "readers"})
		a := q.do("GET", "/v1/query/_cluster/health", contractor, "")
		assert.Equal(t, 200, a.status, a.raw)
		a = q.do("GET", "/v1/query/"+logs+"/_search", contractor, "")
		assert.Equal(t, 403, a.status, a.raw)
		assert.Equal(t, "guest", a.body["role"])
		assert.Contains(t, a.body["role_policy"].(map[string]any)["explain"], "no statement allows")
	})

	t.Run("key rotation", func(t *testing.T) {
		before := iss.JWKSFetches.Load()
		iss.Rotate(t, false)
		fresh := token([]any{"analysts", "readers"})
		assert.Equal(t, 2, hits(q.do("GET", "/v1/query/"+logs+"/_search", fresh, "")))
		assert.Greater(t, iss.JWKSFetches.Load(), before, "the new key was fetched")
		require.Eventually(t, func() bool {
			return q.do("GET", "/v1/query/"+logs+"/_search", analyst, "").status == 401
		}, 5*time.Second, 20*time.Millisecond, "a token signed with the withdrawn key is refused")
	})

	assert.Zero(t, proxy.bad.Load(), "every forwarded query was signed correctly (verifier: %v)", proxy.lastErr.Load())
	assert.Positive(t, proxy.ok.Load())

	resp, err := http.Get(q.base + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`weir_query_requests_total{decision="allow",reason="ok"}`,
		`weir_query_requests_total{decision="deny",reason="weir_policy"} 1`,
		`weir_query_requests_total{decision="deny",reason="role_policy"}`,
		`weir_query_requests_total{decision="deny",reason="write"}`,
		`weir_query_requests_total{decision="unauthenticated",reason="invalid_token"}`,
	} {
		assert.Contains(t, string(metrics), want)
	}
}

// TestQueryEndpointOffByDefault: without a query section the routes answer 404 with a hint.
func TestQueryEndpointOffByDefault(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	d, _ := startDaemon(t, testConfig(t, osURL, "sync"))
	defer func() { _, _ = d.shutdown(t.Context()) }()
	q := queryCaller{t, "http://" + d.ctrl.Addr()}
	for _, p := range []string{"/v1/query/x/_search", "/api/console/proxy?path=/x/_search&method=GET"} {
		a := q.do("POST", p, "", "{}")
		assert.Equal(t, 404, a.status, p)
		assert.Contains(t, a.body["message"], "query endpoint is off", fmt.Sprint(a.body))
	}
}
