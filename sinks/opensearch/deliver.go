package opensearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/pipeline"
)

// maxRetryAfter caps how long a Retry-After header can hold a sender: a bogus value must
// not stall a slot for hours.
const maxRetryAfter = 5 * time.Minute

// deliver sends b until every record in it has an outcome. It runs on a sender slot, and
// keeps the slot through its backoffs: a throttled cluster then gets fewer requests, and
// Add blocks sooner, instead of weir adding concurrency while being pushed back. Each request
// it sends also takes a slot of the adaptive limit, for the time it is on the wire. While the
// circuit breaker is open, sending waits inside the breaker: no attempt is counted, no
// backoff is drawn, and the slot stays taken so that queued batches wait too.
func (s *Sink) deliver(b *batch) {
	ctx := s.sendCtx
	cur := b // b belongs to the caller; retry batches made here are put back here
	defer func() {
		if cur != b {
			s.putBatch(cur)
		}
	}()
	fails := 0 // consecutive failures of the whole request
	for {
		if ctx.Err() != nil {
			s.abandon(cur)
			return
		}
		resp, err := s.sendOnce(ctx, cur)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				s.abandon(cur)
				return
			}
			reason := "network"
			if errors.Is(err, context.DeadlineExceeded) {
				reason = "timeout"
			}
			s.limit.observe(sample{failed: true})
			s.requestFailed(cur, reason, 0, err.Error())
			wait = s.backoff(fails, 0)
		case resp.Status == http.StatusRequestEntityTooLarge:
			s.split(ctx, cur)
			return
		case resp.Status >= 200 && resp.Status < 300:
			res, perr := parseBulkResponse(resp.Body, cur.items)
			cur.items = res.items[:0] // keep the grown slice for the next answer
			if perr == nil && !res.allOK && len(res.items) != cur.n() {
				perr = fmt.Errorf("%w: %d items for %d documents", errBadResponse, len(res.items), cur.n())
			}
			if perr != nil {
				s.limit.observe(sample{took: resp.Took, failed: true})
				s.requestFailed(cur, "bad_response", resp.Status, perr.Error())
				wait = s.backoff(fails, 0)
				break
			}
			s.recovered()
			next, throttled := s.handleItems(ctx, cur, res)
			s.limit.observe(sample{took: resp.Took, throttled: throttled, full: s.full(cur)})
			if next == nil {
				return
			}
			if cur != b {
				s.putBatch(cur)
			}
			cur, fails = next, 0
			if s.clock.Sleep(ctx, s.backoff(cur.round-1, retryAfter(resp.Header, s.clock.Now()))) != nil {
				s.abandon(cur)
				return
			}
			continue
		default:
			reason := "http_" + statusClass(resp.Status)
			if resp.Status == http.StatusTooManyRequests {
				reason = "http_429"
			}
			s.limit.observe(sample{took: resp.Took, throttled: resp.Status == http.StatusTooManyRequests,
				failed: resp.Status != http.StatusTooManyRequests})
			typ, msg := parseErrorBody(resp.Body)
			switch {
			case (resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden) && s.explainer != nil:
				s.denied(resp)
			case resp.Status < 500 && resp.Status != http.StatusTooManyRequests:
				s.refusedOnce(resp.Status, typ, msg)
			}
			s.requestFailed(cur, reason, resp.Status, typ+": "+msg)
			wait = s.backoff(fails, retryAfter(resp.Header, s.clock.Now()))
		}
		fails++
		if s.clock.Sleep(ctx, wait) != nil {
			s.abandon(cur)
			return
		}
	}
}

// full says whether b is near its flush size (see sample.full).
func (s *Sink) full(b *batch) bool {
	return 2*b.n() >= s.cfg.FlushDocuments || 2*len(b.buf) >= int(s.cfg.FlushBytes)
}

// sendOnce sends b once through the chain: a request slot of the adaptive limit, the breaker
// (which may hold it), request timeout and metrics, HTTP.
func (s *Sink) sendOnce(ctx context.Context, b *batch) (Response, error) {
	if err := s.limit.acquire(ctx); err != nil {
		return Response{}, err
	}
	resp, err := s.send.Send(ctx, b.buf, b.resp)
	s.limit.release()
	if err == nil {
		b.resp = resp.Body
	}
	return resp, err
}

