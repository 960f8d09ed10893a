package sqs

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/weir-ingest/weir/config/units"
	"github.com/weir-ingest/weir/pipeline"
)

// ID modes say how the _id of a document from SQS is chosen.
const (
	// IDPosition derives the _id from the message (or the S3 object) and the document's
	// place in it, so a redelivered message overwrites instead of duplicating.
	IDPosition = "position"
	// IDField leaves the _id to pipeline.id_field.
	IDField = "field"
	// IDNone lets OpenSearch pick ids: a redelivered message is indexed again.
	IDNone = "none"
)

// Limits SQS itself sets.
const (
	maxWaitTime          = 20 * time.Second
	maxMessagesPerCall   = 10
	maxVisibilityTimeout = 12 * time.Hour
)

// Config configures the SQS source.
type Config struct {
	// QueueURL is the queue to consume, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/logs.
	QueueURL string `koanf:"queue_url"`
	// Receivers is how many goroutines long-poll the queue at once.
	Receivers int `koanf:"receivers"`
	// WaitTime is the long-polling wait of one ReceiveMessage call (0 to 20s).
	WaitTime time.Duration `koanf:"wait_time"`
	// MaxMessages is how many messages one ReceiveMessage call asks for (1 to 10).
	MaxMessages int `koanf:"max_messages"`
	// VisibilityTimeout is asked for on every receive and renewed while a message's documents
	// are in the pipeline; 0 uses the queue's own, read when the source starts.
	VisibilityTimeout time.Duration `koanf:"visibility_timeout"`
	// MaxVisibilityExtension is how long after its receipt a message stops being extended
	// (and so becomes visible again if still unfinished). SQS caps it at 12h.
	MaxVisibilityExtension time.Duration `koanf:"max_visibility_extension"`
	// MaxInFlight caps the messages received and not yet finished; receiving waits at it.
	MaxInFlight int `koanf:"max_in_flight"`
	// Index is the target index (or template, e.g. "logs-%{yyyy.MM.dd}") of the documents;
	// empty leaves it to pipeline.index.
	Index string `koanf:"index"`
	// ID is position (default), field or none; see IDPosition, IDField and IDNone.
	ID string `koanf:"id"`
	// S3ChunkBytes is how much of an S3 object is read and handed to the pipeline at a
	// time: an object of any size is streamed in chunks of about this size.
	S3ChunkBytes units.ByteSize `koanf:"s3_chunk_bytes"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Receivers:              4,
		WaitTime:               20 * time.Second,
		MaxMessages:            10,
		MaxVisibilityExtension: maxVisibilityTimeout,
		MaxInFlight:            1000,
		ID:                     IDPosition,
		S3ChunkBytes:           4 << 20,
	}
}

// Validate reports every problem, each prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	if c.QueueURL == "" {
		errs = append(errs, errors.New("queue_url: required"))
	} else if u, err := url.Parse(c.QueueURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, fmt.Errorf("queue_url: must be an http(s) URL such as https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE, got %q", c.QueueURL))
	}
	if c.Receivers < 1 || c.Receivers > 256 {
		errs = append(errs, fmt.Errorf("receivers: must be between 1 and 256, got %d", c.Receivers))
	}
	if c.WaitTime < 0 || c.WaitTime > maxWaitTime || c.WaitTime%time.Second != 0 {
		errs = append(errs, fmt.Errorf("wait_time: must be whole seconds from 0s to 20s, got %s", c.WaitTime))
	}
	if c.MaxMessages < 1 || c.MaxMessages > maxMessagesPerCall {
		errs = append(errs, fmt.Errorf("max_messages: must be between 1 and 10, got %d", c.MaxMessages))
	}
	if c.VisibilityTimeout != 0 && (c.VisibilityTimeout < time.Second || c.VisibilityTimeout > maxVisibilityTimeout || c.VisibilityTimeout%time.Second != 0) {
		errs = append(errs, fmt.Errorf("visibility_timeout: must be 0 (the queue's own) or whole seconds from 1s to 12h, got %s", c.VisibilityTimeout))
	}
	if c.MaxVisibilityExtension < 0 || c.MaxVisibilityExtension > maxVisibilityTimeout {
		errs = append(errs, fmt.Errorf("max_visibility_extension: must be between 0s and 12h, got %s", c.MaxVisibilityExtension))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 120_000 {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and 120000 (SQS's in-flight limit), got %d", c.MaxInFlight))
	} else if c.MaxInFlight < c.MaxMessages {
		errs = append(errs, fmt.Errorf("max_in_flight: must be at least max_messages (%d), got %d", c.MaxMessages, c.MaxInFlight))
	}
	if c.Index != "" {
		if _, err := pipeline.ParseIndexTemplate(c.Index); err != nil {
			errs = append(errs, fmt.Errorf("index: %w", err))
		}
	}
	switch c.ID {
	case IDPosition, IDField, IDNone:
	default:
		errs = append(errs, fmt.Errorf("id: must be %q, %q or %q, got %q", IDPosition, IDField, IDNone, c.ID))
	}
	if c.S3ChunkBytes < 64<<10 || c.S3ChunkBytes > 256<<20 {
		errs = append(errs, fmt.Errorf("s3_chunk_bytes: must be between 64KiB and 256MiB, got %s", c.S3ChunkBytes))
	}
	return errors.Join(errs...)
}
