package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/control"
	"github.com/weir-ingest/weir/control/query"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
	"github.com/weir-ingest/weir/sinks/opensearch"
	httpsource "github.com/weir-ingest/weir/sources/http"
	kinesissource "github.com/weir-ingest/weir/sources/kinesis"
	sqssource "github.com/weir-ingest/weir/sources/sqs"
)

// Config is weir's whole configuration; each section belongs to one component.
type Config struct {
	Log        LogConfig         `koanf:"log"`
	Pipeline   pipeline.Config   `koanf:"pipeline"`
	OpenSearch OpenSearch        `koanf:"opensearch"`
	AWS        AWS               `koanf:"aws"`
	DeadLetter deadletter.Config `koanf:"dead_letter"`
	Sources    Sources           `koanf:"sources"`
	Control    control.Config    `koanf:"control"`
	// Query is the control endpoint's read-query API (off by default).
	Query query.Config `koanf:"query"`
}

// Sources lists the inputs; each is off unless enabled.
type Sources struct {
	HTTP    HTTPSource    `koanf:"http"`
	SQS     SQSSource     `koanf:"sqs"`
	Kinesis KinesisSource `koanf:"kinesis"`
}

// HTTPSource is the HTTP source's section.
type HTTPSource struct {
	Enabled           bool `koanf:"enabled"`
	httpsource.Config `koanf:",squash"`
}

// SQSSource is the SQS source's section; it uses the aws section's identity and endpoint.
type SQSSource struct {
	Enabled          bool `koanf:"enabled"`
	sqssource.Config `koanf:",squash"`
}

// KinesisSource is the Kinesis source's section; it uses the aws section's identity and
// endpoint for Kinesis and for the DynamoDB lease table.
type KinesisSource struct {
	Enabled              bool `koanf:"enabled"`
	kinesissource.Config `koanf:",squash"`
}

// OpenSearch is the sink's section plus how its requests are signed.
type OpenSearch struct {
	opensearch.Config `koanf:",squash"`
	// SigV4 signs every request to the domain (bulk, reads, health) with the aws section's
	// credentials: service "es" for Amazon OpenSearch Service, "aoss" for Serverless.
	SigV4 SigV4 `koanf:"sigv4"`
}

// SigV4 turns request signing on.
type SigV4 struct {
	Enabled            bool `koanf:"enabled"`
	auth.SigningConfig `koanf:",squash"`
}

