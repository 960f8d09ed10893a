package file

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrInvalidGzip marks an input that claims gzip (by a .gz name) or starts like gzip but
// does not decompress: reading it again would fail again.
var ErrInvalidGzip = errors.New("invalid gzip")

// S3Getter is what reading objects calls of S3 (*s3.Client).
type S3Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ S3Getter = (*s3.Client)(nil)

// s3Retries is how many times one object's read is resumed after a network failure.
const s3Retries = 5

// open returns the input's stored bytes from offset on (a byte offset into the stored,
// possibly compressed, content).
func (j *Job) open(ctx context.Context, in Input, offset int64) (io.ReadCloser, error) {
	switch {
	case in.IsStdin():
		if offset > 0 {
			return nil, errors.New("standard input cannot be resumed")
		}
		return io.NopCloser(j.stdin), nil
	case in.IsS3():
		if j.s3 == nil {
			return nil, errors.New("no S3 client")
		}
		o := &objectBody{ctx: ctx, api: j.s3, in: in, pos: offset, sleep: j.sleep}
		if err := o.get(); err != nil {
			return nil, err
		}
		return o, nil
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// objectBody reads an S3 object and, when the connection fails midway, asks again for the
// rest (a Range request from where it stopped, conditional on the same ETag so that a
// replaced object is not stitched onto the old one). Reading a large object can take longer
// than a connection stays healthy; starting over would re-read everything.
type objectBody struct {
	ctx   context.Context
	api   S3Getter
	in    Input
	pos   int64
	body  io.ReadCloser
	tries int
	sleep func(context.Context, time.Duration) error
}

func (o *objectBody) get() error {
	req := &s3.GetObjectInput{Bucket: aws.String(o.in.Bucket), Key: aws.String(o.in.Key)}
	if o.pos > 0 {
		req.Range = aws.String(fmt.Sprintf("bytes=%d-", o.pos))
	}
	if o.in.ETag != "" {
		req.IfMatch = aws.String(`"` + o.in.ETag + `"`)
	}
	out, err := o.api.GetObject(o.ctx, req)
	if err != nil {
		return fmt.Errorf("get %s: %w", o.in.Name, err)
	}
	o.body = out.Body
	return nil
}

func (o *objectBody) Read(p []byte) (int, error) {
	for {
		n, err := o.body.Read(p)
		o.pos += int64(n)
		if err == nil || errors.Is(err, io.EOF) || n > 0 {
			if n > 0 && err != nil && !errors.Is(err, io.EOF) {
				err = nil // report the failure on the next call, after these bytes
			}
			return n, err
		}
		if o.ctx.Err() != nil || o.tries >= s3Retries {
			return 0, fmt.Errorf("read %s at byte %d: %w", o.in.Name, o.pos, err)
		}
		o.tries++
		_ = o.body.Close()
		backoff := time.Duration(float64(200*time.Millisecond<<o.tries) * (0.5 + rand.Float64()/2))
		if serr := o.sleep(o.ctx, backoff); serr != nil {
			return 0, serr
		}
		if gerr := o.get(); gerr != nil {
			return 0, errors.Join(err, gerr)
		}
	}
}

func (o *objectBody) Close() error {
	if o.body == nil {
		return nil
	}
	return o.body.Close()
}

// decode returns the content of stored bytes: gzip is recognised by its magic bytes
// (whatever the name, and whether or not S3 says Content-Encoding: gzip), and several gzip
// members one after the other are read as one stream, as gzip -d does. A name ending in .gz
// promises gzip: such an input that is not gzip is refused.
func decode(r io.Reader, name string) (content io.Reader, gzipped bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, fmt.Errorf("%w: %v", ErrInvalidGzip, err)
		}
		return gzipReader{zr}, true, nil
	}
	if strings.HasSuffix(strings.ToLower(name), ".gz") {
		return nil, false, fmt.Errorf("%w: named .gz but does not start with gzip's magic bytes", ErrInvalidGzip)
	}
	return br, false, nil
}

// gzipReader tells a corrupt stream (ErrInvalidGzip) from a failed read.
type gzipReader struct{ zr *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	var corrupt flate.CorruptInputError
	if err != nil && (errors.As(err, &corrupt) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF)) {
		err = fmt.Errorf("%w: %v", ErrInvalidGzip, err)
	}
	return n, err
}

// countingReader adds what it reads to a counter: the progress of stored bytes.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
