package opensearch

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/weir-ingest/weir/config/secret"
	"github.com/weir-ingest/weir/config/units"
)

// Config is the OpenSearch bulk sink's configuration.
type Config struct {
	// URLs of the nodes; each request goes to one of them. Default: http://127.0.0.1:9200.
	URLs []string `koanf:"urls"`
	// Username and Password enable HTTP basic authentication.
	Username string        `koanf:"username"`
	Password secret.Secret `koanf:"password"`
	// FlushDocuments sends a batch once it holds this many documents. Default: 1000.
	FlushDocuments int `koanf:"flush_documents"`
	// FlushBytes caps the encoded _bulk body: a document that would take a batch past it
	// starts the next batch (one larger than FlushBytes on its own is sent alone).
	// Default: 5MiB.
	FlushBytes units.ByteSize `koanf:"flush_bytes"`
	// FlushInterval is the maximum age of a batch: a batch that is not full is sent this
	// long after its first document arrived. Default: 1s.
	FlushInterval time.Duration `koanf:"flush_interval"`
	// MaxInFlight caps the batches being delivered at once, retries and their backoffs
	// included, and so the bulk requests in flight. When all are busy and a batch is full,
	// Add blocks: that is the sink's backpressure. With adaptive concurrency on, the requests
	// on the wire are further limited to a number between adaptive.min_in_flight and this.
	// Default: 4.
	MaxInFlight int `koanf:"max_in_flight"`
	// Adaptive moves the number of bulk requests in flight between adaptive.min_in_flight and
	// max_in_flight as OpenSearch pushes back.
	Adaptive AdaptiveConfig `koanf:"adaptive"`
	// Breaker stops sending while OpenSearch is failing as a whole.
	Breaker BreakerConfig `koanf:"breaker"`
	// RequestTimeout bounds one bulk request, from sending to reading the whole answer.
	// Default: 60s.
	RequestTimeout time.Duration `koanf:"request_timeout"`
	// Retry governs retries of refused items and failed requests.
	Retry RetryConfig `koanf:"retry"`
	// TLSInsecureSkipVerify disables certificate verification; for development only, and
	// logged as a warning.
	TLSInsecureSkipVerify bool `koanf:"tls_insecure_skip_verify"`
}

// RetryConfig governs retries.
type RetryConfig struct {
	// MaxAttempts is how many times one document is sent and refused with a retryable
	// status (429, 5xx) before it is dead-lettered as retries_exhausted. Failures of the
	// whole request (node down, timeouts) do not count: those are retried while weir runs.
	// Default: 8.
	MaxAttempts int `koanf:"max_attempts"`
	// InitialBackoff is the ceiling of the first wait; each retry doubles it up to
	// MaxBackoff, and the wait is drawn at random below the ceiling (full jitter).
	// Default: 100ms.
	InitialBackoff time.Duration `koanf:"initial_backoff"`
	// MaxBackoff caps the ceiling. Default: 30s.
	MaxBackoff time.Duration `koanf:"max_backoff"`
}

// AdaptiveConfig governs the adaptive limit on bulk requests on the wire (AIMD): it halves on
// throttling (429 on the request or on any item) and shrinks by a quarter when latency stays
// over twice its recent floor; it starts at the minimum, doubles after each good round until the
// first shrink, then grows by one per good round: a round of requests at the current limit,
// every slot busy, none throttled or failed, and no queue building up inside the node. For a
// minute after a 429, requests are paced over the latency floor (floor / limit apart), as TCP
// paces its window.
type AdaptiveConfig struct {
	// Enabled turns adaptation on; off, max_in_flight requests are always allowed.
	// Default: true.
	Enabled bool `koanf:"enabled"`
	// MinInFlight is the floor of the limit. Default: 1.
	MinInFlight int `koanf:"min_in_flight"`
}

