package sqs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// recordOverhead is what the pipeline charges per record beyond its document bytes (its
// perRecordOverhead); a chunk's budget counts it so that a chunk of tiny documents cannot
// outgrow the queue.
const recordOverhead = 96

// sampleBytes is how much of a document too large to index is kept for its dead letter.
const sampleBytes = 1 << 10

// errInvalidGzip marks an object that claims gzip (by its name) or starts like gzip but
// does not decompress: reading it again would fail again, so it is dead-lettered.
var errInvalidGzip = errors.New("invalid gzip")

// transportError wraps an error from reading the object's body off the network, which is
// worth trying again, as opposed to one in its content, which is not.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

type transportReader struct{ r io.Reader }

func (t transportReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = &transportError{err}
	}
	return n, err
}

// openObject wraps an object's body for reading its documents: gzip is detected by its
// magic bytes. A name ending in .gz promises gzip, so such an object that is not gzip is
// refused (errInvalidGzip). Content-Encoding: gzip alone promises nothing: an HTTP layer
// may already have decoded it.
func openObject(body io.Reader, key string) (io.Reader, error) {
	// Small buffers: reads into a chunk go around them once they are empty.
	br := bufio.NewReaderSize(transportReader{body}, 4096)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			var te *transportError
			if errors.As(err, &te) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errInvalidGzip, err)
		}
		return gzipReader{zr}, nil
	}
	if strings.HasSuffix(strings.ToLower(key), ".gz") {
		return nil, fmt.Errorf("%w: the object is named .gz but does not start with gzip's magic bytes", errInvalidGzip)
	}
	return br, nil
}

// gzipReader tells a corrupt stream (errInvalidGzip) from a failed network read.
type gzipReader struct{ zr *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		var te *transportError
		if !errors.As(err, &te) {
			err = fmt.Errorf("%w: %v", errInvalidGzip, err)
		}
	}
	return n, err
}

// objectFormat is how an object's documents are laid out.
type objectFormat uint8

const (
	formatNDJSON  objectFormat = iota // one document per line
	formatArray                       // a JSON array of documents
	formatRecords                     // {"Records":[...]}, as CloudTrail writes: the elements are the documents
)

// span is one document's place in a chunk and in its object.
type span struct {
	start, end int
	offset     int64
}

// oversized is a document larger than a chunk may hold, skipped and dead-lettered.
type oversized struct {
	offset int64
	size   int64
	sample []byte
}

// chunk is whole documents read from an object: each span is a document in buf.
type chunk struct {
	buf   []byte
	spans []span
	big   []oversized
}

// docReader streams an object's documents in chunks of about chunkBytes (records' overhead
// counted), so that an object of any size is read with bounded memory: each chunk is a new
// buffer, the records of the chunk alias it, and the pipeline's byte-bounded queue holds
// the reader back while earlier chunks are in flight. A document longer than maxDoc is
// skipped, and reported with a sample for its dead letter.
type docReader struct {
	r          *bufio.Reader
	format     objectFormat
	chunkBytes int
	maxDoc     int
	// bufSize is the next chunk's buffer: it starts from the object's expected size and
	// doubles up to chunkBytes, so that a small object does not cost a whole chunk.
	bufSize int

	carry []byte // the unfinished document at the end of the last buffer
	eof   bool
	done  bool

	// NDJSON: line number of the last line handed out (blank lines count).
	line int64
	// discarding: the current document is too large and its bytes are being skipped.
	discarding bool
	discarded  int64
	sample     []byte

	arr arrayScanner
}

// newDocReader detects the format from the first bytes: '[' is an array, an object whose
// first key is "Records" holding an array is a Records object, anything else is NDJSON.
// sizeHint is the expected size of the content (0: unknown).
func newDocReader(r io.Reader, chunkBytes, maxDoc, sizeHint int) (*docReader, error) {
	br := bufio.NewReaderSize(r, 4096)
	d := &docReader{r: br, chunkBytes: chunkBytes, maxDoc: max(maxDoc, 1)}
	if sizeHint <= 0 {
		sizeHint = 64 << 10
	}
	// One byte more than the hint lets the first read see the end of the object.
	d.bufSize = min(max(sizeHint+1, 4096), chunkBytes)
	head, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	i := skipSpaceBOM(head)
	switch {
	case i < len(head) && head[i] == '[':
		d.format = formatArray
		_, _ = br.Discard(i + 1)
	case i < len(head) && head[i] == '{':
		if n, ok := recordsPrefix(head[i:]); ok {
			d.format = formatRecords
			_, _ = br.Discard(i + n)
		}
	}
	return d, nil
}

