package opensearch

import (
	"context"
	"io"
	"net"
)

// inMemoryBody is a request body already in memory: the sink's byteBody and the SigV4
// transport's payload reader both are (they embed a *bytes.Reader).
type inMemoryBody interface {
	io.WriterTo
	Len() int
}

// wholeBodyConn writes an in-memory request body with one Write call. net/http hands a body
// to the connection behind an io.LimitedReader, which hides the body's own WriteTo, so the
// copy goes through a 32 KiB buffer: for a 5 MB bulk body, 160 copies into that buffer and
// 160 write calls where one write of the body itself will do (with the null receiver, that
// copy was 5% of weir's CPU, bench/RESULTS.md). Over TLS the connection under tls.Conn is
// this one, and tls.Conn never calls ReadFrom: the gain is for plain HTTP only.
type wholeBodyConn struct{ net.Conn }

func (c wholeBodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		// Only when the limit is exactly what the body holds: otherwise net/http is about
		// to report a length mismatch, and must see the bytes the limit allows and no more.
		if b, ok := lr.R.(inMemoryBody); ok && int64(b.Len()) == lr.N {
			n, err := b.WriteTo(c.Conn)
			lr.N -= n
			return n, err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// writerOnly hides every method but Write, so io.Copy does not call back into ReadFrom.
type writerOnly struct{ io.Writer }

// dialWholeBody wraps dial so that its connections write in-memory bodies in one piece.
func dialWholeBody(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wholeBodyConn{conn}, nil
	}
}
