package file

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/pipeline/docscan"
)

// recordOverhead is what the pipeline charges per record beyond its document bytes; a
// chunk's budget counts it so that a chunk of tiny documents cannot outgrow the queue.
const recordOverhead = pipeline.RecordOverhead

// sampleBytes is how much of a document too large to index is kept for its dead letter.
const sampleBytes = 1 << 10

// Format is how an input's documents are laid out; it fixes what a document's offset means.
type Format uint8

const (
	// NDJSON is one document per line; the offset is the 1-based line number (blank lines
	// count, so numbers match what an editor shows).
	NDJSON Format = iota
	// Array is a JSON array of documents; the offset is the 0-based element index.
	Array
	// Records is {"Records":[...]}, as CloudTrail writes: the elements are the documents,
	// numbered as in Array. What follows the array is not read.
	Records
)

var formatNames = [...]string{"ndjson", "array", "records"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// MarshalText writes the format's name.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a format's name.
func (f *Format) UnmarshalText(b []byte) error {
	for i, n := range formatNames {
		if string(b) == n {
			*f = Format(i)
			return nil
		}
	}
	return fmt.Errorf("unknown format %q", b)
}

// Position is a place between two documents of an input: how many bytes of its
// (decompressed) content come before it, and how many lines (NDJSON) or elements (arrays)
// those bytes hold, so that numbering continues from there when reading resumes.
type Position struct {
	Format Format
	// Offset counts bytes of the decompressed content.
	Offset int64
	// Line is the number of lines (NDJSON) or array elements read before Offset.
	Line int64
}

// Span is one document in a chunk: Buf[Start:End], at Offset (its line number or element
// index) in its input.
type Span struct {
	Start, End int
	Offset     int64
}

// Oversized is a document larger than a chunk may hold: it was skipped, and is to be
// dead-lettered with its first bytes.
type Oversized struct {
	Offset int64
	Size   int64
	Sample []byte
}

// Chunk is whole documents read from an input. The records built from it alias Buf, which
// is never reused; End is where the next chunk begins.
type Chunk struct {
	Buf       []byte
	Docs      []Span
	Oversized []Oversized
	End       Position
	// Weight is the memory the chunk holds (its whole buffer), what the pipeline's queue
	// is to account for.
	Weight int64
}

// ReaderOptions size a Reader.
type ReaderOptions struct {
	// ChunkBytes is a chunk's budget: its documents plus the pipeline's per-record overhead.
	ChunkBytes int
	// MaxDoc is the largest document kept; a longer one is skipped and reported in
	// Chunk.Oversized.
	MaxDoc int
	// SizeHint is the expected size of the content, when known. The first buffer is then
	// sized to it (at least 4KiB) and each next one doubles up to ChunkBytes, so that a
	// small input does not cost a whole chunk, and the input is read through a small
	// buffer: reads into a chunk go around it once it is empty, and many small inputs read
	// at once (an SQS source's objects) should not each hold 64KiB. Zero: every buffer is
	// ChunkBytes.
	SizeHint int
}

// Reader streams an input's documents in chunks of about ChunkBytes, so that an input of
// any size is read with bounded memory: a chunk is a fresh buffer, the records of a chunk
// alias it, and the pipeline's byte-bounded queue holds the reader back while earlier
// chunks are in flight.
type Reader struct {
	r    *bufio.Reader
	opts ReaderOptions

	format Format
	// bufSize is the next chunk's buffer (before carried bytes are counted).
	bufSize int
	// pending holds bytes read past the end of the last chunk; base is its offset.
	pending []byte
	base    int64
	line    int64 // lines or elements before base
	eof     bool
	done    bool
}

// NewReader reads r from pos: at offset 0 the format is detected ('[' is an array, an
// object whose first key is "Records" holding an array is a Records object, anything else
// is NDJSON); at a later position r must start at pos.Offset and pos.Format is trusted.
func NewReader(r io.Reader, opts ReaderOptions, pos Position) (*Reader, error) {
	if opts.ChunkBytes < 1 || opts.MaxDoc < 1 {
		return nil, errors.New("file reader: ChunkBytes and MaxDoc must be positive")
	}
	readBuf := 64 << 10
	d := &Reader{opts: opts, format: pos.Format, base: pos.Offset, line: pos.Line, bufSize: opts.ChunkBytes}
	if opts.SizeHint > 0 {
		readBuf = 4096
		// One byte more than the hint lets the first read see the end of the input.
		d.bufSize = min(max(opts.SizeHint+1, 4096), opts.ChunkBytes)
	}
	br := bufio.NewReaderSize(r, readBuf)
	d.r = br
	if pos.Offset > 0 {
		return d, nil
	}
	d.format = NDJSON
	head, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	i := 0
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		i = 3
	}
	i = docscan.SkipSpace(head, i)
	switch {
	case i < len(head) && head[i] == '[':
		d.format = Array
		d.skipHeader(i + 1)
	case i < len(head) && head[i] == '{':
		if n, ok := recordsPrefix(head[i:]); ok {
			d.format = Records
			d.skipHeader(i + n)
		}
	}
	return d, nil
}

