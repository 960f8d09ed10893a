package auth

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for NewCredentials. Clamped, not refused, when out of range (as the SDK does).
const (
	DefaultExpiryWindow      = 5 * time.Minute
	DefaultExpiryJitterFrac  = 0.2
	DefaultRefreshBackoffMin = 5 * time.Second
	DefaultRefreshBackoffMax = 2 * time.Minute
	defaultSessionName       = "weir"
	maxExpiryWindow          = time.Hour
	minRefreshBackoff        = 10 * time.Millisecond
	maxRefreshBackoff        = 15 * time.Minute
)

// Option adjusts NewCredentials.
type Option func(*options)

type options struct {
	now         func() time.Time
	registerer  prometheus.Registerer
	constLabels prometheus.Labels
	logger      *slog.Logger
	httpClient  aws.HTTPClient
	provider    aws.CredentialsProvider
	window      time.Duration
	jitterFrac  float64
	backoffMin  time.Duration
	backoffMax  time.Duration
}

func newOptions(opts []Option) options {
	o := options{
		now:        time.Now,
		logger:     slog.Default(),
		window:     DefaultExpiryWindow,
		jitterFrac: DefaultExpiryJitterFrac,
		backoffMin: DefaultRefreshBackoffMin,
		backoffMax: DefaultRefreshBackoffMax,
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.window = min(max(o.window, 0), maxExpiryWindow)
	o.jitterFrac = min(max(o.jitterFrac, 0), 1)
	o.backoffMin = min(max(o.backoffMin, minRefreshBackoff), maxRefreshBackoff)
	o.backoffMax = min(max(o.backoffMax, o.backoffMin), maxRefreshBackoff)
	return o
}

// WithClock replaces time.Now for expiry decisions, backoff and signing; for tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithRegisterer registers the credential metrics on reg. Without it they are kept but not exported.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.registerer = reg }
}

// WithConstLabels adds labels to every credential metric, so two identities
// can share a registry; Prometheus wants the same label names on each.
func WithConstLabels(labels prometheus.Labels) Option {
	return func(o *options) { o.constLabels = labels }
}

// WithLogger sets where state changes (refresh failed, recovered) are logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithHTTPClient sets the client used for STS, IMDS and the container endpoint.
func WithHTTPClient(c aws.HTTPClient) Option {
	return func(o *options) { o.httpClient = c }
}

// WithProvider replaces the provider cfg.Provider would build; the cache,
// fallback and metrics still wrap it. For tests and for embedding weir.
func WithProvider(p aws.CredentialsProvider) Option {
	return func(o *options) { o.provider = p }
}

// WithExpiryWindow refreshes credentials window before they expire, less a
// random part of up to jitterFrac of the window so that many weir processes
// sharing a role do not all call STS in the same second.
func WithExpiryWindow(window time.Duration, jitterFrac float64) Option {
	return func(o *options) { o.window, o.jitterFrac = window, jitterFrac }
}

// WithRefreshBackoff bounds the wait before retrying a failed refresh while
// the previous credentials are still valid.
func WithRefreshBackoff(minWait, maxWait time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = minWait, maxWait }
}
