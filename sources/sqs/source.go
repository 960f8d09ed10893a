// Package sqs is weir's Amazon SQS source. Receivers long-poll one queue and hand the
// documents of each message to the pipeline: the body itself (one JSON document, NDJSON or
// a JSON array), the Message of an SNS notification envelope, or the objects an S3 event
// notification names, streamed from S3 in chunks. A message is deleted only once every
// document from it is indexed or dead-lettered; until then its visibility is extended, and
// at shutdown whatever is unfinished is made visible again at once, so another weir (or
// this one, restarted) takes it. Several weir processes on one queue share the work as
// competing consumers, with no coordination beyond SQS itself.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/weir-ingest/weir/pipeline"
)

// SourceName is the Record.Source of every document this source hands over.
const SourceName = "sqs"

// ErrShutDown is returned by Start after Shutdown.
var ErrShutDown = errors.New("sqs source: shut down")

// SQSAPI is what the source calls of SQS (*awssqs.Client); tests use fakes.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, opts ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, opts ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, opts ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, opts ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
}

// S3API is what the source calls of S3 (*s3.Client).
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Pipeline is what the source uses of *pipeline.Pipeline.
type Pipeline interface {
	// Submit hands over records, waiting while the queue is full; on error nothing was taken.
	Submit(ctx context.Context, ack *pipeline.Ack, recs []pipeline.Record, bytes int64) error
	Paused() (bool, string)
	WaitResumed(ctx context.Context) error
	Op() pipeline.Op
	Capacity() int64
}

var (
	_ Pipeline = (*pipeline.Pipeline)(nil)
	_ SQSAPI   = (*awssqs.Client)(nil)
	_ S3API    = (*s3.Client)(nil)
)

// Receive errors back off up to this long between tries.
const (
	receiveBackoffStart = 200 * time.Millisecond
	receiveBackoffMax   = 10 * time.Second
)

// Source consumes one SQS queue.
type Source struct {
	cfg  Config
	p    Pipeline
	dlq  pipeline.DeadLetterSink
	log  *slog.Logger
	reg  prometheus.Registerer
	m    *metrics
	sqs  SQSAPI
	s3   S3API
	now  func() time.Time
	tmpl pipeline.Record

	chunkBytes int
	maxDoc     int
	// visibility is the visibility timeout in force, resolved at Start.
	visibility time.Duration
	track      *tracker
	del        *deleter
	// inFlight caps the messages received and not finished (max_in_flight).
	inFlight *semaphore.Weighted

	// mu guards the lifecycle fields below.
	mu         sync.Mutex
	started    bool
	closed     bool
	cancelRecv context.CancelFunc
	cancelExt  context.CancelFunc
	receivers  sync.WaitGroup
	extDone    chan struct{}

	stopOnce sync.Once
	stopErr  error

	paused        atomic.Bool
	recvFailing   atomic.Bool
	lastReturnLog atomic.Int64 // unix nanos of the last "left in the queue" warning
	returnedQuiet atomic.Int64 // messages returned since that warning
}

// Option adjusts a Source.
type Option func(*Source)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithRegisterer registers the source's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(s *Source) { s.reg = r } }

// WithSQSClient replaces the SQS client made from the aws.Config.
func WithSQSClient(c SQSAPI) Option { return func(s *Source) { s.sqs = c } }

// WithS3Client replaces the S3 client made from the aws.Config.
func WithS3Client(c S3API) Option { return func(s *Source) { s.s3 = c } }

// WithClock injects the clock that times visibility.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// New builds the source. The SQS and S3 clients come from awsCfg (one credential cache for
// every AWS client of the process); with an endpoint override (moto, LocalStack) S3 is
// addressed path-style. When awsCfg names no region, the queue URL's is used.
func New(cfg Config, p Pipeline, dlq pipeline.DeadLetterSink, awsCfg aws.Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sqs source config: %w", err)
	}
	if p == nil || dlq == nil {
		return nil, errors.New("sqs source: a pipeline and a dead-letter sink are required")
	}
	s := &Source{cfg: cfg, p: p, dlq: dlq, log: slog.Default(), now: time.Now, track: newTracker()}
	for _, o := range opts {
		o(s)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = queueRegion(cfg.QueueURL)
	}
	if s.sqs == nil {
		s.sqs = awssqs.NewFromConfig(awsCfg)
	}
	if s.s3 == nil {
		s.s3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if awsCfg.BaseEndpoint != nil {
				o.UsePathStyle = true
			}
		})
	}
	s.m = newMetrics(s.reg)
	capacity := p.Capacity()
	// Two chunks fit in the queue at once, so one object's chunks can overlap; a document
	// that alone would take more than half of the queue is dead-lettered.
	s.chunkBytes = int(min(int64(cfg.S3ChunkBytes), capacity/2))
	s.maxDoc = int(max(capacity/2-recordOverhead, 1))
	s.inFlight = semaphore.NewWeighted(int64(cfg.MaxInFlight))
	s.tmpl = pipeline.Record{Source: SourceName, Index: cfg.Index, PositionID: cfg.ID == IDPosition, Op: p.Op()}
	return s, nil
}