// BreakerConfig governs the circuit breaker around bulk requests. Connection errors,
// timeouts and 5xx answers to a whole request count as failures; any other answer (2xx,
// 429, 401, 403 and other 4xx, whatever its items say) shows the node is up and counts as a
// success. The breaker opens when consecutive_failures requests fail in a row, or when at
// least min_requests finished within window and failure_ratio of them failed. While it is
// open nothing is sent (senders wait, nothing is lost, no retry is spent); after cool_down
// one GET / probes the node: an answer that is not a 5xx closes the breaker, a failure
// opens it for another cool_down.
type BreakerConfig struct {
	// FailureRatio of finished requests within window that opens the breaker. Default: 0.5.
	FailureRatio float64 `koanf:"failure_ratio"`
	// MinRequests finished within window before failure_ratio is judged. Default: 10.
	MinRequests int `koanf:"min_requests"`
	// Window over which failure_ratio is counted (rolling, in tenths). Default: 30s.
	Window time.Duration `koanf:"window"`
	// ConsecutiveFailures opens the breaker whatever the ratio. Default: 5.
	ConsecutiveFailures int `koanf:"consecutive_failures"`
	// CoolDown is how long the breaker stays open before probing. Default: 10s.
	CoolDown time.Duration `koanf:"cool_down"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		URLs:           []string{"http://127.0.0.1:9200"},
		FlushDocuments: 1000,
		FlushBytes:     5 << 20,
		FlushInterval:  time.Second,
		MaxInFlight:    4,
		RequestTimeout: 60 * time.Second,
		Adaptive:       AdaptiveConfig{Enabled: true, MinInFlight: 1},
		Breaker: BreakerConfig{
			FailureRatio:        0.5,
			MinRequests:         10,
			Window:              30 * time.Second,
			ConsecutiveFailures: 5,
			CoolDown:            10 * time.Second,
		},
		Retry: RetryConfig{
			MaxAttempts:    8,
			InitialBackoff: 100 * time.Millisecond,
			MaxBackoff:     30 * time.Second,
		},
	}
}

// Validate reports every problem, each prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.URLs) == 0 {
		add("urls: at least one URL is required")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		switch {
		case err != nil:
			add("urls[%d]: %w", i, err)
		case p.Scheme != "http" && p.Scheme != "https":
			add("urls[%d]: scheme must be http or https, got %q", i, u)
		case p.Host == "":
			add("urls[%d]: host is required, got %q", i, u)
		case p.User != nil:
			// Credentials in a URL end up in logs; the password field is redacted.
			add("urls[%d]: put credentials in username and password, not in the URL", i)
		}
	}
	if c.Password != "" && c.Username == "" {
		add("username: required when password is set")
	}
	if c.FlushDocuments < 1 || c.FlushDocuments > 100_000 {
		add("flush_documents: must be between 1 and 100000, got %d", c.FlushDocuments)
	}
	if c.FlushBytes < 1<<10 || c.FlushBytes > 1<<30 {
		add("flush_bytes: must be between 1KiB and 1GiB, got %s", c.FlushBytes)
	}
	if c.FlushInterval < time.Millisecond {
		add("flush_interval: must be at least 1ms, got %s", c.FlushInterval)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1024 {
		add("max_in_flight: must be between 1 and 1024, got %d", c.MaxInFlight)
	}
	if c.Adaptive.MinInFlight < 1 || c.Adaptive.MinInFlight > max(c.MaxInFlight, 1) {
		add("adaptive.min_in_flight: must be between 1 and max_in_flight (%d), got %d", c.MaxInFlight, c.Adaptive.MinInFlight)
	}
	if !(c.Breaker.FailureRatio > 0 && c.Breaker.FailureRatio <= 1) {
		add("breaker.failure_ratio: must be above 0 and at most 1, got %g", c.Breaker.FailureRatio)
	}
	if c.Breaker.MinRequests < 1 || c.Breaker.MinRequests > 1_000_000 {
		add("breaker.min_requests: must be between 1 and 1000000, got %d", c.Breaker.MinRequests)
	}
	if c.Breaker.Window < time.Second {
		add("breaker.window: must be at least 1s, got %s", c.Breaker.Window)
	}
	if c.Breaker.ConsecutiveFailures < 1 || c.Breaker.ConsecutiveFailures > 1_000_000 {
		add("breaker.consecutive_failures: must be between 1 and 1000000, got %d", c.Breaker.ConsecutiveFailures)
	}
	if c.Breaker.CoolDown < 100*time.Millisecond {
		add("breaker.cool_down: must be at least 100ms, got %s", c.Breaker.CoolDown)
	}
	if c.RequestTimeout < 100*time.Millisecond {
		add("request_timeout: must be at least 100ms, got %s", c.RequestTimeout)
	}
	if c.Retry.MaxAttempts < 1 || c.Retry.MaxAttempts > 1000 {
		add("retry.max_attempts: must be between 1 and 1000, got %d", c.Retry.MaxAttempts)
	}
	if c.Retry.InitialBackoff < time.Millisecond {
		add("retry.initial_backoff: must be at least 1ms, got %s", c.Retry.InitialBackoff)
	}
	if c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		add("retry.max_backoff: must be at least retry.initial_backoff (%s), got %s", c.Retry.InitialBackoff, c.Retry.MaxBackoff)
	}
	return errors.Join(errs...)
}
