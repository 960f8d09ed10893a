package auth

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// maxPooledBuffer keeps one giant request from pinning its buffer in the
// pool for the life of the process.
const maxPooledBuffer = 64 << 20

var (
	bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	// BestSpeed: the body is compressed on the hot path of every bulk
	// request, and on JSON it gets most of the ratio for a fraction of the
	// CPU of the default level.
	gzipPool = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return zw
	}}
)

// bytesBody is a request body that can hand over its bytes without a copy.
// Bytes must return everything the body would still read.
type bytesBody interface{ Bytes() []byte }

// payload is the exact bytes a signed request sends, hashed once and
// replayable for the one retry after a refused token.
type payload struct {
	b       []byte
	hash    string
	gzipped bool
	// buf is the pooled storage behind b, or nil when b belongs to the
	// caller. It goes back to the pool when the last reader is closed: the
	// http.Transport may still be writing the body after RoundTrip returns.
	buf *bytes.Buffer

	mu       sync.Mutex // guards refs and released against GetBody racing the last Close
	refs     int
	released bool
}

// errPayloadReleased is returned by GetBody after the request finished and
// its pooled body was recycled.
var errPayloadReleased = errors.New("auth: request body already released")

// readPayload takes req's body once: directly when the body exposes its
// bytes, else into a pooled buffer (through gzip when compressing). It closes
// req.Body, as a RoundTripper must. The caller holds one reference.
func readPayload(req *http.Request, compress bool) (*payload, error) {
	src, direct, err := bodySource(req)
	if err != nil {
		return nil, err
	}
	if src != nil {
		defer src.Close()
	}
	p := &payload{refs: 1}
	switch {
	case src == nil && len(direct) == 0:
		// No body: nothing to compress, and the hash is the empty string's.
	case !compress && src == nil:
		p.b = direct
	case !compress:
		p.buf = getBuffer(req.ContentLength)
		if _, err := p.buf.ReadFrom(src); err != nil {
			putBuffer(p.buf)
			return nil, fmt.Errorf("auth: read request body: %w", err)
		}
		p.b = p.buf.Bytes()
	default:
		p.buf = getBuffer(req.ContentLength / 4)
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(p.buf)
		if src != nil {
			_, err = io.Copy(zw, src)
		} else {
			_, err = zw.Write(direct)
		}
		if err == nil {
			err = zw.Close()
		}
		zw.Reset(io.Discard) // drop the reference to p.buf before pooling
		gzipPool.Put(zw)
		if err != nil {
			putBuffer(p.buf)
			return nil, fmt.Errorf("auth: compress request body: %w", err)
		}
		p.b, p.gzipped = p.buf.Bytes(), true
	}
	sum := sha256.Sum256(p.b)
	p.hash = hex.EncodeToString(sum[:])
	return p, nil
}

// bodySource returns either the body's bytes (direct) or a reader to drain
// (src), and closes req.Body unless src is it.
func bodySource(req *http.Request) (src io.ReadCloser, direct []byte, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil, nil
	}
	if bb, ok := req.Body.(bytesBody); ok {
		direct = bb.Bytes()
		return nil, direct, req.Body.Close()
	}
	if req.GetBody == nil {
		return req.Body, nil, nil
	}
	// GetBody gives a fresh reader over the whole body even when req.Body
	// was partly read, and for bodies built by http.NewRequest it reads the
	// caller's slice in place.
	rc, err := req.GetBody()
	_ = req.Body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("auth: request GetBody: %w", err)
	}
	if bb, ok := rc.(bytesBody); ok {
		direct = bb.Bytes()
		return nil, direct, rc.Close()
	}
	return rc, nil, nil
}

// reader returns a new reader over the payload holding a reference.
func (p *payload) reader() (io.ReadCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil, errPayloadReleased
	}
	if len(p.b) == 0 {
		return http.NoBody, nil
	}
	p.refs++
	return &payloadReader{Reader: bytes.NewReader(p.b), p: p}, nil
}

func (p *payload) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refs--; p.refs == 0 {
		p.released = true
		if p.buf != nil {
			putBuffer(p.buf)
		}
	}
}

type payloadReader struct {
	*bytes.Reader
	p    *payload
	once sync.Once
}

func (r *payloadReader) Close() error {
	r.once.Do(r.p.release)
	return nil
}

func getBuffer(sizeHint int64) *bytes.Buffer {
	buf := bufferPool.Get().(*bytes.Buffer)
	if sizeHint > 0 && sizeHint <= maxPooledBuffer {
		// ReadFrom wants MinRead spare bytes to see EOF; without them a body
		// of exactly ContentLength would be copied into a bigger buffer.
		buf.Grow(int(sizeHint) + bytes.MinRead)
	}
	return buf
}

func putBuffer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledBuffer {
		return
	}
	buf.Reset()
	bufferPool.Put(buf)
}
