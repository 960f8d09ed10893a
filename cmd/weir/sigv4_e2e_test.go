package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/internal/sigv4check"
	"github.com/weir-ingest/weir/internal/testenv"
)

// verifyingProxy stands where Amazon OpenSearch Service would: it checks every request's
// SigV4 signature with an implementation independent of aws-sdk-go-v2, refuses bad ones
// with 403 as AWS does, and forwards good ones (decompressed) to the real node.
type verifyingProxy struct {
	verifier sigv4check.Verifier
	next     *httputil.ReverseProxy
	ok, bad  atomic.Int64
	lastErr  atomic.Pointer[string]
}

func (p *verifyingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if _, err := p.verifier.Verify(r, body); err != nil {
		p.bad.Add(1)
		msg := err.Error()
		p.lastErr.Store(&msg)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"message":"The request signature we calculated does not match the signature you provided."}`)
		return
	}
	p.ok.Add(1)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		require.NoError(nil, err)
		body, _ = io.ReadAll(zr)
		r.Header.Del("Content-Encoding")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.next.ServeHTTP(w, r)
}

func TestSigV4SignedBulkThroughIndependentVerifier(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	target, err := url.Parse(osURL)
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		service  string
		compress bool
	}{
		{"es", auth.ServiceOpenSearch, false},
		{"aoss-gzip", auth.ServiceOpenSearchServerless, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := &verifyingProxy{
				verifier: sigv4check.Verifier{
					Region: "eu-west-1", Service: tc.service,
					SecretFor: func(id string) (string, string, bool) {
						return "test-secret-key", "test-session-token", id == "AKIDWEIRTEST"
					},
					Now: time.Now, MaxSkew: 5 * time.Minute,
					RequireContentSHA256: true,
					Normalize:            true,
				},
				next: httputil.NewSingleHostReverseProxy(target),
			}
			srv := httptest.NewServer(proxy)
			defer srv.Close()

			cfg := testConfig(t, srv.URL, "sync")
			cfg.AWS.Region = "eu-west-1"
			cfg.AWS.Credentials.Provider = auth.ProviderStatic
			cfg.AWS.Credentials.AccessKeyID = "AKIDWEIRTEST"
			cfg.AWS.Credentials.SecretAccessKey = "test-secret-key"
			cfg.AWS.Credentials.SessionToken = "test-session-token"
			cfg.OpenSearch.SigV4.Enabled = true
			cfg.OpenSearch.SigV4.Service = tc.service
			cfg.OpenSearch.SigV4.Compress = tc.compress
			cfg.OpenSearch.FlushDocuments = 100
			d, base := startDaemon(t, cfg)

			index := uniqueIndex(t, "e2e-sigv4-"+tc.name)
			const total = 1000
			for first := 0; first < total; first += 250 {
				st, out := post(t, base+"/v1/ingest/"+index, ndjson(first, 250, true))
				require.Equal(t, 200, st, "%v", out)
				require.EqualValues(t, 250, out["indexed"], "%v (verifier: %v)", out, proxy.lastErr.Load())
			}
			_, err := d.shutdown(t.Context())
			require.NoError(t, err)
			assert.Zero(t, proxy.bad.Load(), "every request weir sent verifies")
			assert.GreaterOrEqual(t, proxy.ok.Load(), int64(total/100))
			c := osClient{t, osURL}
			assert.Equal(t, total, c.count(index))
			c.do("DELETE", "/"+index, nil)
		})
	}
}

// TestSigV4WrongSecretIsExplained: a refused signature keeps the documents (nothing is
// dropped) and the log names the reason.
func TestSigV4WrongSecretIsRefusedNotDropped(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	target, err := url.Parse(osURL)
	require.NoError(t, err)
	proxy := &verifyingProxy{
		verifier: sigv4check.Verifier{Region: "eu-west-1", Service: "es",
			SecretFor: func(string) (string, string, bool) { return "the-real-secret", "", true }},
		next: httputil.NewSingleHostReverseProxy(target),
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	cfg := testConfig(t, srv.URL, "async")
	cfg.AWS.Region = "eu-west-1"
	cfg.AWS.Credentials.Provider = auth.ProviderStatic
	cfg.AWS.Credentials.AccessKeyID = "AKIDWEIRTEST"
	cfg.AWS.Credentials.SecretAccessKey = "a-wrong-secret"
	cfg.OpenSearch.SigV4.Enabled = true
	cfg.Pipeline.DrainTimeout = 2 * time.Second
	d, base := startDaemon(t, cfg)
	st, _ := post(t, base+"/v1/ingest/"+uniqueIndex(t, "e2e-sigv4-bad"), ndjson(0, 10, true))
	require.Equal(t, 202, st)
	require.Eventually(t, func() bool { return proxy.bad.Load() >= 2 }, 20*time.Second, 10*time.Millisecond)
	ctx, cancel := contextWithTimeout(2 * time.Second)
	defer cancel()
	undelivered, _ := d.shutdown(ctx)
	assert.EqualValues(t, 10, undelivered, "refused documents stay undelivered, not dropped")
	assert.True(t, strings.Contains(*proxy.lastErr.Load(), "signature"), *proxy.lastErr.Load())
}
