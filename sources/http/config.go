package httpsource

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/weir-ingest/weir/config/secret"
	"github.com/weir-ingest/weir/config/units"
	"github.com/weir-ingest/weir/pipeline"
)

// Modes say when a request is answered.
const (
	// ModeSync answers once every document is indexed or dead-lettered, with per-document
	// results: the client may forget the documents as soon as it has the answer.
	ModeSync = "sync"
	// ModeAsync answers 202 once the documents are in the pipeline's bounded queue. A
	// crash of weir before delivery loses them, so it suits clients that can tolerate that
	// or that resend on their own.
	ModeAsync = "async"
)

// Config configures the HTTP source.
type Config struct {
	// Listen is the address the source's own listener binds, host:port.
	Listen string `koanf:"listen"`
	// Mode is "sync" or "async" (see ModeSync and ModeAsync).
	Mode string `koanf:"mode"`
	// MaxRequestBytes bounds a request body, and the decompressed size of a gzip body too.
	MaxRequestBytes units.ByteSize `koanf:"max_request_bytes"`
	// Index is the target index when the URL and the bulk action name none; empty leaves
	// it to the pipeline's default. It may hold date math ("app-%{yyyy.MM.dd}"), which the
	// pipeline resolves per document.
	Index string `koanf:"index"`
	// Tokens are the bearer tokens accepted; empty turns authentication off.
	Tokens []secret.Secret `koanf:"tokens"`
	// ReadTimeout bounds reading a whole request, headers and body.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// SyncTimeout is how long a sync request waits for its documents to be delivered
	// before it is answered 504 (they stay in the pipeline and are still delivered).
	SyncTimeout time.Duration `koanf:"sync_timeout"`
	// RetryAfter is advertised in the Retry-After header of 429 and 503 answers, in whole
	// seconds (rounded up).
	RetryAfter time.Duration `koanf:"retry_after"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8088",
		Mode:            ModeAsync,
		MaxRequestBytes: 10 << 20,
		ReadTimeout:     30 * time.Second,
		SyncTimeout:     60 * time.Second,
		RetryAfter:      time.Second,
	}
}

// maxRequestLimit keeps max_request_bytes within what a request may sensibly hold in memory
// at once: a body is read whole before any of it is queued.
const maxRequestLimit = 1 << 30

// Validate reports every problem, each prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: required"))
	} else if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %w", err))
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("listen: port %q must be a number from 0 to 65535", port))
	}
	if c.Mode != ModeSync && c.Mode != ModeAsync {
		errs = append(errs, fmt.Errorf("mode: must be %q or %q, got %q", ModeSync, ModeAsync, c.Mode))
	}
	if c.MaxRequestBytes < 1 || c.MaxRequestBytes > maxRequestLimit {
		errs = append(errs, fmt.Errorf("max_request_bytes: must be between 1B and %s, got %s",
			units.ByteSize(maxRequestLimit), c.MaxRequestBytes))
	}
	if c.Index != "" {
		if _, err := pipeline.ParseIndexTemplate(c.Index); err != nil {
			errs = append(errs, fmt.Errorf("index: %w", err))
		}
	}
	for i, t := range c.Tokens {
		// The token itself is never printed: only where it is and what is wrong with it.
		if t == "" {
			errs = append(errs, fmt.Errorf("tokens[%d]: must not be empty", i))
		}
	}
	if c.ReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("read_timeout: must be positive, got %s", c.ReadTimeout))
	}
	if c.SyncTimeout <= 0 {
		errs = append(errs, fmt.Errorf("sync_timeout: must be positive, got %s", c.SyncTimeout))
	}
	if c.RetryAfter <= 0 || c.RetryAfter > time.Hour {
		errs = append(errs, fmt.Errorf("retry_after: must be between 1s and 1h, got %s", c.RetryAfter))
	}
	return errors.Join(errs...)
}
