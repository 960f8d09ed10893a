package deadletter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/pipeline"
)

// Destination is a place dead letters go besides the file: an SQS queue or an S3 prefix.
type Destination interface {
	pipeline.DeadLetterSink
	// Name labels the destination in errors and metrics ("sqs", "s3").
	Name() string
}

// Multi is the dead-letter sink the daemon uses: the file always, plus any destinations.
// A write succeeds only once every one of them stored the letters, because on a container
// the file may be lost with the task and a destination is the copy that lasts; a write
// that fails anywhere leaves the records undelivered, so their source redelivers them and
// the places that did store them see them twice (at least once, everywhere).
type Multi struct {
	file  *File
	dests []Destination
	// failures counts failed writes by destination; nil when unregistered.
	failures *prometheus.CounterVec
}

var _ pipeline.DeadLetterSink = (*Multi)(nil)

// MultiOption adjusts a Multi.
type MultiOption func(*Multi)

// WithMultiRegisterer registers weir_dead_letter_destination_failures_total{destination}.
func WithMultiRegisterer(r prometheus.Registerer) MultiOption {
	return func(m *Multi) {
		m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_dead_letter_destination_failures_total",
			Help: "Dead-letter writes that failed, by destination (file, sqs, s3); the documents stay unacknowledged at their source.",
		}, []string{"destination"})
		if r != nil {
			r.MustRegister(m.failures)
		}
		for _, d := range append([]string{"file"}, names(m.dests)...) {
			m.failures.WithLabelValues(d)
		}
	}
}

func names(ds []Destination) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Name()
	}
	return out
}

// NewMulti returns a sink writing to file and then to every destination.
func NewMulti(file *File, dests []Destination, opts ...MultiOption) *Multi {
	m := &Multi{file: file, dests: dests}
	for _, o := range opts {
		o(m)
	}
	return m
}

// File returns the dead-letter file.
func (m *Multi) File() *File { return m.file }

// Start opens the file. Destinations need no start: a bad queue or bucket shows at the
// first dead letter, counted and logged, rather than keeping weir from ingesting.
func (m *Multi) Start(ctx context.Context) error { return m.file.Start(ctx) }

// Shutdown closes the file. Safe to call twice.
func (m *Multi) Shutdown(ctx context.Context) error { return m.file.Shutdown(ctx) }

// WriteDeadLetters stores letters in the file, then in every destination at once.
func (m *Multi) WriteDeadLetters(ctx context.Context, letters []pipeline.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	if err := m.file.WriteDeadLetters(ctx, letters); err != nil {
		m.failed("file")
		return err
	}
	if len(m.dests) == 0 {
		return nil
	}
	errs := make([]error, len(m.dests))
	var wg sync.WaitGroup
	for i, d := range m.dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.WriteDeadLetters(ctx, letters); err != nil {
				m.failed(d.Name())
				errs[i] = fmt.Errorf("deadletter %s: %w", d.Name(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Multi) failed(dest string) {
	if m.failures != nil {
		m.failures.WithLabelValues(dest).Inc()
	}
}

// encodeLine renders one letter exactly as the file stores it, so that an SQS message body
// or an S3 object line reads back with Read and replays with `weir dlq replay`.
func encodeLine(buf *bytes.Buffer, l *pipeline.DeadLetter, now func() time.Time) error {
	return (&File{now: now}).encode(buf, l)
}
