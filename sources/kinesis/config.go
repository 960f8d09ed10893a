package kinesis

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/weir-ingest/weir/pipeline"
)

// Start positions for a shard that has no checkpoint yet.
const (
	// StartTrimHorizon reads a shard from its oldest record still retained.
	StartTrimHorizon = "TRIM_HORIZON"
	// StartLatest reads only records put after the shard's lease was created.
	StartLatest = "LATEST"
	// StartAtTimestamp reads from the first record put at or after start_timestamp.
	StartAtTimestamp = "AT_TIMESTAMP"
)

// ID modes say how the _id of a document from Kinesis is chosen.
const (
	// IDPosition derives the _id from the stream, shard, sequence and sub-sequence number,
	// so a record read again after a crash or a lease hand-over overwrites itself.
	IDPosition = "position"
	// IDField leaves the _id to pipeline.id_field.
	IDField = "field"
	// IDNone lets OpenSearch pick ids: a record read twice is indexed twice.
	IDNone = "none"
)

// Limits Kinesis itself sets.
const (
	maxRecordsLimit = 10000
	// minPollGap keeps a shard under Kinesis's 5 GetRecords calls per second.
	minPollGap = 200 * time.Millisecond
)

// Config configures the Kinesis source.
type Config struct {
	// Streams are the streams to consume, each a name ("orders") or a stream ARN
	// (arn:aws:kinesis:eu-west-1:123456789012:stream/orders).
	Streams []string `koanf:"streams"`
	// LeaseTable is the DynamoDB table that holds one lease per shard (created, on demand
	// billing, if absent). Every weir process consuming the same streams uses the same table.
	LeaseTable string `koanf:"lease_table"`
	// WorkerID names this process in the lease table; empty: the host name and a random
	// suffix, so that a restarted process is a new worker and takes its leases cleanly.
	WorkerID string `koanf:"worker_id"`
	// StartPosition is where a shard with no checkpoint is read from: TRIM_HORIZON (default),
	// LATEST or AT_TIMESTAMP. Shards born of a split or merge always start at their first
	// record, after their parents are finished.
	StartPosition string `koanf:"start_position"`
	// StartTimestamp is the RFC 3339 time AT_TIMESTAMP starts from.
	StartTimestamp time.Time `koanf:"start_timestamp"`
	// LeaseDuration is how long a lease whose counter does not move is left to its owner
	// before another process takes it. Leases are renewed three times within it.
	LeaseDuration time.Duration `koanf:"lease_duration"`
	// CheckpointInterval is how often a shard's checkpoint is written, when it has moved.
	CheckpointInterval time.Duration `koanf:"checkpoint_interval"`
	// ShardSyncInterval is how often the streams' shards are listed to create leases for
	// new ones; a shard reaching its end also triggers a listing.
	ShardSyncInterval time.Duration `koanf:"shard_sync_interval"`
	// MaxRecords is the Limit of one GetRecords call (1 to 10000).
	MaxRecords int `koanf:"max_records"`
	// IdlePoll is the pause after a GetRecords call that found a shard caught up; a shard
	// that is behind is read again as soon as Kinesis allows (5 calls per second).
	IdlePoll time.Duration `koanf:"idle_poll"`
	// Index is the target index (or template, e.g. "logs-%{yyyy.MM.dd}") of the documents;
	// empty leaves it to pipeline.index.
	Index string `koanf:"index"`
	// ID is position (default), field or none; see IDPosition, IDField and IDNone.
	ID string `koanf:"id"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		LeaseTable:         "weir-leases",
		StartPosition:      StartTrimHorizon,
		LeaseDuration:      10 * time.Second,
		CheckpointInterval: 5 * time.Second,
		ShardSyncInterval:  time.Minute,
		MaxRecords:         maxRecordsLimit,
		IdlePoll:           time.Second,
		ID:                 IDPosition,
	}
}

var (
	streamNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	streamARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/([a-zA-Z0-9_.-]{1,128})$`)
	tableNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
)