// queueRegion reads the region out of https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE.
func queueRegion(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" {
		return parts[1]
	}
	return ""
}

// Start reads the queue's visibility timeout when none is configured (which also checks
// that the queue is there and readable) and starts the receivers. Safe to call twice.
func (s *Source) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrShutDown
	}
	if s.started {
		return nil
	}
	s.visibility = s.cfg.VisibilityTimeout
	if s.visibility == 0 {
		out, err := s.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
			QueueUrl:       &s.cfg.QueueURL,
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
		})
		if err != nil {
			return fmt.Errorf("sqs source: read the visibility timeout of %s: %w", s.cfg.QueueURL, err)
		}
		secs, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
		s.visibility = time.Duration(secs) * time.Second
		if s.visibility <= 0 {
			// A queue whose messages are visible again at once: weir asks for 30s on
			// each receive and extends from there.
			s.visibility = 30 * time.Second
		}
	}
	s.started = true
	s.del = newDeleter(s.sqs, s.cfg.QueueURL, s.m)
	go s.del.run()
	extCtx, cancelExt := context.WithCancel(context.Background())
	s.cancelExt = cancelExt
	s.extDone = make(chan struct{})
	go func() { defer close(s.extDone); s.extender(extCtx) }()
	recvCtx, cancelRecv := context.WithCancel(context.Background())
	s.cancelRecv = cancelRecv
	for range s.cfg.Receivers {
		s.receivers.Add(1)
		go s.receive(recvCtx)
	}
	s.log.Info("sqs source started", "queue_url", s.cfg.QueueURL, "receivers", s.cfg.Receivers,
		"visibility_timeout", s.visibility.String(), "max_in_flight", s.cfg.MaxInFlight, "id", s.cfg.ID)
	return nil
}

// Shutdown stops receiving, waits for the messages in flight until shortly before ctx's
// deadline (the pipeline keeps delivering meanwhile), sends the pending deletes, and makes
// every message not fully delivered visible again at once. Safe to call twice and without
// Start.
func (s *Source) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Source) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.cancelRecv()
	s.receivers.Wait()

	// Wait for the messages in flight, keeping some of the deadline for the deletes and
	// for handing back what is left.
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		reserve := min(3*time.Second, time.Until(dl)/4)
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	for s.track.len() > 0 && wctx.Err() == nil {
		select {
		case <-tick.C:
		case <-wctx.Done():
		}
	}
	tick.Stop()
	var errs []error
	if err := s.del.flush(ctx); err != nil {
		errs = append(errs, fmt.Errorf("sqs source: pending deletes: %w", err))
	}
	s.cancelExt()
	<-s.extDone
	left := s.track.undelivered(s.now())
	released := s.makeVisible(ctx, left)
	if released < len(left) {
		errs = append(errs, fmt.Errorf("sqs source: %d of %d unfinished messages could not be made visible; they return after their visibility timeout",
			len(left)-released, len(left)))
	}
	s.log.Info("sqs source stopped", "made_visible", released, "unfinished", len(left))
	return errors.Join(errs...)
}

