package auth

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bytesBodyReader is a caller body that can hand over its bytes.
type bytesBodyReader struct {
	*bytes.Reader
	b      []byte
	closed bool
}

func (b *bytesBodyReader) Bytes() []byte { return b.b }
func (b *bytesBodyReader) Close() error  { b.closed = true; return nil }

// onlyReader hides everything but Read, as a streaming body would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestTransportBodies(t *testing.T) {
	t.Parallel()
	const body = `{"index":{"_index":"logs"}}` + "\n" + `{"msg":"hello"}` + "\n"
	tests := []struct {
		name     string
		build    func() *http.Request
		compress bool
		empty    bool
	}{
		{"bytes.Reader via GetBody", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", strings.NewReader(body))
			return r
		}, false, false},
		{"Bytes() body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", nil)
			r.Body = &bytesBodyReader{Reader: bytes.NewReader([]byte(body)), b: []byte(body)}
			r.ContentLength = int64(len(body))
			return r
		}, false, false},
		{"stream without GetBody", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", onlyReader{strings.NewReader(body)})
			return r
		}, false, false},
		{"gzip from GetBody", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", bytes.NewBufferString(body))
			return r
		}, true, false},
		{"gzip from stream", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", onlyReader{strings.NewReader(body)})
			return r
		}, true, false},
		{"no body", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "https://h/", nil)
			return r
		}, false, true},
		{"no body, compress on", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "https://h/", nil)
			return r
		}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			creds := newTestCredentials(t, &countingProvider{clock: clock, lifetime: time.Hour}, clock)
			var got []byte
			var gotReq *http.Request
			rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
				gotReq = r
				var err error
				got, err = io.ReadAll(r.Body)
				_ = r.Body.Close()
				require.NoError(t, err)
				replay, err := r.GetBody()
				require.NoError(t, err)
				again, err := io.ReadAll(replay)
				require.NoError(t, err)
				require.NoError(t, replay.Close())
				assert.Equal(t, got, again, "GetBody replays the payload")
				return textResponse(r, http.StatusOK, `{}`), nil
			}), creds, SigningConfig{Service: "aoss", Region: "eu-west-1", Compress: tc.compress})

			resp, err := rt.RoundTrip(tc.build())
			require.NoError(t, err)
			_ = resp.Body.Close()

			sum := sha256.Sum256(got)
			assert.Equal(t, hex.EncodeToString(sum[:]), gotReq.Header.Get("X-Amz-Content-Sha256"), "hash of the bytes sent")
			assert.Contains(t, gotReq.Header.Get("Authorization"), "x-amz-content-sha256", "hash header signed")
			assert.EqualValues(t, len(got), gotReq.ContentLength)
			if tc.empty {
				assert.Empty(t, got)
				assert.Empty(t, gotReq.Header.Get("Content-Encoding"))
				return
			}
			if tc.compress {
				assert.Equal(t, "gzip", gotReq.Header.Get("Content-Encoding"))
				assert.Contains(t, gotReq.Header.Get("Authorization"), "content-encoding")
				zr, err := gzip.NewReader(bytes.NewReader(got))
				require.NoError(t, err)
				got, err = io.ReadAll(zr)
				require.NoError(t, err)
			}
			assert.Equal(t, body, string(got))
			_, err = gotReq.GetBody()
			assert.ErrorIs(t, err, errPayloadReleased, "the body is released once every reader is closed")
		})
	}
}

func TestTransportDoesNotMutateRequest(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	creds := newTestCredentials(t, &countingProvider{clock: clock, lifetime: time.Hour}, clock)
	rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("X-Mutated-Downstream", "1")
		return textResponse(r, http.StatusOK, `{}`), nil
	}), creds, SigningConfig{Service: "es", Region: "us-east-1", Compress: true})

	req, err := http.NewRequest(http.MethodPut, "https://h/"+EscapePathSegment("my index")+"/_doc/"+EscapePathSegment("a/b"), strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Security-Token", "stale")
	wantHeader := req.Header.Clone()
	wantURL := *req.URL
	wantLen := req.ContentLength

	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, wantHeader, req.Header)
	assert.Equal(t, wantURL, *req.URL)
	assert.Equal(t, wantLen, req.ContentLength)
	assert.Equal(t, "token1", resp.Request.Header.Get("X-Amz-Security-Token"), "stale token replaced on the clone")
}

// TestTransportRetriesRefusedToken: an ExpiredToken 403 invalidates the
// credentials and the request is sent once more, with the same bytes.
func TestTransportRetriesRefusedToken(t *testing.T) {
	t.Parallel()
	refusals := []struct {
		name   string
		header http.Header
		body   string
	}{
		{"expired json", nil, `{"message":"The security token included in the request is expired"}`},
		{"expired header", http.Header{"X-Amzn-Errortype": {"ExpiredTokenException:http://internal.amazon.com/coral/"}}, `{}`},
		{"invalid token", nil, `<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></ErrorResponse>`},
		{"signature", nil, `{"message":"The request signature we calculated does not match the signature you provided."}`},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			p := &countingProvider{clock: clock, lifetime: time.Hour}
			creds := newTestCredentials(t, p, clock)
			var mu sync.Mutex
			var bodies, keys []string
			rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				defer mu.Unlock()
				bodies = append(bodies, string(b)+"|"+r.Header.Get("X-Amz-Content-Sha256"))
				keys = append(keys, accessKeyOf(r.Header.Get("Authorization")))
				if len(keys) == 1 {
					resp := textResponse(r, http.StatusForbidden, tc.body)
					for k, v := range tc.header {
						resp.Header[k] = v
					}
					return resp, nil
				}
				return textResponse(r, http.StatusOK, `{"errors":false}`), nil
			}), creds, SigningConfig{Service: "es", Region: "us-east-1"})

			req, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", strings.NewReader("{}\n"))
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, []string{"AKID1", "AKID2"}, keys, "retried once with fresh credentials")
			require.Len(t, bodies, 2)
			assert.Equal(t, bodies[0], bodies[1], "same bytes and hash on the retry")
			assert.EqualValues(t, 2, p.calls.Load())
		})
	}
}

