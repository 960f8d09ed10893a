package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/weir-ingest/weir/auth/explain"
)

// maxRefusalPeek is how much of a 401/403 body is read to decide whether
// the token was refused; AWS's refusals are well under it.
const maxRefusalPeek = 64 << 10

// errNoCredentials is returned by a transport built without credentials.
var errNoCredentials = errors.New("auth: signing transport has no credentials")

// TransportOption adjusts NewTransport.
type TransportOption func(*transport)

// WithSigningClock replaces the clock that stamps X-Amz-Date; by default
// the credentials' clock (see WithClock) is used.
func WithSigningClock(now func() time.Time) TransportOption {
	return func(t *transport) {
		if now != nil {
			t.now = now
		}
	}
}

type transport struct {
	base   http.RoundTripper
	creds  *Credentials
	params signParams
	gzip   bool
	cfgErr error
	now    func() time.Time
}

// NewTransport returns a RoundTripper that signs each request with SigV4 for
// cfg.Service and cfg.Region and sends it through base (nil:
// http.DefaultTransport).
//
// It never modifies the caller's request; it signs a clone. It takes
// credentials with the request's context. It sets and signs
// X-Amz-Content-Sha256 over the exact bytes sent (gzipped when
// cfg.Compress), reading the body once: a body that has a
// Bytes() []byte method is hashed in place; others are read into a pooled
// buffer. When AWS refuses the token as expired or invalid, or the signature
// as wrong, it invalidates the credentials and sends the request once more.
//
// An invalid cfg (see SigningConfig.Validate) makes every RoundTrip fail.
func NewTransport(base http.RoundTripper, creds *Credentials, cfg SigningConfig, opts ...TransportOption) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{
		base:   base,
		creds:  creds,
		params: signParams{service: cfg.Service, region: cfg.Region, signContentHash: true},
		gzip:   cfg.Compress,
		now:    time.Now,
	}
	if err := cfg.Validate(); err != nil {
		t.cfgErr = fmt.Errorf("auth: invalid signing config: %w", err)
	}
	if creds == nil {
		t.cfgErr = errors.Join(t.cfgErr, errNoCredentials)
	} else {
		t.now = creds.now
	}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.cfgErr != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, t.cfgErr
	}
	ctx := req.Context()
	// A body the caller already encoded is signed as it is.
	compress := t.gzip && req.Header.Get("Content-Encoding") == ""
	p, err := readPayload(req, compress)
	if err != nil {
		return nil, err
	}
	defer p.release()

	resp, used, err := t.send(ctx, req, p)
	if err != nil || !refusal(resp.StatusCode) {
		return resp, err
	}
	head, resp, err := peek(resp)
	if err != nil {
		return nil, err
	}
	x := explain.Classify(resp.StatusCode, resp.Header, head, explain.Context{Service: t.params.service, Region: t.params.region})
	switch x.Reason {
	case explain.ReasonExpiredToken, explain.ReasonInvalidToken, explain.ReasonSignatureMismatch:
	default:
		return resp, nil
	}
	if ctx.Err() != nil || !t.creds.refused(used) {
		return resp, nil
	}
	_ = resp.Body.Close()
	resp, _, err = t.send(ctx, req, p)
	return resp, err
}

// send signs a fresh clone of req over p with current credentials, and
// returns the credentials used so a refusal can name them.
func (t *transport) send(ctx context.Context, req *http.Request, p *payload) (*http.Response, aws.Credentials, error) {
	creds, err := t.creds.Retrieve(ctx)
	if err != nil {
		return nil, aws.Credentials{}, err
	}
	out := req.Clone(ctx)
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	if out.Body, err = p.reader(); err != nil {
		return nil, creds, err
	}
	out.GetBody = p.reader
	out.ContentLength = int64(len(p.b))
	out.TransferEncoding = nil
	// Go sends req.Host and ContentLength, never these header entries; the
	// signer would sign them as well, and "host" twice breaks the signature.
	out.Header.Del("Content-Length")
	out.Header.Del("Host")
	if p.gzipped {
		out.Header.Set("Content-Encoding", "gzip")
	}
	if err := sign(ctx, out, p.hash, creds, t.now(), t.params); err != nil {
		_ = out.Body.Close()
		return nil, creds, err
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return nil, creds, fmt.Errorf("auth: send signed request: %w", err)
	}
	return resp, creds, nil
}

func refusal(status int) bool {
	return status == http.StatusForbidden || status == http.StatusUnauthorized
}

// peek reads the start of resp's body and puts it back in front of the rest,
// so the caller still reads the whole body.
func peek(resp *http.Response) ([]byte, *http.Response, error) {
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxRefusalPeek))
	if err != nil {
		_ = resp.Body.Close()
		return nil, nil, fmt.Errorf("auth: read %d response: %w", resp.StatusCode, err)
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return head, resp, nil
}
