package auth

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSingleRefreshUnderLoad: 10,000 signed requests over 64 goroutines,
// all starting on an empty cache, cause exactly one credential fetch.
func TestSingleRefreshUnderLoad(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// The delay holds the first fetch open so the other goroutines pile onto
	// the single flight rather than finding the cache already filled.
	p := &countingProvider{clock: clock, lifetime: time.Hour, delay: 50 * time.Millisecond}
	creds := newTestCredentials(t, p, clock)
	var sent atomic.Int64
	rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		_ = r.Body.Close()
		return textResponse(r, http.StatusOK, `{}`), nil
	}), creds, SigningConfig{Service: "es", Region: "us-east-1"})

	const goroutines, total = 64, 10_000
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := g; i < total; i += goroutines {
				req, err := http.NewRequest(http.MethodPost, "https://search.example.com/_bulk", strings.NewReader(`{"index":{}}`+"\n{}\n"))
				if err == nil {
					var resp *http.Response
					if resp, err = rt.RoundTrip(req); err == nil {
						_ = resp.Body.Close()
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, total, sent.Load())
	assert.EqualValues(t, 1, p.calls.Load(), "credential fetches")
}

// TestRefreshAheadOfExpiry: the provider hands out credentials valid for 10
// minutes; as the clock runs, requests always carry credentials that are
// still valid, because the cache refreshes within its 5-minute window.
func TestRefreshAheadOfExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: 10 * time.Minute}
	creds := newTestCredentials(t, p, clock, WithExpiryWindow(5*time.Minute, 0.5))

	var expiredSeen atomic.Int32
	rt := NewTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		akid := accessKeyOf(r.Header.Get("Authorization"))
		signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			return nil, err
		}
		// A stand-in for AWS: refuse anything that expires within a minute
		// of the signing time.
		if !p.expiryOf(akid).After(signedAt.Add(time.Minute)) {
			expiredSeen.Add(1)
			return textResponse(r, http.StatusForbidden, `{"message":"The security token included in the request is expired"}`), nil
		}
		return textResponse(r, http.StatusOK, `{}`), nil
	}), creds, SigningConfig{Service: "es", Region: "us-east-1"})

	// Two simulated hours in 30-second steps, eight concurrent requests each.
	const steps, perStep = 240, 8
	for range steps {
		clock.Advance(30 * time.Second)
		var wg sync.WaitGroup
		for range perStep {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, "https://search.example.com/", nil)
				resp, err := rt.RoundTrip(req)
				if assert.NoError(t, err) {
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					_ = resp.Body.Close()
				}
			}()
		}
		wg.Wait()
	}
	assert.Zero(t, expiredSeen.Load(), "requests signed with credentials about to expire")
	// Two hours of 10-minute credentials, each used for 5 to 7.5 minutes.
	calls := p.calls.Load()
	assert.GreaterOrEqual(t, calls, int32(16))
	assert.LessOrEqual(t, calls, int32(30))
}