// AWS is the identity and endpoint weir uses for every AWS call: signing OpenSearch
// requests and the SQS, Kinesis, DynamoDB, S3 and STS clients of the sources.
type AWS struct {
	// Region for every AWS client, unless a component sets its own.
	Region string `koanf:"region"`
	// EndpointURL overrides every service endpoint (moto or LocalStack in tests); empty
	// uses AWS's own.
	EndpointURL string `koanf:"endpoint_url"`
	// Credentials picks the provider (default chain, assume_role, web_identity, saml, static).
	Credentials auth.CredentialsConfig `koanf:"credentials"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	// Format is "json" (default) or "text".
	Format string `koanf:"format"`
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
}

// Default returns every component's defaults.
func Default() Config {
	return Config{
		Log:        LogConfig{Format: "json", Level: "info"},
		Pipeline:   pipeline.DefaultConfig(),
		OpenSearch: OpenSearch{Config: opensearch.DefaultConfig(), SigV4: SigV4{SigningConfig: auth.DefaultSigningConfig()}},
		AWS:        AWS{Credentials: auth.DefaultCredentialsConfig()},
		DeadLetter: deadletter.DefaultConfig(),
		Sources:    Sources{HTTP: HTTPSource{Config: httpsource.DefaultConfig()}, SQS: SQSSource{Config: sqssource.DefaultConfig()}, Kinesis: KinesisSource{Config: kinesissource.DefaultConfig()}},
		Control:    control.DefaultConfig(),
		Query:      query.DefaultConfig(),
	}
}

// Load decodes src onto the defaults and validates the result, reporting every problem.
func Load(src Source) (Config, error) {
	cfg := Default()
	// Both phases run whatever the first found, so that one run reports every problem: a
	// value that failed to decode keeps its default and does not add a second complaint.
	decodeErr := Decode(src, &cfg)
	if err := cfg.Validate(); err != nil {
		return cfg, errors.Join(decodeErr, fmt.Errorf("%s: %w", nameOr(src.Name), err))
	}
	return cfg, decodeErr
}

// Validate checks every section and returns all problems with their key paths.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, Prefix("log", c.Log.Validate()))
	errs = append(errs, Prefix("pipeline", c.Pipeline.Validate()))
	errs = append(errs, Prefix("opensearch", c.OpenSearch.Config.Validate()))
	if c.OpenSearch.SigV4.Enabled {
		sc := c.OpenSearch.SigV4.SigningConfig
		if sc.Region == "" {
			sc.Region = c.AWS.Region
		}
		errs = append(errs, Prefix("opensearch.sigv4", sc.Validate()))
		if c.OpenSearch.Username != "" {
			errs = append(errs, errors.New("opensearch.username: basic auth and sigv4 are exclusive; pick one"))
		}
	}
	if c.NeedsAWS() {
		errs = append(errs, Prefix("aws", c.AWS.Credentials.Validate()))
	}
	errs = append(errs, Prefix("dead_letter", c.DeadLetter.Validate()))
	errs = append(errs, Prefix("control", c.Control.Validate()))
	errs = append(errs, Prefix("query", c.Query.Validate()))
	if c.Sources.HTTP.Enabled {
		errs = append(errs, Prefix("sources.http", c.Sources.HTTP.Validate()))
		if int64(c.Sources.HTTP.MaxRequestBytes) > int64(c.Pipeline.QueueBytes) {
			errs = append(errs, fmt.Errorf("sources.http.max_request_bytes: %s is larger than pipeline.queue_bytes %s, so such a request could never be accepted",
				c.Sources.HTTP.MaxRequestBytes, c.Pipeline.QueueBytes))
		}
	}
	if c.Sources.SQS.Enabled {
		errs = append(errs, Prefix("sources.sqs", c.Sources.SQS.Validate()))
		if int64(c.Sources.SQS.S3ChunkBytes)*2 > int64(c.Pipeline.QueueBytes) {
			errs = append(errs, fmt.Errorf("sources.sqs.s3_chunk_bytes: %s is more than half of pipeline.queue_bytes %s; an object is streamed in chunks and two must fit",
				c.Sources.SQS.S3ChunkBytes, c.Pipeline.QueueBytes))
		}
		if c.Sources.SQS.ID == sqssource.IDField && c.Pipeline.IDField == "" {
			errs = append(errs, errors.New("sources.sqs.id: \"field\" needs pipeline.id_field"))
		}
	}
	if c.Sources.Kinesis.Enabled {
		errs = append(errs, Prefix("sources.kinesis", c.Sources.Kinesis.Validate()))
		if c.Sources.Kinesis.ID == kinesissource.IDField && c.Pipeline.IDField == "" {
			errs = append(errs, errors.New("sources.kinesis.id: \"field\" needs pipeline.id_field"))
		}
		if c.Pipeline.QueueBytes < 2<<20 {
			errs = append(errs, fmt.Errorf("sources.kinesis: pipeline.queue_bytes %s cannot hold a 1MiB Kinesis record; use at least 2MiB", c.Pipeline.QueueBytes))
		}
	}
	if !c.Sources.HTTP.Enabled && !c.Sources.SQS.Enabled && !c.Sources.Kinesis.Enabled {
		errs = append(errs, errors.New("sources: no source is enabled (set sources.http.enabled, sources.sqs.enabled or sources.kinesis.enabled: true)"))
	}
	return errors.Join(errs...)
}

// NeedsAWS reports whether any component makes AWS calls, so that credentials are built
// (and checked) only then.
func (c Config) NeedsAWS() bool {
	return c.OpenSearch.SigV4.Enabled || c.DeadLetter.SQSQueueURL != "" || c.DeadLetter.S3URI != "" || c.Sources.SQS.Enabled || c.Sources.Kinesis.Enabled
}

// Validate checks the log section.
func (l LogConfig) Validate() error {
	var errs []error
	if l.Format != "json" && l.Format != "text" {
		errs = append(errs, fmt.Errorf("format: must be json or text, got %q", l.Format))
	}
	if _, err := ParseLevel(l.Level); err != nil {
		errs = append(errs, fmt.Errorf("level: %w", err))
	}
	return errors.Join(errs...)
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}