func (d *Reader) skipHeader(n int) {
	_, _ = d.r.Discard(n)
	d.base = int64(n)
}

// Format is the layout the reader found (or was given).
func (d *Reader) Format() Format { return d.format }

// recordsPrefix matches `{ "Records" : [` and returns its length.
func recordsPrefix(b []byte) (int, bool) {
	i := docscan.SkipSpace(b, 1)
	const key = `"Records"`
	if !bytes.HasPrefix(b[i:], []byte(key)) {
		return 0, false
	}
	i = docscan.SkipSpace(b, i+len(key))
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	i = docscan.SkipSpace(b, i+1)
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	return i + 1, true
}

// scanner finds documents in a buffer that starts between two documents.
type scanner interface {
	// next looks for the next whole document at or after i. ok: it is b[start:end] and the
	// chunk may end at after. Not ok: b ends inside a document (which starts at from) or
	// before the next one begins (from is len(b)).
	next(b []byte, i int) (start, end, after int, ok bool, from int)
	// passed is how many lines or elements the last next call went past (blank lines
	// included), for numbering.
	passed() int64
	// skip goes on through the unfinished document in b, fresh bytes that follow what was
	// scanned; found: the document ends at b[:end].
	skip(b []byte) (end int, found bool)
	// done reports that the input's documents ended (the array closed).
	done() bool
}

