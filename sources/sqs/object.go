package sqs

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sources/file"
)

// recordOverhead is what the pipeline charges per record beyond its document bytes: a
// document alone in half the queue is this much smaller than half.
const recordOverhead = pipeline.RecordOverhead

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

// newObjectReader reads an object's documents in chunks with the reader backfill uses
// (sources/file), so that both frame and number them alike: NDJSON by 1-based line, blank
// lines included; a JSON array and CloudTrail's {"Records":[...]} by 0-based element.
// sizeHint is the expected size of the content (0: unknown); it sizes the first buffer.
func newObjectReader(r io.Reader, chunkBytes, maxDoc, sizeHint int) (*file.Reader, error) {
	if sizeHint <= 0 {
		sizeHint = 64 << 10
	}
	return file.NewReader(r, file.ReaderOptions{ChunkBytes: chunkBytes, MaxDoc: maxDoc, SizeHint: sizeHint}, file.Position{})
}