// handleItems gives each record its outcome from the answer, and returns the refused items
// worth another try as a new batch (nil when there are none), and whether any item was
// throttled (429).
func (s *Sink) handleItems(ctx context.Context, b *batch, res bulkResult) (retry *batch, throttled bool) {
	if res.allOK {
		// Status stays 0: "errors":false says every item succeeded, and reading each
		// item's 200 or 201 is the work the fast path skips.
		for _, r := range b.recs {
			r.Attempts++
		}
		s.finishAll(b.recs, pipeline.Result{Outcome: pipeline.Indexed})
		s.m.indexed.Add(float64(b.n()))
		return nil, false
	}
	indexed := 0
	for i := range res.items {
		it, rec := &res.items[i], b.recs[i]
		rec.Attempts++
		st := it.status
		switch {
		case st >= 200 && st < 300:
			s.finishRec(rec, pipeline.Result{Outcome: pipeline.Indexed, Status: st})
			indexed++
		case st == http.StatusConflict && rec.Op == pipeline.OpCreate:
			// The document is already there: a redelivery of something indexed before.
			s.finishRec(rec, pipeline.Result{Outcome: pipeline.Indexed, Status: st})
			indexed++
		case st >= 400 && st < 500 && st != http.StatusTooManyRequests:
			reason := itemReason(it)
			s.m.itemFailed(st, reason)
			b.addLetter(rec, st, reason, unquote(it.reason))
		default:
			// 429, 5xx and anything unexpected: worth another try.
			throttled = throttled || st == http.StatusTooManyRequests
			reason := itemReason(it)
			s.m.itemFailed(st, reason)
			if rec.Attempts >= s.cfg.Retry.MaxAttempts {
				b.addLetter(rec, st, "retries_exhausted", reason+": "+unquote(it.reason))
				continue
			}
			if retry == nil {
				retry = s.getBatch()
				retry.round = b.round + 1
			}
			retry.copyItem(b, i)
			s.m.retry(reason).Inc()
		}
	}
	s.m.indexed.Add(float64(indexed))
	s.writeDeadLetters(ctx, b)
	return retry, throttled
}

func itemReason(it *item) string {
	if len(it.errType) > 0 {
		return unquote(it.errType)
	}
	return "http_" + strconv.Itoa(it.status)
}

// split sends each half of a batch OpenSearch found too large, one after the other.
func (s *Sink) split(ctx context.Context, b *batch) {
	if b.n() == 1 {
		b.addLetter(b.recs[0], http.StatusRequestEntityTooLarge, "request_too_large",
			fmt.Sprintf("a bulk request holding only this document (%d bytes encoded) was refused as too large", len(b.buf)))
		s.writeDeadLetters(ctx, b)
		return
	}
	s.m.retry("request_too_large").Add(float64(b.n()))
	half := b.n() / 2
	for _, r := range [2][2]int{{0, half}, {half, b.n()}} {
		nb := s.getBatch()
		nb.round = b.round
		for i := r[0]; i < r[1]; i++ {
			nb.copyItem(b, i)
		}
		s.deliver(nb)
		s.putBatch(nb)
	}
}

func (b *batch) addLetter(rec *pipeline.Record, status int, reason, msg string) {
	l := pipeline.NewDeadLetter(rec, status, reason, msg)
	l.ID = recordID(rec)
	b.letters = append(b.letters, l)
	b.dlRecs = append(b.dlRecs, rec)
}

// writeDeadLetters stores b's letters and finishes their records: DeadLettered once
// stored, Undelivered when the dead-letter sink fails (the source keeps the message, so the
// document is not lost), as pipeline.DeadLetterRecords does.
func (s *Sink) writeDeadLetters(ctx context.Context, b *batch) {
	if len(b.letters) == 0 {
		return
	}
	err := s.dlq.WriteDeadLetters(ctx, b.letters)
	for i, r := range b.dlRecs {
		l := &b.letters[i]
		res := pipeline.Result{Outcome: pipeline.DeadLettered, Status: l.Status, Reason: l.Reason, Error: l.Error}
		if err != nil {
			res = pipeline.Result{Outcome: pipeline.Undelivered, Status: l.Status, Reason: "dead_letter_failed", Error: err.Error()}
		}
		s.finishRec(r, res)
	}
	clear(b.letters)
	clear(b.dlRecs)
	b.letters, b.dlRecs = b.letters[:0], b.dlRecs[:0]
	switch {
	case err != nil && !s.dlqFailing.Swap(true):
		s.log.Error("dead-letter write failed; refused documents are left undelivered", "err", err)
	case err == nil && s.dlqFailing.Swap(false):
		s.log.Info("dead-letter writes succeed again")
	}
}