func skipSpaceBOM(b []byte) int {
	i := 0
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		i = 3
	}
	return skipSpace(b, i)
}

// recordsPrefix matches `{ "Records" : [` and returns its length.
func recordsPrefix(b []byte) (int, bool) {
	i := skipSpace(b, 1)
	const key = `"Records"`
	if !bytes.HasPrefix(b[i:], []byte(key)) {
		return 0, false
	}
	i = skipSpace(b, i+len(key))
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	return i + 1, true
}

// next reads the next chunk. It returns io.EOF when the object is exhausted; any other
// error is from reading (a *transportError, errInvalidGzip).
func (d *docReader) next() (*chunk, error) {
	if d.done {
		return nil, io.EOF
	}
	c := &chunk{}
	size := max(d.bufSize, 2*len(d.carry))
	d.bufSize = min(2*d.bufSize, d.chunkBytes)
	for {
		buf := make([]byte, len(d.carry), size)
		copy(buf, d.carry)
		d.carry = nil
		n, err := io.ReadFull(d.r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			d.eof = true
		} else if err != nil {
			return nil, err
		}
		var end int
		var full bool // the chunk's budget ended it: whole documents remain in the buffer
		if d.format == formatNDJSON {
			end, full = d.splitLines(buf, c)
		} else {
			end, full = d.splitElements(buf, c)
		}
		c.buf = buf[:end]
		if rest := buf[end:]; !d.discarding && len(rest) > d.maxDoc {
			// One document fills the buffer and is too large to index: keep a sample,
			// skip the rest of it.
			d.discarding = true
			d.sample = append([]byte(nil), rest[:min(len(rest), sampleBytes)]...)
			d.discarded = int64(len(rest))
			d.arr.resume = 0
		} else if !d.discarding {
			d.carry = rest
		}
		if d.eof && !full {
			d.finish(c, buf, end)
			d.done = true
		} else if d.format != formatNDJSON && d.arr.state == stateDone {
			d.done = true // what follows the array (the rest of a Records object) is not read
		}
		if len(c.spans) > 0 || len(c.big) > 0 {
			return c, nil
		}
		if d.done {
			return nil, io.EOF
		}
		// Nothing whole yet: the document at hand is longer than the buffer.
		if len(d.carry) >= size/2 {
			size *= 2
		}
	}
}

// finish handles the end of the object: a last line without a newline is a document; an
// array cut short leaves its last element, which the pipeline then refuses as invalid JSON
// (so the truncation shows in the dead letters instead of vanishing).
func (d *docReader) finish(c *chunk, buf []byte, end int) {
	if d.discarding {
		d.closeOversized(c, d.currentOffset())
		return
	}
	rest := d.carry
	d.carry = nil
	if len(trimSpace(rest)) == 0 || (d.format != formatNDJSON && d.arr.state == stateDone) {
		return
	}
	// rest is buf[end:], right after the chunk's bytes: the chunk just grows over it.
	lead := skipSpace(rest, 0)
	doc := trimSpace(rest)
	off := d.currentOffset()
	if d.format == formatNDJSON {
		d.line++
	} else {
		d.arr.index++
	}
	c.buf = buf
	c.spans = append(c.spans, span{start: end + lead, end: end + lead + len(doc), offset: off})
}

func (d *docReader) currentOffset() int64 {
	if d.format == formatNDJSON {
		return d.line + 1
	}
	return d.arr.index
}

func (d *docReader) closeOversized(c *chunk, offset int64) {
	c.big = append(c.big, oversized{offset: offset, size: d.discarded, sample: d.sample})
	d.discarding, d.discarded, d.sample = false, 0, nil
}

