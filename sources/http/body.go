package httpsource

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/weir-ingest/weir/pipeline"
)

var (
	errBodyTooLarge = errors.New("request body exceeds max_request_bytes")
	errEncoding     = errors.New("unsupported Content-Encoding")
	errGzip         = errors.New("invalid gzip body")
	errBusy         = errors.New("too many request bodies are being read at once")
)

// body is a request body read whole. Records alias it (zero-copy), so it is shared by the
// handler, which writes ids from it into the answer, and by the Ack, whose records point
// into it until they are finished: the last of the two to let go returns it to the pool.
type body struct {
	b    []byte
	refs atomic.Int32
	// recs is storage for the records framed from b, recycled with it: the records of a
	// 500-document request are ~70KiB, which allocating and zeroing per request (and the
	// garbage collector scanning) costs more than framing them. The records are done with
	// when the body is (the Ack finished them all and the handler has answered).
	recs []pipeline.Record
}

// maxPooledRecords keeps a rare body of tiny documents from pinning a huge records slice.
const maxPooledRecords = 16 << 10

// keepRecords makes recs's storage the body's, to recycle with it.
func (b *body) keepRecords(recs []pipeline.Record) {
	if cap(recs) <= maxPooledRecords {
		b.recs = recs[:0]
	}
}

var bodyPool = sync.Pool{New: func() any { return new(body) }}

// maxPooledBody keeps rare huge bodies from staying pinned in the pool; typical shipper
// batches (a few hundred KiB to a few MiB) are reused.
const maxPooledBody = 4 << 20

// release drops one holder; the last one recycles the buffer. Records are finished by then
// (the Ack called back), and nothing downstream keeps a document past its Finish.
func (b *body) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	if cap(b.b) > maxPooledBody {
		b.b = nil
	}
	b.b = b.b[:0]
	// Records point into the body and name strings of their own: cleared, so that a pooled
	// slice keeps nothing alive.
	clear(b.recs[:cap(b.recs)])
	b.recs = b.recs[:0]
	bodyPool.Put(b)
}

var gzipPool sync.Pool // *gzip.Reader: each holds a sizeable inflate window

// readBody reads the request body whole, decompressing gzip, and refuses one over limit
// bytes, before or after decompression. The result has one reference, the caller's.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (*body, error) {
	var gz bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, fmt.Errorf("%w %q: send it plain or gzip-compressed", errEncoding, enc)
	}
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	// MaxBytesReader also bounds bodies of unknown length and the compressed stream, and
	// makes the server close the connection instead of reading the rest of a large one.
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	hint := r.ContentLength
	var zr *gzip.Reader
	if gz {
		var err error
		if zr, err = getGzip(src); err != nil {
			return nil, tooLargeOr(err, fmt.Errorf("%w: %w", errGzip, err))
		}
		defer gzipPool.Put(zr)
		src = zr
		hint = -1
	}
	bb := bodyPool.Get().(*body)
	bb.refs.Store(1)
	buf, err := readAll(src, bb.b[:0], hint, limit)
	bb.b = buf
	if err != nil {
		bb.release()
		if gz && !errors.Is(err, errBodyTooLarge) {
			return nil, tooLargeOr(err, fmt.Errorf("%w: %w", errGzip, err))
		}
		return nil, tooLargeOr(err, fmt.Errorf("reading request body: %w", err))
	}
	return bb, nil
}

func getGzip(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipPool.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipPool.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// tooLargeOr maps the MaxBytesReader's error to errBodyTooLarge.
func tooLargeOr(err, other error) error {
	var mbe *http.MaxBytesError
	if errors.Is(err, errBodyTooLarge) || errors.As(err, &mbe) {
		return errBodyTooLarge
	}
	return other
}

// readAll appends everything r holds to buf, failing with errBodyTooLarge past limit bytes.
// hint, when known, sizes the buffer in one step.
func readAll(r io.Reader, buf []byte, hint, limit int64) ([]byte, error) {
	if hint > 0 && int64(cap(buf)) < hint {
		// One byte more than the body, so that the read reaching EOF needs no growth.
		buf = make([]byte, 0, hint+1)
	} else if cap(buf) == 0 {
		buf = make([]byte, 0, 16<<10)
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, errBodyTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readBudget is how many body bytes may be read at once: four requests of the largest size,
// and never less than 32MiB so that a small max_request_bytes still allows many clients.
func readBudget(cfg Config) int64 {
	return max(4*int64(cfg.MaxRequestBytes), 32<<20)
}

// readBody reads a body within the read budget. A body that does not fit the budget right
// now is refused with errBusy (answered 429): waiting would hold a connection and its
// buffer, which is what the budget is there to bound.
func (s *Source) readBody(w http.ResponseWriter, r *http.Request) (*body, error) {
	weight := int64(s.cfg.MaxRequestBytes)
	if r.ContentLength >= 0 && r.ContentLength < weight && r.Header.Get("Content-Encoding") == "" {
		weight = r.ContentLength
	}
	weight = max(weight, 1)
	if !s.reading.TryAcquire(weight) {
		return nil, errBusy
	}
	defer s.reading.Release(weight)
	return readBody(w, r, int64(s.cfg.MaxRequestBytes))
}
