package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultCheckpointPath is where a backfill keeps its checkpoint unless told otherwise.
const DefaultCheckpointPath = ".weir-backfill-checkpoint.json"

// checkpointVersion changes when the file's meaning does; an unknown version is refused
// rather than misread.
const checkpointVersion = 1

// Checkpoint is what a backfill has finished, so that a run after a crash or a stop skips
// it: inputs read to the end with every document indexed or dead-lettered, and for inputs
// read part of the way, the position right after the last chunk that is delivered along
// with every chunk before it. Inputs are keyed by name and recognised by size and
// modification time (files) or ETag (S3 objects): a changed input is read again whole.
type Checkpoint struct {
	Version int                `json:"version"`
	Updated time.Time          `json:"updated"`
	Done    map[string]Entry   `json:"done"`
	Partial map[string]Partial `json:"partial"`
}

// Entry records one finished input.
type Entry struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime,omitzero"`
	ETag    string    `json:"etag,omitempty"`
	// Documents is how many documents the run that finished the input read from it.
	Documents int64 `json:"documents"`
}

// Partial records how far an input is delivered.
type Partial struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime,omitzero"`
	ETag    string    `json:"etag,omitempty"`
	// Offset is in the decompressed content: a gzip input is decompressed from its start
	// and this many bytes are skipped; a plain one is read from here (a seek or a Range).
	Offset int64 `json:"offset"`
	// Line is the number of lines (NDJSON) or array elements before Offset: numbering, and
	// so the documents' position ids, continue from it.
	Line   int64  `json:"line"`
	Format Format `json:"format"`
	Gzip   bool   `json:"gzip"`
}

// NewCheckpoint returns an empty checkpoint.
func NewCheckpoint() *Checkpoint {
	return &Checkpoint{Version: checkpointVersion, Done: map[string]Entry{}, Partial: map[string]Partial{}}
}

// LoadCheckpoint reads path; a missing file is an empty checkpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewCheckpoint(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	cp := NewCheckpoint()
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if cp.Version != checkpointVersion {
		return nil, fmt.Errorf("checkpoint %s: version %d, this weir reads version %d", path, cp.Version, checkpointVersion)
	}
	if cp.Done == nil {
		cp.Done = map[string]Entry{}
	}
	if cp.Partial == nil {
		cp.Partial = map[string]Partial{}
	}
	return cp, nil
}

// Save writes the checkpoint to path atomically: to a temporary file in the same directory,
// synced, then renamed over path, and the directory synced, so that a crash at any moment
// leaves either the old checkpoint or the new one, never a torn one.
func (c *Checkpoint) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Finished reports whether in was read to the end and delivered, unchanged since.
func (c *Checkpoint) Finished(in Input) bool {
	e, ok := c.Done[in.Name]
	return ok && in.Resumable() && same(e.Size, e.ModTime, e.ETag, in)
}

// Resume returns where to go on reading in, if a run delivered part of it and it has not
// changed since.
func (c *Checkpoint) Resume(in Input) (Partial, bool) {
	p, ok := c.Partial[in.Name]
	if !ok || !in.Resumable() || !same(p.Size, p.ModTime, p.ETag, in) || p.Offset <= 0 {
		return Partial{}, false
	}
	return p, true
}

func same(size int64, mtime time.Time, etag string, in Input) bool {
	return size == in.Size && mtime.Equal(in.ModTime) && etag == in.ETag
}

// clone copies the checkpoint, so that it can be written while the job goes on.
func (c *Checkpoint) clone() *Checkpoint {
	out := &Checkpoint{Version: c.Version, Updated: c.Updated, Done: make(map[string]Entry, len(c.Done)), Partial: make(map[string]Partial, len(c.Partial))}
	for k, v := range c.Done {
		out.Done[k] = v
	}
	for k, v := range c.Partial {
		out.Partial[k] = v
	}
	return out
}