// receive is one receiver: it long-polls, and hands over each message in turn. Submit
// blocking on a full queue holds it back, and so does the in-flight cap; it does not poll
// while the pipeline is paused.
func (s *Source) receive(ctx context.Context) {
	defer s.receivers.Done()
	backoff := receiveBackoffStart
	n := int64(s.cfg.MaxMessages)
	for ctx.Err() == nil {
		if paused, reason := s.p.Paused(); paused {
			if s.paused.CompareAndSwap(false, true) {
				s.log.Warn("sqs source paused: not receiving while the pipeline is paused", "reason", reason)
			}
			if s.p.WaitResumed(ctx) != nil {
				return
			}
			if s.paused.CompareAndSwap(true, false) {
				s.log.Info("sqs source resumed")
			}
		}
		if s.inFlight.Acquire(ctx, n) != nil {
			return
		}
		received := s.now()
		t0 := time.Now()
		out, err := s.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    &s.cfg.QueueURL,
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             int32(s.cfg.WaitTime / time.Second),
			VisibilityTimeout:           int32(s.visibility / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		s.m.receiveDur.Observe(time.Since(t0).Seconds())
		if err != nil {
			s.inFlight.Release(n)
			if ctx.Err() != nil {
				return
			}
			s.m.apiErrors.WithLabelValues(opReceive).Inc()
			if s.recvFailing.CompareAndSwap(false, true) {
				s.log.Warn("sqs receive failing; retrying with backoff", "queue_url", s.cfg.QueueURL, "err", err)
			}
			if pipeline.Sleep(ctx, jitter(backoff)) != nil {
				return
			}
			backoff = min(2*backoff, receiveBackoffMax)
			continue
		}
		backoff = receiveBackoffStart
		if s.recvFailing.CompareAndSwap(true, false) {
			s.log.Info("sqs receive recovered", "queue_url", s.cfg.QueueURL)
		}
		got := int64(len(out.Messages))
		if got < n {
			s.inFlight.Release(n - got)
		}
		if got == 0 {
			s.m.empty.Inc()
			continue
		}
		s.m.received.Add(float64(got))
		s.m.inFlight.Add(float64(got))
		msgs := make([]*message, got)
		for i := range out.Messages {
			msgs[i] = s.newMessage(&out.Messages[i], received)
		}
		// Visible again from the receive call's start, at the latest: the safe side.
		s.track.add(msgs, received.Add(s.visibility))
		for i, m := range msgs {
			if ctx.Err() != nil {
				for _, r := range msgs[i:] {
					r.returnReason = returnShutdown
					r.ack.Seal()
				}
				return
			}
			s.handle(ctx, m)
		}
	}
}

func (s *Source) newMessage(am *types.Message, received time.Time) *message {
	m := &message{
		id:       deref(am.MessageId),
		receipt:  deref(am.ReceiptHandle),
		body:     []byte(deref(am.Body)),
		received: received,
	}
	m.receiveCount, _ = strconv.Atoi(am.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	m.ack = pipeline.NewAck(func(a *pipeline.Ack) { s.finished(m, a) })
	return m
}

// handle hands over one message's documents and seals its Ack. It returns once they are
// all in the pipeline (or the message is dead-lettered, or left for redelivery).
func (s *Source) handle(ctx context.Context, m *message) {
	defer m.ack.Seal()
	p, err := parseMessage(m.body)
	if err != nil {
		s.deadLetter(ctx, m, pipeline.DeadLetter{Key: m.id, Reason: reasonInvalidMessage, Error: err.Error(), Doc: m.body})
		return
	}
	switch p.kind {
	case bodyTestEvent:
		// Nothing to index: the sealed, empty Ack deletes it.
	case bodyDocs:
		tmpl := s.tmpl
		tmpl.Key = m.id
		recs := frameDocs(p.docs, p.framing, tmpl)
		s.submit(ctx, m, recs, int64(len(m.body)))
	case bodyS3:
		for _, o := range p.objects {
			if !s.readObject(ctx, m, o) {
				return
			}
		}
	}
}

// submit hands recs to the pipeline on m's Ack. A set of records larger than the whole
// queue is split; a single document that large is dead-lettered. It reports false when the
// source is stopping (m is then left in the queue).
func (s *Source) submit(ctx context.Context, m *message, recs []pipeline.Record, bytes int64) bool {
	if len(recs) == 0 {
		return true
	}
	err := s.p.Submit(ctx, m.ack, recs, bytes)
	switch {
	case err == nil:
		s.m.documents.Add(float64(len(recs)))
		return true
	case errors.Is(err, pipeline.ErrTooLarge) && len(recs) > 1:
		half := len(recs) / 2
		return s.submit(ctx, m, recs[:half:half], 0) && s.submit(ctx, m, recs[half:], 0)
	case errors.Is(err, pipeline.ErrTooLarge):
		r := &recs[0]
		return s.deadLetter(ctx, m, pipeline.DeadLetter{
			Key: r.Key, Offset: r.Offset, Index: r.Index, Reason: reasonTooLarge,
			Error: fmt.Sprintf("document of %d bytes is larger than the pipeline queue can take", len(r.Doc)),
			Doc:   r.Doc[:min(len(r.Doc), sampleBytes)],
		})
	}
	m.returnReason = returnShutdown
	return false
}

// deadLetter stores a dead letter the source itself writes (a message or an object that
// cannot be read, a document too large). It reports false, leaving m in the queue, when the
// dead letter cannot be stored: nothing is acknowledged that is not kept somewhere.
func (s *Source) deadLetter(ctx context.Context, m *message, dl pipeline.DeadLetter) bool {
	dl.Time = s.now().UTC()
	dl.Source = SourceName
	dl.Error = fmt.Sprintf("%s (message %s, ApproximateReceiveCount %d)", dl.Error, m.id, m.receiveCount)
	if err := s.dlq.WriteDeadLetters(ctx, []pipeline.DeadLetter{dl}); err != nil {
		m.returnReason = returnUndelivered
		return false
	}
	s.m.deadLettered.WithLabelValues(dl.Reason).Inc()
	return true
}

// readObject streams one S3 object's documents into the pipeline on m's Ack. An object
// that is missing or not the gzip its name promises is dead-lettered (reading it again
// would not help); any other failure leaves m in the queue, to be tried again after its
// visibility timeout. It reports whether m may go on to its next object.
func (s *Source) readObject(ctx context.Context, m *message, o s3Object) bool {
	s.m.objects.Inc()
	key := o.docKey()
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.Bucket, Key: &o.Key})
	if err != nil {
		if objectMissing(err) {
			return s.deadLetter(ctx, m, pipeline.DeadLetter{Key: key, Reason: reasonObjectMissing, Error: err.Error()})
		}
		s.m.apiErrors.WithLabelValues(opGetObject).Inc()
		m.returnReason = returnS3Error
		return false
	}
	defer out.Body.Close()
	var offset int64
	fail := func(err error) bool {
		if errors.Is(err, errInvalidGzip) {
			return s.deadLetter(ctx, m, pipeline.DeadLetter{Key: key, Offset: offset, Reason: reasonInvalidGzip, Error: err.Error()})
		}
		s.m.apiErrors.WithLabelValues(opGetObject).Inc()
		m.returnReason = returnS3Error
		return false
	}
	r, err := openObject(out.Body, o.Key)
	if err != nil {
		return fail(err)
	}
	// Compressed logs expand about tenfold; the hint only sizes the first buffer.
	hint := int(min(aws.ToInt64(out.ContentLength), int64(s.chunkBytes)))
	if _, gz := r.(gzipReader); gz {
		hint = int(min(int64(hint)*10, int64(s.chunkBytes)))
	}
	dr, err := newObjectReader(r, s.chunkBytes, s.maxDoc, hint)
	if err != nil {
		return fail(err)
	}
	tmpl := s.tmpl
	tmpl.Key = key
	for {
		c, err := dr.Next()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return fail(err)
		}
		if len(c.Docs) > 0 {
			recs := make([]pipeline.Record, len(c.Docs))
			for i, sp := range c.Docs {
				recs[i] = tmpl
				recs[i].Doc = c.Buf[sp.Start:sp.End:sp.End]
				recs[i].Offset = sp.Offset
			}
			offset = c.Docs[len(c.Docs)-1].Offset
			if !s.submit(ctx, m, recs, int64(len(c.Buf))) {
				return false
			}
		}
		for _, b := range c.Oversized {
			if !s.deadLetter(ctx, m, pipeline.DeadLetter{Key: key, Offset: b.Offset, Index: s.cfg.Index, Reason: reasonTooLarge,
				Error: fmt.Sprintf("document of %d bytes or more is larger than half the pipeline queue; its first %d bytes are kept", b.Size, len(b.Sample)),
				Doc:   b.Sample}) {
				return false
			}
		}
	}
}