func (s *Sink) finishRec(r *pipeline.Record, res pipeline.Result) {
	run := [1]*pipeline.Record{r}
	s.finishAll(run[:], res)
}

// finishAll gives recs one outcome, through the test hook when one is set.
func (s *Sink) finishAll(recs []*pipeline.Record, res pipeline.Result) {
	if res.Outcome == pipeline.Undelivered {
		s.undelivered.Add(int64(len(recs)))
	}
	if s.finish != nil {
		for _, r := range recs {
			s.finish(r, res)
		}
		return
	}
	pipeline.FinishAll(recs, res)
}

// abandon finishes every record of b as Undelivered: the shutdown deadline passed.
func (s *Sink) abandon(b *batch) {
	for _, r := range b.recs {
		s.finishRec(r, pipeline.Result{Outcome: pipeline.Undelivered, Reason: "shutdown"})
	}
	clear(b.recs)
	b.recs = b.recs[:0]
}

// requestFailed counts a whole request that will be sent again, and logs when requests
// start failing (not each failure).
func (s *Sink) requestFailed(b *batch, reason string, status int, detail string) {
	s.m.retry(reason).Add(float64(b.n()))
	if !s.failing.Swap(true) {
		s.log.Warn("bulk requests failing; retrying with backoff", "reason", reason, "status", status, "err", detail)
	}
}

func (s *Sink) recovered() {
	if s.failing.Swap(false) {
		s.log.Info("bulk requests succeed again")
	}
}

// refusedOnce logs a whole-request refusal the first time its reason is seen: it usually
// needs an operator, and repeating it every backoff would bury everything else.
func (s *Sink) refusedOnce(status int, typ, msg string) {
	if s.firstSeen(strconv.Itoa(status) + " " + typ) {
		s.log.Error("OpenSearch refused a whole bulk request; retrying until it is fixed (check urls, credentials and permissions)",
			"status", status, "type", typ, "reason", msg)
	}
}

// denied explains a whole request refused with 401/403, counts it by reason, and logs the
// first refusal of each reason: one actionable line, however many requests are refused.
func (s *Sink) denied(resp Response) {
	ctx := s.explainCtx
	if p := s.principal.Load(); p != nil && ctx.PrincipalARN == "" {
		ctx.PrincipalARN = *p
	}
	if u := resp.URL; u != nil {
		ctx.CanonicalPath = auth.CanonicalPath(u)
	} else if s.bulkURL != nil {
		ctx.CanonicalPath = auth.CanonicalPath(s.bulkURL)
	}
	x := s.explainer.Explain(resp.Status, resp.Header, resp.Body, ctx)
	if !s.firstSeen("denied " + x.Reason) {
		return
	}
	s.log.Error("OpenSearch denied the bulk request; it is retried with backoff until the permission is fixed: "+x.Message,
		"status", resp.Status, "reason", x.Reason, "path", ctx.CanonicalPath)
}

// firstSeen reports whether key is new; it remembers up to 64 keys, so that a stream of
// novel reasons cannot grow memory or flood the log.
func (s *Sink) firstSeen(key string) bool {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	first := !s.seen[key] && len(s.seen) < 64
	if first {
		s.seen[key] = true
	}
	return first
}

// backoff draws a wait with full jitter below a ceiling that doubles per attempt up to
// max_backoff; a Retry-After longer than the draw wins.
func (s *Sink) backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceil := s.cfg.Retry.InitialBackoff
	for i := 0; i < attempt && ceil < s.cfg.Retry.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, s.cfg.Retry.MaxBackoff)
	d := time.Duration(s.random() * float64(ceil))
	if retryAfter > d {
		d = min(retryAfter, maxRetryAfter)
	}
	return d
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