func TestTransportRetriesOnlyOnce(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: time.Hour}
	creds := newTestCredentials(t, p, clock)
	const refusal = `{"message":"The security token included in the request is expired"}`
	var sent int
	rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent++
		return textResponse(r, http.StatusForbidden, refusal), nil
	}), creds, SigningConfig{Service: "es", Region: "us-east-1"})

	req, _ := http.NewRequest(http.MethodGet, "https://h/", nil)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, refusal, string(body))
	assert.Equal(t, 2, sent)

	// Within refusalInterval a second refusal does not refresh again, and
	// without new credentials there is nothing to retry with.
	req, _ = http.NewRequest(http.MethodGet, "https://h/", nil)
	resp, err = rt.RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 3, sent)
	assert.EqualValues(t, 2, p.calls.Load())

	clock.Advance(refusalInterval)
	req, _ = http.NewRequest(http.MethodGet, "https://h/", nil)
	resp, err = rt.RoundTrip(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 5, sent)
	assert.EqualValues(t, 3, p.calls.Load())
}

// TestTransportPassesOtherRefusals: a policy denial is the caller's to
// explain; it is not retried and its body arrives whole.
func TestTransportPassesOtherRefusals(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: time.Hour}
	creds := newTestCredentials(t, p, clock)
	denial := `{"Message":"User: arn:aws:sts::123456789012:assumed-role/weir/i-1 is not authorized to perform: es:ESHttpPost because no resource-based policy allows the es:ESHttpPost action"}` +
		strings.Repeat(" ", maxRefusalPeek) // longer than the peek
	var sent int
	rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent++
		return textResponse(r, http.StatusForbidden, denial), nil
	}), creds, SigningConfig{Service: "es", Region: "us-east-1"})
	req, _ := http.NewRequest(http.MethodPost, "https://h/_bulk", strings.NewReader("{}\n"))
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, 1, sent)
	assert.Equal(t, denial, string(body))
	assert.EqualValues(t, 1, p.calls.Load())
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	creds := newTestCredentials(t, &countingProvider{clock: clock, lifetime: time.Hour}, clock)
	ok := roundTripFunc(func(r *http.Request) (*http.Response, error) { return textResponse(r, 200, `{}`), nil })
	tests := []struct {
		name string
		rt   http.RoundTripper
		want string
	}{
		{"bad service", NewTransport(ok, creds, SigningConfig{Service: "s3", Region: "us-east-1"}), "signing.service"},
		{"no region", NewTransport(ok, creds, SigningConfig{Service: "es"}), "signing.region: required"},
		{"no credentials", NewTransport(ok, nil, SigningConfig{Service: "es", Region: "us-east-1"}), "no credentials"},
		{"network", NewTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		}), creds, SigningConfig{Service: "es", Region: "us-east-1"}), "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := &bytesBodyReader{Reader: bytes.NewReader(nil)}
			req, _ := http.NewRequest(http.MethodPost, "https://h/", nil)
			req.Body = body
			_, err := tc.rt.RoundTrip(req)
			require.ErrorContains(t, err, tc.want)
			assert.True(t, body.closed, "RoundTrip closes the body even on error")
		})
	}
}

func TestTransportHonoursContext(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: time.Hour, delay: 200 * time.Millisecond}
	creds := newTestCredentials(t, p, clock)
	rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return textResponse(r, 200, `{}`), nil
	}), creds, SigningConfig{Service: "es", Region: "us-east-1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://h/", nil)
	_, err := rt.RoundTrip(req)
	require.ErrorIs(t, err, context.DeadlineExceeded, "credentials are taken with the request's context")
}

func TestEscapePathSegment(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"logs-2024.01.01", "logs-2024.01.01"},
		{"my index", "my%20index"},
		{"a/b", "a%2Fb"},
		{"a+b", "a%2Bb"},
		{"100%", "100%25"},
		{"#frag", "%23frag"},
		{"what?", "what%3F"},
		{"ünï", "%C3%BCn%C3%AF"},
		{"日本", "%E6%97%A5%E6%9C%AC"},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"...", "..."},
		{"a:b@c=d&e$f,g;h", "a%3Ab%40c%3Dd%26e%24f%2Cg%3Bh"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got := EscapePathSegment(tc.in)
			assert.Equal(t, tc.want, got)
			dec, err := url.PathUnescape(got)
			require.NoError(t, err)
			assert.Equal(t, tc.in, dec)
			u, err := url.Parse("https://h/idx/_doc/" + got)
			require.NoError(t, err)
			assert.Equal(t, "/idx/_doc/"+got, u.EscapedPath(), "Go sends the segment as escaped")
		})
	}
}