// objectMissing tells a missing object or bucket, which will not appear by retrying, from
// a transient failure.
func objectMissing(err error) bool {
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return true
		}
	}
	return false
}

// finished is the Ack's callback: every record of m is indexed, dead-lettered or
// undelivered. It runs on the pipeline's goroutines and must not block.
func (s *Source) finished(m *message, a *pipeline.Ack) {
	delivered := a.Delivered() && m.returnReason == ""
	s.track.remove(m, delivered, s.now())
	s.inFlight.Release(1)
	s.m.inFlight.Dec()
	if delivered {
		s.del.add(m) // false after shutdown: the message stays, and comes back
		return
	}
	reason := m.returnReason
	if reason == "" {
		reason = returnUndelivered
	}
	s.m.returned.WithLabelValues(reason).Inc()
	s.noteReturned(m, reason)
}

// noteReturned warns that messages are being left in the queue, at most every 10s: one
// line per message would flood the log exactly when something is wrong.
func (s *Source) noteReturned(m *message, reason string) {
	n := s.returnedQuiet.Add(1)
	now := s.now().UnixNano()
	last := s.lastReturnLog.Load()
	if now-last < int64(10*time.Second) || !s.lastReturnLog.CompareAndSwap(last, now) {
		return
	}
	s.returnedQuiet.Add(-n)
	s.log.Warn("sqs messages left in the queue for redelivery", "reason", reason, "messages", n,
		"last_message_id", m.id, "approximate_receive_count", m.receiveCount)
}
