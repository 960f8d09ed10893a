package httpsource

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/weir-ingest/weir/pipeline"
)

// delivery is one request's records on their way through the pipeline.
type delivery struct {
	ack  *pipeline.Ack
	done chan struct{} // closed by the Ack's callback; sync mode only
}

// submit hands recs to the pipeline. The Ack holds its own reference to bb, since the
// records alias it, and drops it once every record is finished. On failure it writes the
// answer and returns its status with ok false.
func (s *Source) submit(w http.ResponseWriter, recs []pipeline.Record, bb *body, res *pipeline.Reservation, sync bool) (d delivery, status int, ok bool) {
	s.docBytes.Store(max(int64(len(bb.b))/int64(max(len(recs), 1)), 1))
	bb.refs.Add(1)
	if sync {
		done := make(chan struct{})
		d.done = done
		d.ack = pipeline.NewTrackedAck(len(recs), func(*pipeline.Ack) {
			close(done)
			bb.release()
		})
	} else {
		d.ack = pipeline.NewAck(func(*pipeline.Ack) { bb.release() })
	}
	err := s.p.TrySubmitReserved(res, d.ack, recs, int64(len(bb.b)))
	// Sealed even on failure: an Ack with no records then calls back at once, which
	// drops its reference to bb.
	d.ack.Seal()
	if err != nil {
		return d, s.submitError(w, err), false
	}
	return d, 0, true
}

func (s *Source) submitError(w http.ResponseWriter, err error) int {
	switch {
	case errors.Is(err, pipeline.ErrQueueFull):
		return s.writeError(w, http.StatusTooManyRequests, errTypeRejected,
			"weir's queue is full; retry after the Retry-After delay")
	case errors.Is(err, pipeline.ErrTooLarge):
		return s.writeError(w, http.StatusRequestEntityTooLarge, errTypeTooLarge,
			"request holds more than the whole pipeline queue; send smaller requests ("+err.Error()+")")
	case errors.Is(err, pipeline.ErrClosed):
		return s.writeError(w, http.StatusServiceUnavailable, errTypeUnavailable, "weir is shutting down; retry later")
	}
	return s.writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
}

// maxReserveWait bounds how long a request waits for queue room before its body is read.
// It absorbs the moments a saturated queue is full between two bulk answers (milliseconds)
// without holding clients when the sink is really behind: those still get a prompt 429.
const maxReserveWait = 100 * time.Millisecond

// reserve takes queue room for the request's body before it is read, waiting briefly
// (maxReserveWait, or retry_after if shorter) while the queue is full, so that at saturation
// a full queue stalls the client through TCP rather than costing a read, a framing and a
// refusal of a body that is then sent again (a storm that wasted more CPU than the documents
// admitted). A body of unknown or compressed length gets no reservation (nil): it is read
// within the read budget and admitted after, as before; so is one still waiting after the
// wait. On failure (shutting down, client gone) it writes the answer and returns its status
// with ok false.
func (s *Source) reserve(w http.ResponseWriter, r *http.Request) (res *pipeline.Reservation, status int, ok bool) {
	n := r.ContentLength
	if n <= 0 || n > int64(s.cfg.MaxRequestBytes) || r.Header.Get("Content-Encoding") != "" {
		return nil, 0, true
	}
	// The records' overhead, estimated from the last body's mean document size taken an
	// eighth smaller, so that a similar body needs no more room than reserved: taking more
	// at submission cannot wait, and fails while others wait for room.
	per := s.docBytes.Load() * 7 / 8
	if per <= 0 {
		per = 256
	}
	n += (n/max(per, 1) + 1) * pipeline.RecordOverhead
	ctx, cancel := context.WithTimeout(r.Context(), min(maxReserveWait, s.cfg.RetryAfter))
	defer cancel()
	res, err := s.p.Reserve(ctx, n)
	switch {
	case err == nil:
		return res, 0, true
	case errors.Is(err, pipeline.ErrTooLarge):
		// More than the queue holds (or nearly): read it without a reservation, and let
		// framing and submission refuse it with the exact figures (413).
		return nil, 0, true
	case r.Context().Err() != nil:
		return nil, statusClientGone, false
	case errors.Is(err, context.DeadlineExceeded):
		// Still full: read the body and let admission decide, as for a body without a
		// reservation (429 if it does not fit now, 413 if it never can).
		return nil, 0, true
	}
	return nil, s.submitError(w, err), false
}

