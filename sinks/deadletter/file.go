// Package deadletter stores documents that will not be indexed as they are, so that a person
// can inspect them, fix the cause and replay them (`weir dlq inspect/replay` read them back
// with Read).
//
// The store is an append-only NDJSON file, one line per dead letter, rotated by size. Every
// write is fsynced before WriteDeadLetters returns, because the source acknowledges (deletes
// the SQS message, moves the checkpoint) right after: a dead letter that is not on disk by
// then is a lost document.
package deadletter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/config/units"
	"github.com/weir-ingest/weir/pipeline"
)

// ErrClosed is returned by writes after Shutdown.
var ErrClosed = errors.New("dead-letter file is closed")

// Config says where dead letters go and how much of them is kept.
type Config struct {
	// Path of the live file; rotated files are Path.1 (newest) to Path.MaxFiles (oldest).
	// Default: weir-deadletter.ndjson.
	Path string `koanf:"path"`
	// MaxBytes rotates the live file before a write would take it past this size. A single
	// write larger than MaxBytes still goes whole into a fresh file. Default: 100MiB.
	MaxBytes units.ByteSize `koanf:"max_bytes"`
	// MaxFiles is how many rotated files are kept; older ones are deleted. Default: 10.
	MaxFiles int `koanf:"max_files"`
	// SQSQueueURL, when set, also sends every dead letter to this queue (one message per
	// letter, its body the file's line). Default: none.
	SQSQueueURL string `koanf:"sqs_queue_url"`
	// S3URI, when set (s3://bucket/prefix/), also writes every batch of dead letters as an
	// NDJSON object under this prefix. Default: none.
	S3URI string `koanf:"s3_uri"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Path: "weir-deadletter.ndjson", MaxBytes: 100 << 20, MaxFiles: 10}
}

// Validate reports every problem, each prefixed with its key.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.MaxBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("max_bytes: must be at least 4KiB, got %s", c.MaxBytes))
	}
	// Keeping no rotated file would make rotation a silent delete of dead letters.
	if c.MaxFiles < 1 || c.MaxFiles > 1000 {
		errs = append(errs, fmt.Errorf("max_files: must be between 1 and 1000, got %d", c.MaxFiles))
	}
	if c.SQSQueueURL != "" {
		if err := validQueueURL(c.SQSQueueURL); err != nil {
			errs = append(errs, fmt.Errorf("sqs_queue_url: %w", err))
		}
	}
	if c.S3URI != "" {
		if _, _, err := ParseS3URI(c.S3URI); err != nil {
			errs = append(errs, fmt.Errorf("s3_uri: %w", err))
		}
	}
	return errors.Join(errs...)
}

// File is a pipeline.DeadLetterSink that appends to a rotated NDJSON file. It is safe for
// concurrent use.
type File struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	m   *metrics

	// mu guards the open file, its size and closed, and serialises writes so that lines
	// never interleave and rotation never races an append.
	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
	buf    bytes.Buffer
}

var _ pipeline.DeadLetterSink = (*File)(nil)

// Option adjusts a File.
type Option func(*File)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(f *File) { f.log = l } }

// WithRegisterer registers the sink's metrics.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(f *File) { f.m = newMetrics(r) }
}

// WithClock sets the clock used for dead letters that carry no time.
func WithClock(now func() time.Time) Option { return func(f *File) { f.now = now } }

// NewFile validates cfg and returns the sink. The file is opened by Start, or by the first
// write.
func NewFile(cfg Config, opts ...Option) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("deadletter config: %w", err)
	}
	f := &File{cfg: cfg, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(f)
	}
	if f.m == nil {
		f.m = newMetrics(nil)
	}
	return f, nil
}

// Start opens (or creates) the live file, so that an unwritable path is reported at start-up
// rather than at the first refused document. Safe to call more than once.
func (f *File) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	return f.open()
}

// Shutdown closes the file. Writes after it fail with ErrClosed. Safe to call twice and
// without Start.
func (f *File) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	if err != nil {
		return fmt.Errorf("deadletter: close %s: %w", f.cfg.Path, err)
	}
	f.log.Info("dead-letter file closed", "path", f.cfg.Path)
	return nil
}

// open opens the live file for appending; f.mu must be held.
func (f *File) open() error {
	if f.f != nil {
		return nil
	}
	if dir := filepath.Dir(f.cfg.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("deadletter: %w", err)
		}
	}
	fh, err := os.OpenFile(f.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		_ = fh.Close()
		return fmt.Errorf("deadletter: %w", err)
	}
	f.f, f.size = fh, st.Size()
	return nil
}

// WriteDeadLetters appends one line per letter and fsyncs before returning. On error none of
// the letters may be counted as stored (some may be on disk: a replay may see them twice,
// which at-least-once allows).
func (f *File) WriteDeadLetters(ctx context.Context, letters []pipeline.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.buf.Reset()
	for i := range letters {
		if err := f.encode(&f.buf, &letters[i]); err != nil {
			return err
		}
	}
	if err := f.open(); err != nil {
		return err
	}
	if f.size > 0 && f.size+int64(f.buf.Len()) > int64(f.cfg.MaxBytes) {
		if err := f.rotate(); err != nil {
			return err
		}
	}
	n, err := f.f.Write(f.buf.Bytes())
	f.size += int64(n)
	if err == nil {
		err = f.f.Sync()
	}
	if err != nil {
		// The file may now end in a torn line; a fresh handle at the next write keeps
		// appending after it, and Read reports the torn line with its number.
		_ = f.f.Close()
		f.f = nil
		return fmt.Errorf("deadletter: write %s: %w", f.cfg.Path, err)
	}
	for i := range letters {
		f.m.written(letters[i].Reason).Inc()
	}
	return nil
}

// rotate shifts Path.k to Path.k+1 (dropping the oldest), moves the live file to Path.1 and
// opens a fresh one; f.mu must be held.
func (f *File) rotate() error {
	if err := f.f.Close(); err != nil {
		f.log.Warn("dead-letter file close before rotation failed", "path", f.cfg.Path, "err", err)
	}
	f.f = nil
	p := f.cfg.Path
	if err := os.Remove(p + "." + strconv.Itoa(f.cfg.MaxFiles)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deadletter: rotate: %w", err)
	}
	for k := f.cfg.MaxFiles - 1; k >= 1; k-- {
		err := os.Rename(p+"."+strconv.Itoa(k), p+"."+strconv.Itoa(k+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deadletter: rotate: %w", err)
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return fmt.Errorf("deadletter: rotate: %w", err)
	}
	// The renames must survive a crash too, or the live file could reappear with old letters.
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	f.log.Info("dead-letter file rotated", "path", p, "max_files", f.cfg.MaxFiles)
	return f.open()
}

// line is the on-disk form of a dead letter.
type line struct {
	Time     time.Time       `json:"time"`
	Source   string          `json:"source"`
	Key      string          `json:"key"`
	Offset   int64           `json:"offset"`
	Index    string          `json:"index"`
	ID       json.RawMessage `json:"id"`
	Status   int             `json:"status"`
	Reason   string          `json:"reason"`
	Error    string          `json:"error"`
	Attempts int             `json:"attempts"`
	Doc      json.RawMessage `json:"doc"`
}

func (f *File) encode(buf *bytes.Buffer, l *pipeline.DeadLetter) error {
	t := l.Time
	if t.IsZero() {
		t = f.now()
	}
	enc := json.NewEncoder(buf)
	// Documents are stored as sent: "<" must not come back as "\u003c".
	enc.SetEscapeHTML(false)
	err := enc.Encode(line{
		Time: t.UTC(), Source: l.Source, Key: l.Key, Offset: l.Offset, Index: l.Index,
		ID: idJSON(l.ID), Status: l.Status, Reason: l.Reason, Error: l.Error, Attempts: l.Attempts,
		Doc: docJSON(l.Doc),
	})
	if err != nil {
		return fmt.Errorf("deadletter: encode: %w", err)
	}
	return nil
}

// idJSON quotes an id. Record ids are JSON string content, already escaped, so they are
// written as they are when that holds; anything else is escaped as a plain string.
func idJSON(id string) json.RawMessage {
	q := make([]byte, 0, len(id)+2)
	q = append(append(append(q, '"'), id...), '"')
	var s string
	if json.Unmarshal(q, &s) == nil {
		return q
	}
	q, _ = json.Marshal(id)
	return q
}

// docJSON keeps an object or array document as raw JSON (the encoder compacts it onto one
// line) and stores anything else, invalid JSON or a bare scalar, as a JSON string, so that
// Entry.Document can always tell which it was.
func docJSON(doc []byte) json.RawMessage {
	t := bytes.TrimSpace(doc)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		return t
	}
	s, _ := json.Marshal(string(doc))
	return s
}

// Entry is a dead letter read back from a file.
type Entry struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Key      string    `json:"key"`
	Offset   int64     `json:"offset"`
	Index    string    `json:"index"`
	ID       string    `json:"id"`
	Status   int       `json:"status"`
	Reason   string    `json:"reason"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	// Doc is the stored document: raw JSON, or a JSON string for one that was not a JSON
	// object or array. Document returns the original bytes either way.
	Doc json.RawMessage `json:"doc"`
}

// Document returns the document as it was sent (an object or array compacted onto one line).
func (e Entry) Document() ([]byte, error) {
	if len(e.Doc) > 0 && e.Doc[0] == '"' {
		var s string
		if err := json.Unmarshal(e.Doc, &s); err != nil {
			return nil, fmt.Errorf("deadletter: doc: %w", err)
		}
		return []byte(s), nil
	}
	return e.Doc, nil
}

// Read calls fn for each dead letter in the file at path, in order, and stops at fn's first
// error, which it returns. A line that does not parse (a torn last line after a crash, say)
// ends the read with an error naming its line number.
func Read(path string, fn func(Entry) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	defer fh.Close()
	// bufio.Scanner caps lines; documents have no such cap, so lines are read whole.
	r := bufio.NewReaderSize(fh, 64<<10)
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var e Entry
			if jerr := json.Unmarshal(b, &e); jerr != nil {
				return fmt.Errorf("deadletter: %s line %d: %w", path, n, jerr)
			}
			if ferr := fn(e); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("deadletter: %s: %w", path, err)
		}
	}
}