// Validate reports every problem, each prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	if len(c.Streams) == 0 {
		errs = append(errs, errors.New("streams: at least one stream name or ARN is required"))
	}
	seen := map[string]int{}
	for i, s := range c.Streams {
		st, err := parseStream(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("streams[%d]: %w", i, err))
			continue
		}
		// Leases are keyed by stream name: two streams of one name (in two accounts) would
		// share leases.
		if j, dup := seen[st.name]; dup {
			errs = append(errs, fmt.Errorf("streams[%d]: stream %q is already streams[%d]", i, st.name, j))
		}
		seen[st.name] = i
	}
	if !tableNameRE.MatchString(c.LeaseTable) {
		errs = append(errs, fmt.Errorf("lease_table: must be 3 to 255 letters, digits, '_', '-' or '.', got %q", c.LeaseTable))
	}
	if len(c.WorkerID) > 256 || strings.ContainsFunc(c.WorkerID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errs = append(errs, errors.New("worker_id: must be at most 256 printable characters"))
	}
	switch strings.ToUpper(c.StartPosition) {
	case StartTrimHorizon, StartLatest:
	case StartAtTimestamp:
		if c.StartTimestamp.IsZero() {
			errs = append(errs, errors.New("start_timestamp: required with start_position AT_TIMESTAMP (RFC 3339, e.g. 2026-11-25T10:00:00Z)"))
		}
	default:
		errs = append(errs, fmt.Errorf("start_position: must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, got %q", c.StartPosition))
	}
	if c.LeaseDuration < time.Second || c.LeaseDuration > 10*time.Minute {
		errs = append(errs, fmt.Errorf("lease_duration: must be between 1s and 10m, got %s", c.LeaseDuration))
	}
	if c.CheckpointInterval < 100*time.Millisecond || c.CheckpointInterval > time.Hour {
		errs = append(errs, fmt.Errorf("checkpoint_interval: must be between 100ms and 1h, got %s", c.CheckpointInterval))
	}
	if c.ShardSyncInterval < time.Second || c.ShardSyncInterval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("shard_sync_interval: must be between 1s and 24h, got %s", c.ShardSyncInterval))
	}
	if c.MaxRecords < 1 || c.MaxRecords > maxRecordsLimit {
		errs = append(errs, fmt.Errorf("max_records: must be between 1 and %d, got %d", maxRecordsLimit, c.MaxRecords))
	}
	if c.IdlePoll < minPollGap || c.IdlePoll > time.Minute {
		errs = append(errs, fmt.Errorf("idle_poll: must be between %s and 1m (Kinesis allows 5 reads a second per shard), got %s", minPollGap, c.IdlePoll))
	}
	if c.Index != "" {
		if strings.Contains(c.Index, "%{") {
			if _, err := pipeline.ParseIndexTemplate(c.Index); err != nil {
				errs = append(errs, fmt.Errorf("index: %w", err))
			}
		} else if err := pipeline.ValidIndexName(c.Index); err != nil {
			errs = append(errs, fmt.Errorf("index: %w", err))
		}
	}
	if c.ID != IDPosition && c.ID != IDField && c.ID != IDNone {
		errs = append(errs, fmt.Errorf("id: must be %q, %q or %q, got %q", IDPosition, IDField, IDNone, c.ID))
	}
	return errors.Join(errs...)
}

// stream is one configured stream. API calls name it by ARN when it was configured by ARN
// (another account's stream, for instance), else by name; leases are keyed by name.
type stream struct {
	name string
	arn  string
}

// ids names the stream in an API call: by ARN when configured so, else by name.
func (st stream) ids() (name, arn *string) {
	if st.arn != "" {
		return nil, &st.arn
	}
	return &st.name, nil
}

func parseStream(s string) (stream, error) {
	if strings.HasPrefix(s, "arn:") {
		m := streamARNRE.FindStringSubmatch(s)
		if m == nil {
			return stream{}, fmt.Errorf("%q is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", s)
		}
		return stream{name: m[1], arn: s}, nil
	}
	if !streamNameRE.MatchString(s) {
		return stream{}, fmt.Errorf("stream name %q must be 1 to 128 letters, digits, '_', '-' or '.'", s)
	}
	return stream{name: s}, nil
}