// Next reads the next chunk. It returns io.EOF when the input is exhausted; any other error
// is from reading.
func (d *Reader) Next() (*Chunk, error) {
	if d.done {
		return nil, io.EOF
	}
	var sc scanner
	if d.format == NDJSON {
		sc = &lineScanner{}
	} else {
		sc = &elemScanner{}
	}
	c := &Chunk{}
	buf := make([]byte, len(d.pending), max(d.bufSize, 2*len(d.pending)))
	d.bufSize = min(2*d.bufSize, d.opts.ChunkBytes)
	copy(buf, d.pending)
	d.pending = nil
	var (
		base   = d.base // offset of buf[0] in the content
		line   = d.line // lines or elements before buf[i]
		i      int      // where scanning goes on
		cut    int      // end of the chunk so far: right after its last document
		cutPos = Position{Format: d.format, Offset: base, Line: line}
		budget int
	)
	emit := func() (*Chunk, error) {
		c.Buf = buf[:cut:cut]
		c.Weight = int64(cap(buf))
		c.End = cutPos
		d.pending = buf[cut:]
		d.base, d.line = cutPos.Offset, cutPos.Line
		return c, nil
	}
	finish := func() (*Chunk, error) {
		d.done = true
		cut = len(buf)
		cutPos = Position{Format: d.format, Offset: base + int64(len(buf)), Line: line}
		if len(c.Docs) == 0 && len(c.Oversized) == 0 {
			return nil, io.EOF
		}
		return emit()
	}
	for {
		for !sc.done() {
			start, end, after, ok, from := sc.next(buf, i)
			line += sc.passed()
			if !ok {
				i = from
				break
			}
			if end-start > d.opts.MaxDoc {
				// Whole in the buffer, but too large to index all the same.
				c.Oversized = append(c.Oversized, Oversized{Offset: d.offsetOf(line), Size: int64(end - start), Sample: clone(buf[start:min(end, start+sampleBytes)])})
				i, cut = after, after
				cutPos = Position{Format: d.format, Offset: base + int64(after), Line: line}
				continue
			}
			cost := end - start + recordOverhead
			if budget+cost > d.opts.ChunkBytes && len(c.Docs) > 0 {
				// The document starts the next chunk, which scans it again.
				return emit()
			}
			budget += cost
			c.Docs = append(c.Docs, Span{Start: start, End: end, Offset: d.offsetOf(line)})
			i, cut = after, after
			cutPos = Position{Format: d.format, Offset: base + int64(after), Line: line}
		}
		if sc.done() {
			// The array closed: what follows (the rest of a Records object) is not read.
			return finish()
		}
		if d.eof {
			// A last line without a newline is a document; an array cut short leaves its
			// last element, which the pipeline refuses as invalid JSON, so the truncation
			// shows in the dead letters instead of vanishing.
			if rest := docscan.TrimSpace(buf[i:]); len(rest) > 0 {
				line++
				if len(rest) > d.opts.MaxDoc {
					c.Oversized = append(c.Oversized, Oversized{Offset: d.offsetOf(line), Size: int64(len(rest)), Sample: clone(rest[:min(len(rest), sampleBytes)])})
				} else {
					start := i + docscan.SkipSpace(buf[i:], 0)
					c.Docs = append(c.Docs, Span{Start: start, End: start + len(rest), Offset: d.offsetOf(line)})
				}
			}
			return finish()
		}
		if len(buf) == cap(buf) {
			switch {
			case len(c.Docs) > 0:
				return emit() // the unfinished document starts the next chunk
			case i == len(buf):
				// Only separators so far: nothing aliases buf, start it over.
				base += int64(len(buf))
				buf, i, cut = buf[:0], 0, 0
				cutPos = Position{Format: d.format, Offset: base, Line: line}
				sc = d.rescan(sc)
			case len(buf)-i > d.opts.MaxDoc:
				// One document fills the buffer and is too large to index: keep a sample,
				// skip the rest of it, and go on after it in the same buffer (nothing of the
				// chunk aliases it yet: it holds no document).
				start := i + docscan.SkipSpace(buf[i:], 0)
				o := Oversized{Sample: clone(buf[start:min(len(buf), start+sampleBytes)]), Size: int64(len(buf) - start)}
				base += int64(len(buf))
				buf = buf[:cap(buf)]
				found := false
				for !found && !d.eof {
					n, err := d.read(buf)
					if err != nil {
						return nil, err
					}
					var end int
					if end, found = sc.skip(buf[:n]); found {
						o.Size += int64(end)
						base += int64(end)
						buf = buf[:copy(buf, buf[end:n])]
					} else {
						o.Size += int64(n)
						base += int64(n)
					}
				}
				if !found {
					buf = buf[:0]
				}
				line++
				o.Offset = d.offsetOf(line)
				c.Oversized = append(c.Oversized, o)
				i, cut = 0, 0
				cutPos = Position{Format: d.format, Offset: base, Line: line}
				sc = d.rescan(sc)
				continue
			default:
				grown := make([]byte, len(buf), 2*cap(buf))
				copy(grown, buf)
				buf = grown
			}
		}
		n, err := d.read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return nil, err
		}
	}
}

// rescan returns a scanner for a buffer that starts between documents (the element
// scanner keeps state across buffers; the line scanner has none).
func (d *Reader) rescan(sc scanner) scanner {
	if d.format == NDJSON {
		return sc
	}
	return &elemScanner{}
}

func (d *Reader) offsetOf(line int64) int64 {
	if d.format == NDJSON {
		return line
	}
	return line - 1 // elements are numbered from 0
}

