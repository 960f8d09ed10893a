// Package corpus makes the documents benchmarks send: log-like JSON generated from a seed
// (the same seed and settings give the same documents, in weir bench, the load generator and
// the file opensearch-benchmark indexes), or the lines of an NDJSON file replayed in a loop.
package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// Spec describes generated documents.
type Spec struct {
	// DocBytes is the size each document is padded to (its "message" field grows to fit);
	// a document is never smaller than its fields need. Default 1024.
	DocBytes int
	// Fields is how many fields a document has besides @timestamp: alternately keyword and
	// integer fields drawn from Cardinality values, the last being the free-text "message".
	// Default 12.
	Fields int
	// Cardinality is how many distinct values each keyword and integer field takes.
	// Default 1000.
	Cardinality int
	// Seed picks the documents. Default 1.
	Seed uint64
	// Start is the @timestamp of document 0; document i is i milliseconds later.
	// Default 2026-11-25T00:00:00Z.
	Start time.Time
}

// DefaultSpec returns the defaults: ~1 KiB documents with 12 fields.
func DefaultSpec() Spec {
	return Spec{DocBytes: 1024, Fields: 12, Cardinality: 1000, Seed: 1,
		Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
}

// Validate reports every problem with the spec.
func (s Spec) Validate() error {
	var errs []error
	if s.DocBytes < 64 || s.DocBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("doc-bytes: %d is not between 64 and 64MiB", s.DocBytes))
	}
	if s.Fields < 1 || s.Fields > 1000 {
		errs = append(errs, fmt.Errorf("fields: %d is not between 1 and 1000", s.Fields))
	}
	if s.Cardinality < 1 {
		errs = append(errs, fmt.Errorf("cardinality: %d must be at least 1", s.Cardinality))
	}
	return errors.Join(errs...)
}

// words make the message field read like a log line; drawn at random they compress about as
// well as real logs, which matters when bodies are gzipped.
var words = []string{"GET", "POST", "request", "served", "user", "session", "timeout", "upstream",
	"connection", "reset", "cache", "miss", "hit", "retry", "shard", "index", "query", "ok", "error",
	"warning", "latency", "bytes", "client", "server", "token", "expired", "refreshed", "queue",
	"worker", "started", "stopped", "/api/v1/orders", "/healthz", "/login", "checkout", "payment"}

// fieldNames are the first names given to fields; more fields are named f12, f13, ...
var fieldNames = []string{"service", "status", "host", "bytes", "region", "latency_ms", "level",
	"user_id", "method", "port", "path"}

// Append appends document i of the spec to dst.
func (s Spec) Append(dst []byte, i int64) []byte {
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	start := len(dst)
	dst = append(dst, `{"@timestamp":"`...)
	dst = s.Start.Add(time.Duration(i)*time.Millisecond).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, '"')
	for f := 0; f < s.Fields-1; f++ {
		dst = append(dst, ',', '"')
		if f < len(fieldNames) {
			dst = append(dst, fieldNames[f]...)
		} else {
			dst = append(dst, 'f')
			dst = strconv.AppendInt(dst, int64(f), 10)
		}
		dst = append(dst, '"', ':')
		v := r.IntN(s.Cardinality)
		if f%2 == 0 {
			dst = append(dst, '"')
			if f < len(fieldNames) {
				dst = append(dst, fieldNames[f]...)
			} else {
				dst = append(dst, 'v')
			}
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(v), 10)
			dst = append(dst, '"')
		} else {
			dst = strconv.AppendInt(dst, int64(v), 10)
		}
	}
	dst = append(dst, `,"message":"`...)
	// The message fills the document up to DocBytes (the closing `"}` included); a document
	// whose fields alone are larger gets an empty message.
	msg := len(dst)
	want := max(start+s.DocBytes-2, msg)
	for len(dst) < want {
		if len(dst) > msg {
			dst = append(dst, ' ')
		}
		dst = append(dst, words[r.IntN(len(words))]...)
	}
	dst = dst[:want]
	if len(dst) > msg && dst[len(dst)-1] == ' ' {
		dst[len(dst)-1] = 'x'
	}
	return append(dst, '"', '}')
}

// Corpus is a set of documents used in a loop: document i is Doc(i mod Len).
type Corpus struct {
	docs  [][]byte
	bytes int64
	Name  string // "generated" or the file it came from
}

// Generate makes the first n documents of spec.
func Generate(spec Spec, n int) (*Corpus, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("corpus: %d documents: need at least one", n)
	}
	// One backing array for all documents: n small allocations would be slower to make and
	// scattered in memory.
	buf := make([]byte, 0, n*(spec.DocBytes+16))
	ends := make([]int, n)
	for i := range n {
		buf = spec.Append(buf, int64(i))
		ends[i] = len(buf)
	}
	c := &Corpus{docs: make([][]byte, n), Name: "generated"}
	prev := 0
	for i, e := range ends {
		c.docs[i] = buf[prev:e:e]
		prev = e
	}
	c.bytes = int64(len(buf))
	return c, nil
}

// Load reads an NDJSON file (blank lines skipped, CRLF accepted) into a corpus. Lines are
// not validated: a replay sends what the file holds.
func Load(path string) (*Corpus, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", path, err)
	}
	c.Name = path
	return c, nil
}

// Read reads NDJSON documents from r.
func Read(r io.Reader) (*Corpus, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	c := &Corpus{Name: "reader"}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		c.docs = append(c.docs, line[:len(line):len(line)])
		c.bytes += int64(len(line))
	}
	if len(c.docs) == 0 {
		return nil, errors.New("no documents")
	}
	return c, nil
}

// Len is the number of distinct documents.
func (c *Corpus) Len() int { return len(c.docs) }

// Doc returns document i mod Len; callers must not modify it.
func (c *Corpus) Doc(i int64) []byte { return c.docs[i%int64(len(c.docs))] }

// AvgBytes is the mean document size.
func (c *Corpus) AvgBytes() float64 { return float64(c.bytes) / float64(len(c.docs)) }

// WriteNDJSON writes documents 0..n-1 of spec to w, one per line, generating them one at a
// time so that a large file needs no memory.
func WriteNDJSON(w io.Writer, spec Spec, n int64) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, 0, spec.DocBytes+64)
	for i := range n {
		buf = append(spec.Append(buf[:0], i), '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Bodies builds count request bodies of perBody documents each, taken from c in order:
// NDJSON when action is empty, else _bulk format with action (a whole action line, newline
// included) before each document. finalNewline ends the body with a newline.
func Bodies(c *Corpus, count, perBody int, action []byte, finalNewline bool) [][]byte {
	out := make([][]byte, count)
	var i int64
	for b := range out {
		var buf []byte
		for d := range perBody {
			buf = append(buf, action...)
			buf = append(buf, c.Doc(i)...)
			i++
			if d < perBody-1 || finalNewline || len(action) > 0 {
				buf = append(buf, '\n')
			}
		}
		out[b] = buf
	}
	return out
}
