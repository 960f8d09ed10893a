package opensearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v4"
)

// Response is the answer to one bulk request.
type Response struct {
	Status int
	Header http.Header
	// Body is the whole answer; it lives in the buffer handed to Send.
	Body []byte
	// URL is where the request went, node prefix included, when the sender knows it (a
	// refusal's explanation names the path that was signed).
	URL *url.URL
	// Took is how long the request took on the wire; the sink's metering step sets it.
	Took time.Duration
}

// Sender sends one _bulk request, once: no retry, no backoff, no timeout of its own (the
// context carries the deadline). It is the seam for the pieces that wrap sending: a circuit
// breaker goes around it, SigV4 signing goes in the http.RoundTripper beneath it.
type Sender interface {
	// Send posts body and reads the whole answer into buf (grown as needed; it may be nil),
	// returning it as Response.Body. An error means no complete answer was read.
	Send(ctx context.Context, body, buf []byte) (Response, error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, body, buf []byte) (Response, error)

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, body, buf []byte) (Response, error) {
	return f(ctx, body, buf)
}

// bulkPath asks the node for what the sink reads of each item and nothing else. A full item
// (_index, _id, _version, result, _shards, _seq_no, _primary_term) is ~170 bytes that the
// node serializes and weir reads for every document it sends; {"index":{"status":201}} is 25.
// Refusals keep their whole error object (filter_path never trims error responses to the
// request itself). "errors" stays first, so an answer without failures is still read no
// further than its first field. Logstash's elasticsearch output sends the same filter by
// default (its bulk_path setting).
const bulkPath = "/_bulk?filter_path=errors,items.*.status,items.*.error"

// clientSender sends through opensearch-go's client, which picks a node among the
// configured URLs, marks failing ones dead and adds basic auth. Its retries are disabled:
// the sink retries with its own policy.
type clientSender struct {
	client *opensearchgo.Client
}

func (c clientSender) Send(ctx context.Context, body, buf []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, bulkPath, nil)
	if err != nil {
		return Response{}, fmt.Errorf("bulk request: %w", err)
	}
	// The body exposes Bytes() so that the SigV4 signer hashes the pooled batch buffer in
	// place instead of copying it; GetBody makes it replayable for the signer's one retry.
	req.Body = &byteBody{bytes.NewReader(body), body}
	req.GetBody = func() (io.ReadCloser, error) { return &byteBody{bytes.NewReader(body), body}, nil }
	req.ContentLength = int64(len(body))
	req.Header = make(http.Header, 8)
	req.Header.Set("Content-Type", "application/x-ndjson")
	// Stream, not the deprecated Perform: same node selection and auth, but the answer is
	// read into the sink's pooled buffer instead of a fresh one per request.
	res, err := c.client.Stream(req)
	if res != nil && res.Body != nil {
		defer res.Body.Close()
	}
	if err != nil {
		return Response{}, fmt.Errorf("bulk request: %w", err)
	}
	buf, err = readAll(buf[:0], res.Body, res.ContentLength)
	if err != nil {
		return Response{}, fmt.Errorf("bulk response: %w", err)
	}
	// Stream resolved the URL to the node it picked.
	u := req.URL
	if res.Request != nil && res.Request.URL != nil {
		u = res.Request.URL
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: buf, URL: u}, nil
}

// ping asks the node for its root document.
func (c clientSender) ping(ctx context.Context) error {
	status, err := c.probe(ctx)
	if err != nil {
		return fmt.Errorf("opensearch ping: %w", err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("opensearch ping: status %d", status)
	}
	return nil
}

// probe sends GET / and returns the answer's status: the circuit breaker's probe.
func (c clientSender) probe(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return 0, err
	}
	req.Header = make(http.Header, 4)
	res, err := c.client.Stream(req)
	if res != nil && res.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		_ = res.Body.Close()
	}
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// meteredSender is the step beneath the breaker: it bounds one request by request_timeout
// and records it (requests by status class, duration, in flight, Response.Took). Below the
// breaker, so that time spent waiting for the breaker is neither a timeout nor latency.
type meteredSender struct {
	next    Sender
	timeout time.Duration
	m       *metrics
}

func (s meteredSender) Send(ctx context.Context, body, buf []byte) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.m.inFlight.Inc()
	start := time.Now()
	resp, err := s.next.Send(ctx, body, buf)
	took := time.Since(start)
	s.m.duration.Observe(took.Seconds())
	s.m.inFlight.Dec()
	if err != nil {
		s.m.request("error").Inc()
		return resp, err
	}
	resp.Took = took
	s.m.request(statusClass(resp.Status)).Inc()
	return resp, nil
}

// readAll reads r to the end into buf, sized up front when the length is known.
func readAll(buf []byte, r io.Reader, size int64) ([]byte, error) {
	if size > 0 && int64(cap(buf)) < size+1 && size < 1<<30 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
	}
}

// byteBody is a request body whose bytes can be read without draining it. A pointer, because
// opensearch-go compares request bodies and a struct holding a slice cannot be compared.
type byteBody struct {
	*bytes.Reader
	b []byte
}

func (r *byteBody) Bytes() []byte { return r.b }
func (*byteBody) Close() error    { return nil }