// splitLines appends the complete non-blank lines of buf to c within the chunk's budget
// and returns where the chunk ends (the rest is carried to the next buffer).
func (d *docReader) splitLines(buf []byte, c *chunk) (end int, full bool) {
	i := 0
	if d.discarding {
		j := bytes.IndexByte(buf, '\n')
		if j < 0 {
			d.discarded += int64(len(buf))
			return len(buf), false // all of it belongs to the skipped line
		}
		d.discarded += int64(j)
		d.line++
		d.closeOversized(c, d.line)
		i = j + 1
	}
	budget := 0
	for i < len(buf) {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			break
		}
		line := trimSpace(buf[i : i+j])
		if len(line) == 0 {
			d.line++
			i += j + 1
			continue
		}
		cost := len(line) + recordOverhead
		if budget+cost > d.chunkBytes && len(c.spans) > 0 {
			return i, true
		}
		budget += cost
		d.line++
		lead := skipSpace(buf[i:i+j], 0)
		c.spans = append(c.spans, span{start: i + lead, end: i + lead + len(line), offset: d.line})
		i += j + 1
	}
	return i, false
}

// splitElements appends the complete array elements of buf to c within the budget and
// returns where the chunk ends.
func (d *docReader) splitElements(buf []byte, c *chunk) (end int, full bool) {
	a := &d.arr
	// Carried bytes (the beginning of an unfinished element) were scanned already.
	i := a.resume
	a.resume = 0
	if a.state == stateElem && !d.discarding {
		a.start = 0
	}
	budget := 0
	for i < len(buf) && a.state != stateDone {
		elemEnd, next, ok := a.scan(buf, i)
		if !ok {
			break
		}
		if d.discarding {
			d.discarded += int64(elemEnd)
			d.closeOversized(c, a.index)
			a.index++
			i = next
			continue
		}
		doc := buf[a.start:elemEnd]
		cost := len(doc) + recordOverhead
		if budget+cost > d.chunkBytes && len(c.spans) > 0 {
			// Over budget: the element starts the next chunk and is scanned again there.
			a.state = stateBetween
			return a.start, true
		}
		budget += cost
		c.spans = append(c.spans, span{start: a.start, end: elemEnd, offset: a.index})
		a.index++
		i = next
	}
	if a.state == stateElem {
		if d.discarding {
			d.discarded += int64(len(buf))
			return len(buf), false
		}
		// Unfinished: carried from its start; the scan resumes where it stopped.
		a.resume = len(buf) - a.start
		return a.start, false
	}
	return len(buf), false
}

type arrayState uint8

const (
	stateBetween arrayState = iota // before an element, or after one (',' and space)
	stateElem                      // inside an element
	stateDone                      // after the array's ']'
)

// arrayScanner finds the elements of a JSON array that arrives in pieces. It tracks only
// what delimits elements (nesting, strings, escapes); the pipeline validates each element.
type arrayScanner struct {
	state  arrayState
	depth  int
	inStr  bool
	esc    bool
	scalar bool
	start  int   // where the current element starts in the buffer
	resume int   // where to resume scanning in the next buffer
	index  int64 // elements seen
}

// scan advances from i. When an element ends it returns its end and where to go on, ok
// true; when the buffer ends first, ok false (the state is kept for the next buffer).
func (a *arrayScanner) scan(b []byte, i int) (elemEnd, next int, ok bool) {
	for i < len(b) {
		c := b[i]
		if a.state == stateBetween {
			switch {
			case isSpace(c) || c == ',':
				i++
				continue
			case c == ']':
				a.state = stateDone
				return 0, len(b), false
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
					return i + 1, i + 1, true
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
				a.state = stateBetween // the array's own ']' after a scalar
				return i, i, true
			}
			if a.depth == 0 {
				break // a stray '}': part of a malformed element, which the pipeline refuses
			}
			a.depth--
			if a.depth == 0 {
				a.state = stateBetween
				return i + 1, i + 1, true
			}
		case ',':
			if a.depth == 0 {
				a.state = stateBetween
				return i, i, true
			}
		default:
			if isSpace(c) && a.depth == 0 && a.scalar {
				a.state = stateBetween
				return i, i, true
			}
		}
		i++
	}
	return 0, len(b), false
}
