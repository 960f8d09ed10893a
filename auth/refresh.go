package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// refreshTimeout bounds one provider call. The SDK cache runs the provider
// with a context stripped of cancellation, so without it a hung IMDS, STS or
// assertion command would hold the single flight forever and every later
// caller would queue behind it.
const refreshTimeout = time.Minute

// refusalInterval spaces out invalidations caused by a service refusing a
// token. A persistent signature bug would otherwise turn every request into
// an STS call.
const refusalInterval = 10 * time.Second

// errNoKeys is returned when a provider answers without an access key pair.
var errNoKeys = errors.New("provider returned credentials without keys")

// refresher sits between the CredentialsCache and the real provider. When a
// refresh fails while the previous credentials are still valid it serves
// those again with an expiry moved up to the next retry, so the cache itself
// schedules the retry and the backoff needs no goroutine.
//
// The cache calls Retrieve and AdjustExpiresBy from its single flight, so
// they never overlap; mu is for the readers outside that flight.
type refresher struct {
	inner      aws.CredentialsProvider
	now        func() time.Time
	logger     *slog.Logger
	metrics    *credentialMetrics
	backoffMin time.Duration
	backoffMax time.Duration

	mu sync.Mutex // guards the fields below
	// last is what the provider last returned, with its real expiry; it is
	// the fallback, and is cleared when the service refuses it.
	last aws.Credentials
	// current is what the cache holds, with the expiry the cache adjusted.
	current aws.Credentials
	// fallback is set while current is last served again after a failure;
	// AdjustExpiresBy must then leave the retry time alone.
	fallback    bool
	failures    int
	lastRefusal time.Time
}

func (r *refresher) Retrieve(ctx context.Context) (aws.Credentials, error) {
	r.metrics.refreshes.Inc()
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	creds, err := r.inner.Retrieve(ctx)
	now := r.now()
	if err == nil {
		switch {
		case !creds.HasKeys():
			err = errNoKeys
		case creds.CanExpire && !creds.Expires.After(now):
			err = fmt.Errorf("provider returned credentials that expired at %s", creds.Expires.UTC().Format(time.RFC3339))
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		if r.failures > 0 {
			r.logger.Info("credentials refresh recovered", "failed_attempts", r.failures, "source", creds.Source)
		}
		r.failures, r.fallback = 0, false
		r.last, r.current = creds, creds
		return creds, nil
	}

	r.metrics.failures.Inc()
	r.failures++
	if r.last.HasKeys() && (!r.last.CanExpire || r.last.Expires.After(now)) {
		retryAt := now.Add(r.backoff(r.failures))
		if r.last.CanExpire && r.last.Expires.Before(retryAt) {
			retryAt = r.last.Expires
		}
		served := r.last
		served.CanExpire, served.Expires = true, retryAt
		r.fallback, r.current = true, served
		if logWorthy(r.failures) {
			r.logger.Warn("credentials refresh failed; serving the previous credentials until the retry",
				"err", err, "failed_attempts", r.failures, "retry_in", retryAt.Sub(now).Round(time.Millisecond),
				"valid_for", r.validFor(now).Round(time.Second))
		}
		return served, nil
	}
	if logWorthy(r.failures) {
		r.logger.Error("credentials refresh failed and no valid credentials remain", "err", err, "failed_attempts", r.failures)
	}
	return aws.Credentials{}, err
}

// AdjustExpiresBy implements aws.AdjustExpiresByCredentialsCacheStrategy so
// the cache's expiry window cannot swallow a fallback's retry time, nor make
// short-lived credentials look expired on arrival (which would refresh on
// every call).
func (r *refresher) AdjustExpiresBy(creds aws.Credentials, d time.Duration) (aws.Credentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fallback || !creds.CanExpire {
		return creds, nil
	}
	now := r.now()
	adjusted := creds.Expires.Add(d)
	if !adjusted.After(now) {
		adjusted = now.Add(creds.Expires.Sub(now) / 2)
	}
	creds.Expires = adjusted
	r.current = creds
	return creds, nil
}

// expire drops the cache's credentials if they are still stale; a caller
// that saw them expire after another caller already refreshed must not
// throw the fresh ones away.
func (r *refresher) expire(stale aws.Credentials, cache *aws.CredentialsCache) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sameKeys(r.current, stale) && r.current.Expires.Equal(stale.Expires) {
		cache.Invalidate()
		r.current = aws.Credentials{}
	}
}

// refuse handles a service refusing the credentials used: they are dropped
// from the cache and may no longer serve as a fallback. It reports whether a
// retry would use different credentials.
func (r *refresher) refuse(used aws.Credentials, cache *aws.CredentialsCache) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current.HasKeys() && !sameKeys(r.current, used) {
		return true
	}
	now := r.now()
	if !r.lastRefusal.IsZero() && now.Sub(r.lastRefusal) < refusalInterval {
		return false
	}
	r.lastRefusal = now
	r.drop(cache, used)
	return true
}

// invalidate forgets everything; the next Retrieve asks the provider.
func (r *refresher) invalidate(cache *aws.CredentialsCache) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop(cache, r.last)
}

func (r *refresher) drop(cache *aws.CredentialsCache, keys aws.Credentials) {
	cache.Invalidate()
	// The SDK default chain comes wrapped in a cache of its own, which would
	// hand the refused credentials straight back.
	if inner, ok := r.inner.(*aws.CredentialsCache); ok {
		inner.Invalidate()
	}
	r.current, r.fallback = aws.Credentials{}, false
	if sameKeys(r.last, keys) {
		r.last = aws.Credentials{}
	}
}

// secondsToExpiry feeds the expiry gauge: the real expiry of the credentials
// being served, +Inf for ones that never expire, 0 when none are held.
func (r *refresher) secondsToExpiry() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current.HasKeys() && r.last.HasKeys() && !r.last.CanExpire {
		return math.Inf(1)
	}
	return r.validFor(r.now()).Seconds()
}

// validFor is how long the credentials being served stay valid; the caller holds mu.
func (r *refresher) validFor(now time.Time) time.Duration {
	if !r.current.HasKeys() || !r.last.HasKeys() || !r.last.CanExpire {
		return 0
	}
	return max(r.last.Expires.Sub(now), 0)
}

// backoff is exponential from backoffMin, capped at backoffMax, with "equal
// jitter" (half fixed, half random) so that processes which failed together
// do not retry together yet each still waits a useful minimum.
func (r *refresher) backoff(failures int) time.Duration {
	shift := min(failures-1, 30)
	d := r.backoffMin << shift
	if d <= 0 || d > r.backoffMax {
		d = r.backoffMax
	}
	half := d / 2
	return half + rand.N(half+1)
}

// logWorthy keeps a long outage to a logarithmic number of log lines: the
// first failure, then each power of two.
func logWorthy(failures int) bool {
	return bits.OnesCount(uint(failures)) == 1
}

func sameKeys(a, b aws.Credentials) bool {
	return a.AccessKeyID == b.AccessKeyID && a.SessionToken == b.SessionToken
}
