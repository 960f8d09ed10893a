package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
)

// fakeClock starts at the real time: the SDK cache still checks expiry
// against the wall clock, so credentials must not look expired to it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingProvider hands out AKID1, AKID2, ... each valid for lifetime from
// the clock's now (or never expiring when lifetime is 0), unless fail says no.
type countingProvider struct {
	clock    *fakeClock
	lifetime time.Duration
	calls    atomic.Int32
	fail     atomic.Bool
	delay    time.Duration
	mu       sync.Mutex
	expiry   map[string]time.Time
}

func (p *countingProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	n := p.calls.Add(1)
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	if p.fail.Load() {
		return aws.Credentials{}, errStubRefresh
	}
	c := aws.Credentials{
		AccessKeyID:     "AKID" + strconv.Itoa(int(n)),
		SecretAccessKey: "secret" + strconv.Itoa(int(n)),
		SessionToken:    "token" + strconv.Itoa(int(n)),
		Source:          "counting",
	}
	if p.lifetime > 0 {
		c.CanExpire, c.Expires = true, p.clock.Now().Add(p.lifetime)
	}
	p.mu.Lock()
	if p.expiry == nil {
		p.expiry = map[string]time.Time{}
	}
	p.expiry[c.AccessKeyID] = c.Expires
	p.mu.Unlock()
	return c, nil
}

func (p *countingProvider) expiryOf(akid string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expiry[akid]
}

type stubError string

func (e stubError) Error() string { return string(e) }

const errStubRefresh = stubError("sts: throttled")

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestCredentials wraps p with the clock and quiet logging.
func newTestCredentials(t *testing.T, p aws.CredentialsProvider, clock *fakeClock, opts ...Option) *Credentials {
	t.Helper()
	cfg := DefaultCredentialsConfig()
	cfg.Region = "us-east-1"
	all := append([]Option{WithProvider(p), WithClock(clock.Now), WithLogger(discardLogger())}, opts...)
	c, err := NewCredentials(context.Background(), cfg, all...)
	require.NoError(t, err)
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func textResponse(r *http.Request, status int, body string) *http.Response {
	return &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    r,
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
