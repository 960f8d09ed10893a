package sqs

import (
	"context"
	"strconv"
	"sync"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/weir-ingest/weir/pipeline"
)

// message is one received SQS message on its way through the pipeline.
type message struct {
	id           string
	receipt      string
	receiveCount int
	body         []byte
	received     time.Time
	ack          *pipeline.Ack

	// returnReason, when set, keeps the message in the queue although its records all
	// finished (a transient S3 failure, say). It is written before the Ack is sealed and
	// read in the Ack's callback, which runs after the seal.
	returnReason string

	// Guarded by tracker.mu.
	visibleUntil time.Time
	extending    bool
}

// tracker holds the messages received and not yet finished, so that their visibility is
// extended while their documents are in the pipeline and so that shutdown can hand them
// back to the queue.
type tracker struct {
	// mu guards msgs, returned and the visibility fields of every message.
	mu       sync.Mutex
	msgs     map[*message]struct{}
	returned []*message // finished but not delivered: made visible again at shutdown
}

func newTracker() *tracker { return &tracker{msgs: map[*message]struct{}{}} }

func (t *tracker) add(ms []*message, visibleUntil time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range ms {
		m.visibleUntil = visibleUntil
		t.msgs[m] = struct{}{}
	}
}

// remove forgets m; when it is not delivered it is kept to be made visible at shutdown, as
// long as it would not be visible by then anyway.
func (t *tracker) remove(m *message, delivered bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.msgs, m)
	if delivered {
		return
	}
	if len(t.returned) >= 1024 {
		kept := t.returned[:0]
		for _, r := range t.returned {
			if r.visibleUntil.After(now) {
				kept = append(kept, r)
			}
		}
		clear(t.returned[len(kept):])
		t.returned = kept
	}
	t.returned = append(t.returned, m)
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.msgs)
}

// undelivered returns the messages still in flight and those returned that may still be
// invisible.
func (t *tracker) undelivered(now time.Time) []*message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*message, 0, len(t.msgs)+len(t.returned))
	for m := range t.msgs {
		out = append(out, m)
	}
	for _, m := range t.returned {
		if m.visibleUntil.After(now) {
			out = append(out, m)
		}
	}
	t.returned = nil
	return out
}

// extendAt is the share of the visibility timeout after which a message still in the
// pipeline is extended: at 2/3, a whole third of the timeout is left for the call.
const extendAt = 2.0 / 3

// extendInterval is how often the extender looks for messages to extend.
func extendInterval(vt time.Duration) time.Duration {
	return min(max(vt/10, 100*time.Millisecond), 5*time.Second)
}

// extender renews the visibility of messages in flight until ctx ends.
func (s *Source) extender(ctx context.Context) {
	t := time.NewTicker(extendInterval(s.visibility))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.extendDue(ctx, s.now())
		}
	}
}

// extendDue extends every message whose visibility is two thirds gone, by the visibility
// timeout, but never past max_visibility_extension after its receipt: a message stuck that
// long is let go, so another consumer (or the queue's redrive policy) takes it.
func (s *Source) extendDue(ctx context.Context, now time.Time) {
	vt := s.visibility
	left := time.Duration(float64(vt) * (1 - extendAt))
	var todo []due
	s.track.mu.Lock()
	for m := range s.track.msgs {
		if m.extending || m.visibleUntil.Sub(now) > left {
			continue
		}
		ext := min(vt, m.received.Add(s.cfg.MaxVisibilityExtension).Sub(now)).Truncate(time.Second)
		if ext < time.Second {
			continue
		}
		m.extending = true
		todo = append(todo, due{m, ext})
	}
	s.track.mu.Unlock()
	// A few batches at once: with many messages in flight, one call after another could
	// take longer than the third of the timeout that is left.
	sem := make(chan struct{}, extendConcurrency)
	var wg sync.WaitGroup
	for len(todo) > 0 {
		n := min(len(todo), maxMessagesPerCall)
		batch := todo[:n]
		todo = todo[n:]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.extendBatch(ctx, now, batch)
		}()
	}
	wg.Wait()
}

// extendConcurrency bounds the ChangeMessageVisibilityBatch calls of one extension round.
const extendConcurrency = 4

type due struct {
	m   *message
	ext time.Duration
}

func (s *Source) extendBatch(ctx context.Context, now time.Time, batch []due) {
	n := len(batch)
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
	for i, d := range batch {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id: ptr(strconv.Itoa(i)), ReceiptHandle: ptr(d.m.receipt), VisibilityTimeout: int32(d.ext / time.Second),
		}
	}
	out, err := s.sqs.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: &s.cfg.QueueURL, Entries: entries})
	ok := make([]bool, n)
	if err != nil {
		s.m.apiErrors.WithLabelValues(opVisibility).Inc()
	} else {
		for _, r := range out.Successful {
			if i, err := strconv.Atoi(deref(r.Id)); err == nil && i >= 0 && i < n {
				ok[i] = true
			}
		}
		if len(out.Failed) > 0 {
			s.m.apiErrors.WithLabelValues(opVisibility).Add(float64(len(out.Failed)))
		}
	}
	s.track.mu.Lock()
	defer s.track.mu.Unlock()
	for i, d := range batch {
		d.m.extending = false
		if ok[i] {
			d.m.visibleUntil = now.Add(d.ext)
			s.m.extended.Inc()
		}
	}
}

// makeVisible hands msgs back to the queue at once (visibility timeout 0), so that another
// consumer takes them without waiting for their timeout. It returns how many SQS took.
func (s *Source) makeVisible(ctx context.Context, msgs []*message) int {
	done := 0
	for len(msgs) > 0 {
		n := min(len(msgs), maxMessagesPerCall)
		batch := msgs[:n]
		msgs = msgs[n:]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, m := range batch {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: ptr(strconv.Itoa(i)), ReceiptHandle: ptr(m.receipt), VisibilityTimeout: 0}
		}
		out, err := s.sqs.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: &s.cfg.QueueURL, Entries: entries})
		if err != nil {
			s.m.apiErrors.WithLabelValues(opVisibility).Inc()
			if ctx.Err() != nil {
				return done
			}
			continue
		}
		done += len(out.Successful)
		s.m.apiErrors.WithLabelValues(opVisibility).Add(float64(len(out.Failed)))
	}
	return done
}