// admit lets a request in, the steps the ingest and _bulk handlers share: not while delivery
// is paused, a valid index in the URL, room reserved in the queue for its body, the body
// read. When ok the handler releases res and bb; otherwise admit has answered (code) and
// released what it took.
func (s *Source) admit(w http.ResponseWriter, r *http.Request) (index string, res *pipeline.Reservation, bb *body, code int, ok bool) {
	if code, refused := s.refusePaused(w); refused {
		return "", nil, nil, code, false
	}
	if index, code, ok = s.urlIndex(w, r); !ok {
		return "", nil, nil, code, false
	}
	if res, code, ok = s.reserve(w, r); !ok {
		return "", nil, nil, code, false
	}
	bb, err := s.readBody(w, r)
	if err != nil {
		res.Release()
		return "", nil, nil, s.bodyError(w, err), false
	}
	s.m.bytes.Add(float64(len(bb.b)))
	return index, res, bb, 0, true
}

// refusePaused answers 503 while the pipeline is paused (the sink's circuit breaker is
// open): accepting more would only fill the queue with documents that cannot move.
func (s *Source) refusePaused(w http.ResponseWriter) (int, bool) {
	paused, reason := s.p.Paused()
	if !paused {
		return 0, false
	}
	msg := "weir is not accepting documents while delivery is paused"
	if reason != "" {
		msg += " (" + reason + ")"
	}
	return s.writeError(w, http.StatusServiceUnavailable, errTypeUnavailable, msg+"; retry later"), true
}

type waitResult uint8

const (
	waitDelivered waitResult = iota
	waitTimeout
	waitGone
	waitStopped
)

// wait blocks until the records are finished, the sync timeout passes, the client goes
// away or Shutdown's deadline passes.
func (s *Source) wait(r *http.Request, d delivery) waitResult {
	t := time.NewTimer(s.cfg.SyncTimeout)
	defer t.Stop()
	select {
	case <-d.done:
		return waitDelivered
	case <-t.C:
		return waitTimeout
	case <-r.Context().Done():
		return waitGone
	case <-s.hardStop:
		return waitStopped
	}
}

// statusClientGone labels requests whose client left before the answer (nginx's 499).
const statusClientGone = 499

// waitFailed answers a sync request whose documents are not all finished yet.
func (s *Source) waitFailed(w http.ResponseWriter, res waitResult) int {
	switch res {
	case waitTimeout:
		return s.writeError(w, http.StatusGatewayTimeout, errTypeTimeout,
			"the documents were accepted but not all delivered within sync_timeout ("+s.cfg.SyncTimeout.String()+
				"); they are still being delivered and will not be lost")
	case waitStopped:
		return s.writeError(w, http.StatusServiceUnavailable, errTypeUnavailable,
			"weir shut down before the documents were all delivered; send them again")
	}
	return statusClientGone
}

// bodyError answers a body that could not be read.
func (s *Source) bodyError(w http.ResponseWriter, err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return s.writeError(w, http.StatusRequestEntityTooLarge, errTypeTooLarge,
			"request body exceeds max_request_bytes ("+s.cfg.MaxRequestBytes.String()+")")
	case errors.Is(err, errBusy):
		return s.writeError(w, http.StatusTooManyRequests, errTypeRejected,
			"weir is reading too many request bodies at once; retry after the Retry-After delay")
	case errors.Is(err, errEncoding):
		return s.writeError(w, http.StatusUnsupportedMediaType, errTypeMediaType, err.Error())
	}
	return s.writeError(w, http.StatusBadRequest, errTypeParse, err.Error())
}

// urlIndex returns the index the URL names, else the configured one. A bad name in the URL
// is refused for the whole request: every document would be dead-lettered otherwise.
func (s *Source) urlIndex(w http.ResponseWriter, r *http.Request) (string, int, bool) {
	idx := r.PathValue("index")
	if idx == "" {
		return s.cfg.Index, 0, true
	}
	if err := pipeline.ValidIndexName(idx); err != nil {
		return "", s.writeError(w, http.StatusBadRequest, errTypeIndexName, err.Error()), false
	}
	return idx, 0, true
}

// outcomeStatus is the item status a finished record is reported with.
func outcomeStatus(res pipeline.Result) int {
	switch res.Outcome {
	case pipeline.Indexed:
		// A 409 on create is counted as indexed (the document is there): report success,
		// which is what it is for the client.
		if res.Status >= 200 && res.Status < 300 {
			return res.Status
		}
		return http.StatusCreated
	case pipeline.DeadLettered:
		if res.Status >= 400 && res.Status < 500 {
			return res.Status
		}
		return http.StatusBadRequest
	}
	// Undelivered: left at shutdown. 503 tells a shipper to send that item again.
	return http.StatusServiceUnavailable
}

// outcomeError returns the error type and reason a finished, not indexed record is
// reported with.
func outcomeError(res pipeline.Result) (typ, reason string) {
	if res.Outcome == pipeline.DeadLettered {
		return res.Reason, res.Error
	}
	return errTypeUndelivered, reasonUndelivered
}
