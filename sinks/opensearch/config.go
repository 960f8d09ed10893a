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
	// MaxInFlight caps concurrent bulk requests, retries included. When all are busy and a
	// batch is full, Add blocks: that is the sink's backpressure. Default: 4.
	MaxInFlight int `koanf:"max_in_flight"`
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

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		URLs:           []string{"http://127.0.0.1:9200"},
		FlushDocuments: 1000,
		FlushBytes:     5 << 20,
		FlushInterval:  time.Second,
		MaxInFlight:    4,
		RequestTimeout: 60 * time.Second,
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
