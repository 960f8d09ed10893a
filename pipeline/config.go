package pipeline

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/weir-ingest/weir/config/units"
)

// Config sizes the pipeline and says how documents are routed.
type Config struct {
	// Workers validate, enrich and route documents; default GOMAXPROCS.
	Workers int `koanf:"workers"`
	// QueueBytes bounds the memory held by documents between their source and their
	// acknowledgement, queued and in flight alike. Sources wait (or answer 429) when it is full.
	// The default, 16MiB, keeps a saturated weir under 100 MiB RSS (the heap settles near twice
	// the queue) while still holding three full 5MiB bulk batches; bench/RESULTS.md has the runs.
	QueueBytes units.ByteSize `koanf:"queue_bytes"`
	// DrainTimeout is how long shutdown keeps delivering what was accepted before it stops
	// and counts what stays undelivered (it stays unacknowledged at its source).
	DrainTimeout time.Duration `koanf:"drain_timeout"`
	// Index is the target when a source names none; it may hold date math from the
	// document's time field or the ingest time, e.g. "logs-%{yyyy.MM.dd}".
	Index string `koanf:"index"`
	// IDField is the document field (dotted path) whose value becomes the _id; empty: none.
	IDField string `koanf:"id_field"`
	// TimeField is the document field used for index date math; documents without it use
	// the ingest time.
	TimeField string `koanf:"time_field"`
	// Op is the bulk action: "index" (default) or "create" (a 409 counts as already indexed).
	Op string `koanf:"op"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Workers:      runtime.GOMAXPROCS(0),
		QueueBytes:   16 << 20,
		DrainTimeout: 30 * time.Second,
		Index:        "weir-%{yyyy.MM.dd}",
		TimeField:    "@timestamp",
		Op:           "index",
	}
}

// Validate reports every problem, each prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers: must be between 1 and 1024, got %d", c.Workers))
	}
	if c.QueueBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("queue_bytes: must be at least 1MiB, got %s", c.QueueBytes))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("drain_timeout: must be positive, got %s", c.DrainTimeout))
	}
	if c.Index == "" {
		errs = append(errs, errors.New("index: required"))
	} else if _, err := ParseIndexTemplate(c.Index); err != nil {
		errs = append(errs, fmt.Errorf("index: %w", err))
	}
	if _, err := ParseOp(c.Op); err != nil {
		errs = append(errs, fmt.Errorf("op: %w", err))
	}
	return errors.Join(errs...)
}

// ParseOp reads a bulk action name.
func ParseOp(s string) (Op, error) {
	switch s {
	case "", "index":
		return OpIndex, nil
	case "create":
		return OpCreate, nil
	}
	return OpIndex, fmt.Errorf("must be \"index\" or \"create\", got %q", s)
}
