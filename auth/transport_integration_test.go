package auth

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/sigv4check"
)

// receiver stands in for the domain: it verifies every request with the
// independent verifier, from the request as it arrived on the wire.
type receiver struct {
	verifier sigv4check.Verifier
	mu       sync.Mutex
	got      []received
}

type received struct {
	path     string // r.URL.EscapedPath()
	target   string // r.RequestURI
	segments []string
	body     []byte // decompressed
	err      error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		_, err = rc.verifier.Verify(r, raw)
	}
	body := raw
	if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(raw)); err == nil {
			body, err = io.ReadAll(zr)
		}
	}
	if err == nil && int64(len(raw)) != r.ContentLength {
		err = fmt.Errorf("content-length %d, body %d bytes", r.ContentLength, len(raw))
	}
	var segs []string
	for _, s := range strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/") {
		dec, derr := url.PathUnescape(s)
		if derr != nil && err == nil {
			err = derr
		}
		segs = append(segs, dec)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{r.URL.EscapedPath(), r.RequestURI, segs, body, err})
	rc.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message":%q}`, err.Error())
		return
	}
	_, _ = io.WriteString(w, `{"errors":false}`)
}

func (rc *receiver) last(t *testing.T) received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.NotEmpty(t, rc.got)
	return rc.got[len(rc.got)-1]
}

func TestTransportAgainstVerifier(t *testing.T) {
	t.Parallel()
	bulk := strings.Repeat(`{"index":{"_index":"logs","_id":"a b/c"}}`+"\n"+`{"msg":"héllo wörld","n":1}`+"\n", 200)
	type request struct {
		method, index, id, query, body string
	}
	tests := []struct {
		name     string
		service  string
		compress bool
		req      request
	}{
		{"bulk", "es", false, request{method: "POST", index: "_bulk", body: bulk}},
		{"bulk gzip", "es", true, request{method: "POST", index: "_bulk", body: bulk}},
		{"bulk aoss gzip", "aoss", true, request{method: "POST", index: "_bulk", body: bulk}},
		{"search with query", "es", false, request{method: "GET", index: "logs", id: "_search", query: "q=msg:a+b&size=10&filter_path=hits.hits._id"}},
		{"empty body", "aoss", false, request{method: "GET", index: "logs"}},
	}
	for _, id := range []string{"plain", "a b", "a/b", "a+b", "100%", "50%25", "#frag", "what?x=1", "ünïcödé", "日本語", ".", "..", "a:b@c=d&e", "~tilde_", "semi;colon,comma"} {
		tests = append(tests,
			struct {
				name     string
				service  string
				compress bool
				req      request
			}{"doc id " + id, "es", false, request{method: "PUT", index: "idx " + id, id: id, body: `{"f":1}`}},
		)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			p := &countingProvider{clock: clock, lifetime: time.Hour}
			rc := &receiver{verifier: sigv4check.Verifier{
				Region: "eu-central-1", Service: tc.service, Normalize: true, RequireContentSHA256: true,
				Now: clock.Now, MaxSkew: 5 * time.Minute,
				SecretFor: func(akid string) (string, string, bool) {
					n, ok := strings.CutPrefix(akid, "AKID")
					return "secret" + n, "token" + n, ok
				},
			}}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			creds := newTestCredentials(t, p, clock)
			client := &http.Client{Transport: NewTransport(srv.Client().Transport, creds,
				SigningConfig{Service: tc.service, Region: "eu-central-1", Compress: tc.compress})}

			path := "/" + EscapePathSegment(tc.req.index)
			if tc.req.id != "" && tc.req.index != "_bulk" && tc.req.id != "_search" {
				path += "/_doc/" + EscapePathSegment(tc.req.id)
			} else if tc.req.id == "_search" {
				path += "/_search"
			}
			target := srv.URL + path
			if tc.req.query != "" {
				target += "?" + tc.req.query
			}
			var body io.Reader
			if tc.req.body != "" {
				body = strings.NewReader(tc.req.body)
			}
			req, err := http.NewRequest(tc.req.method, target, body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			require.NoError(t, err)
			msg, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()

			got := rc.last(t)
			require.NoError(t, got.err, "verifier on %s", got.target)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(msg))
			assert.Equal(t, path, got.path, "the path arrives as weir escaped it")
			assert.Equal(t, tc.req.body, string(got.body))
			if tc.req.id != "" && tc.req.index != "_bulk" && tc.req.id != "_search" {
				assert.Equal(t, []string{tc.req.index, "_doc", tc.req.id}, got.segments, "OpenSearch decodes the original index and id")
			}
		})
	}
}