// read fills p as far as the input allows; the input's end sets d.eof instead of being
// returned.
func (d *Reader) read(p []byte) (int, error) {
	n, err := io.ReadFull(d.r, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		d.eof = true
		err = nil
	}
	return n, err
}

// lineScanner finds NDJSON lines. A line is blank when it holds only JSON whitespace
// ('\r' of CRLF included); blank lines count in the numbering but are no documents.
type lineScanner struct{ n int64 }

func (s *lineScanner) next(b []byte, i int) (start, end, after int, ok bool, from int) {
	s.n = 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, 0, 0, false, i
		}
		s.n++
		line := b[i : i+j]
		if doc := docscan.TrimSpace(line); len(doc) > 0 {
			start = i + docscan.SkipSpace(line, 0)
			return start, start + len(doc), i + j + 1, true, 0
		}
		i += j + 1
	}
	return 0, 0, 0, false, i
}

func (s *lineScanner) passed() int64 { return s.n }

func (s *lineScanner) skip(b []byte) (int, bool) {
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		return j + 1, true
	}
	return 0, false
}

func (s *lineScanner) done() bool { return false }

type arrayState uint8

const (
	stateBetween arrayState = iota // before an element, or after one (',' and space)
	stateElem                      // inside an element
	stateDone                      // after the array's ']'
)

// elemScanner finds the elements of a JSON array that arrives in pieces. It tracks only
// what delimits elements (nesting, strings, escapes); the pipeline validates each element.
type elemScanner struct {
	state  arrayState
	depth  int
	inStr  bool
	esc    bool
	scalar bool
	start  int // where the current element starts in the buffer
	resume int // where scanning stopped inside the current element
	n      int64
}

func (a *elemScanner) next(b []byte, i int) (start, end, after int, ok bool, from int) {
	a.n = 0
	if a.state == stateElem {
		i = a.resume
	}
	e, found := a.scan(b, i)
	if !found {
		if a.state == stateElem {
			a.resume = len(b)
			return 0, 0, 0, false, a.start
		}
		return 0, 0, 0, false, len(b)
	}
	a.n = 1
	return a.start, e, e, true, 0
}

func (a *elemScanner) passed() int64 { return a.n }

func (a *elemScanner) skip(b []byte) (int, bool) {
	a.start = 0
	return a.scan(b, 0)
}

func (a *elemScanner) done() bool { return a.state == stateDone }

// scan advances from i; found: an element ended at b[:end] (its start is a.start).
func (a *elemScanner) scan(b []byte, i int) (end int, found bool) {
	for i < len(b) {
		c := b[i]
		if a.state == stateBetween {
			switch {
			case docscan.IsSpace(c) || c == ',':
				i++
				continue
			case c == ']':
				a.state = stateDone
				return 0, false
			}
			a.state, a.start = stateElem, i
			a.depth, a.inStr, a.esc = 0, false, false
			a.scalar = c != '{' && c != '[' && c != '"'
		}
		if a.inStr {
			switch {
			case a.esc:
				a.esc = false
			case c == '\\':
				a.esc = true
			case c == '"':
				a.inStr = false
				if a.depth == 0 {
					a.state = stateBetween
					return i + 1, true
				}
			}
			i++
			continue
		}
		switch c {
		case '"':
			a.inStr = true
		case '{', '[':
			a.depth++
		case '}', ']':
			if a.depth == 0 && c == ']' {
				a.state = stateBetween // the array's own ']' right after a scalar
				return i, true
			}
			if a.depth == 0 {
				// A stray '}': part of a malformed element, which the pipeline refuses.
				// Ending the element here would leave the scanner on it for good.
				break
			}
			a.depth--
			if a.depth == 0 {
				a.state = stateBetween
				return i + 1, true
			}
		case ',':
			if a.depth == 0 {
				a.state = stateBetween
				return i, true
			}
		default:
			if docscan.IsSpace(c) && a.depth == 0 && a.scalar {
				a.state = stateBetween
				return i, true
			}
		}
		i++
	}
	return 0, false
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