// TestFailedRefreshKeepsServing: while the old credentials are valid a
// failed refresh serves them and backs off; once they expire, errors surface.
func TestFailedRefreshKeepsServing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: 10 * time.Minute}
	reg := prometheus.NewRegistry()
	creds := newTestCredentials(t, p, clock,
		WithExpiryWindow(5*time.Minute, 0), WithRefreshBackoff(time.Second, 8*time.Second), WithRegisterer(reg))
	ctx := context.Background()

	first, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	require.Equal(t, "AKID1", first.AccessKeyID)
	assert.InDelta(t, 600, testutil.ToFloat64(creds.refresher.metrics.expiry), 1)

	p.fail.Store(true)
	clock.Advance(6 * time.Minute) // inside the window: refresh due
	got, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.Equal(t, "AKID1", got.AccessKeyID, "still-valid credentials are served after a failed refresh")
	assert.EqualValues(t, 2, p.calls.Load())
	assert.LessOrEqual(t, got.Expires.Sub(clock.Now()), time.Second, "served with the retry time as expiry")

	// Backing off: no new attempt until the retry time.
	for range 100 {
		_, err = creds.Retrieve(ctx)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, p.calls.Load(), "no refresh while backing off")

	clock.Advance(10 * time.Second)
	_, err = creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 3, p.calls.Load(), "retried after the backoff")
	assert.EqualValues(t, 2, testutil.ToFloat64(creds.refresher.metrics.failures))
	assert.EqualValues(t, 3, testutil.ToFloat64(creds.refresher.metrics.refreshes))
	assert.InDelta(t, 600-6*60-10, testutil.ToFloat64(creds.refresher.metrics.expiry), 1)

	clock.Advance(5 * time.Minute) // past the real expiry
	_, err = creds.Retrieve(ctx)
	require.ErrorIs(t, err, errStubRefresh)

	p.fail.Store(false)
	got, err = creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, "AKID1", got.AccessKeyID)

	n, err := testutil.GatherAndCount(reg, "weir_credentials_refreshes_total", "weir_credentials_refresh_failures_total", "weir_credentials_expiry_seconds")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	t.Parallel()
	r := &refresher{backoffMin: time.Second, backoffMax: 30 * time.Second}
	tests := []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{10, 15 * time.Second, 30 * time.Second},
		{100, 15 * time.Second, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.failures), func(t *testing.T) {
			t.Parallel()
			seen := map[time.Duration]bool{}
			for range 50 {
				d := r.backoff(tc.failures)
				assert.GreaterOrEqual(t, d, tc.lo)
				assert.LessOrEqual(t, d, tc.hi)
				seen[d] = true
			}
			assert.Greater(t, len(seen), 1, "jittered")
		})
	}
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: time.Hour}
	creds := newTestCredentials(t, p, clock)
	ctx := context.Background()

	c1, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	creds.Invalidate()
	c2, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, c1.AccessKeyID, c2.AccessKeyID)

	// Refused credentials are not a fallback: a failing refresh errors.
	creds.Invalidate()
	p.fail.Store(true)
	_, err = creds.Retrieve(ctx)
	assert.ErrorIs(t, err, errStubRefresh)
}

func TestStaticCredentialsNeverExpire(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	p := &countingProvider{clock: clock} // lifetime 0: CanExpire false
	reg := prometheus.NewRegistry()
	creds := newTestCredentials(t, p, clock, WithRegisterer(reg))
	for range 10 {
		_, err := creds.Retrieve(context.Background())
		require.NoError(t, err)
		clock.Advance(24 * time.Hour)
	}
	assert.EqualValues(t, 1, p.calls.Load())
	assert.True(t, math.IsInf(testutil.ToFloat64(creds.refresher.metrics.expiry), 1))
}

func TestMetricsRegisterTwice(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	p := &countingProvider{clock: clock}
	newTestCredentials(t, p, clock, WithRegisterer(reg), WithConstLabels(prometheus.Labels{"identity": "first"}))
	cfg := DefaultCredentialsConfig()
	_, err := NewCredentials(context.Background(), cfg, WithProvider(p), WithRegisterer(reg),
		WithConstLabels(prometheus.Labels{"identity": "first"}))
	require.Error(t, err, "same names, same labels")
	_, err = NewCredentials(context.Background(), cfg, WithProvider(p), WithRegisterer(reg),
		WithConstLabels(prometheus.Labels{"identity": "second"}))
	require.NoError(t, err)
}

// TestStaticProviderWarns checks the static provider end to end and that
// its secret never reaches the log.
func TestStaticProviderWarns(t *testing.T) {
	t.Parallel()
	var log strings.Builder
	var mu sync.Mutex
	logger := slogTo(&lockedWriter{w: &log, mu: &mu})
	cfg := CredentialsConfig{Provider: ProviderStatic, Region: "us-east-1", AccessKeyID: "AKIDSTATIC",
		SecretAccessKey: "very-secret-value", SessionToken: "session-secret"}
	creds, err := NewCredentials(context.Background(), cfg, WithLogger(logger))
	require.NoError(t, err)
	got, err := creds.Retrieve(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "AKIDSTATIC", got.AccessKeyID)
	assert.Equal(t, "very-secret-value", got.SecretAccessKey)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, log.String(), "local development only")
	assert.NotContains(t, log.String(), "very-secret-value")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), "secret-value")
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func accessKeyOf(authz string) string {
	_, rest, _ := strings.Cut(authz, "Credential=")
	akid, _, _ := strings.Cut(rest, "/")
	return akid
}
