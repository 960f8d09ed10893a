package sqs

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/weir-ingest/weir/pipeline"
)

// Delete batching: SQS takes up to 10 entries a call; waiting a little for a batch to fill
// cuts the calls (and their cost) by up to ten without holding anything back for long.
const (
	deleteBatchWait    = 50 * time.Millisecond
	deleteMaxAttempts  = 8
	deleteBackoffStart = 100 * time.Millisecond
	deleteBackoffMax   = 5 * time.Second
	deleteConcurrency  = 4
)

// deleter acknowledges finished messages with DeleteMessageBatch. Entries that fail are
// retried alone, with jittered backoff; an entry SQS refuses for good (its receipt handle is
// no longer valid) is dropped: the message comes back and its documents are written again
// under the same ids.
type deleter struct {
	api      SQSAPI
	queueURL string
	m        *metrics
	sleep    func(ctx context.Context, d time.Duration) error

	// mu guards pending and closed.
	mu      sync.Mutex
	pending []*message
	closed  bool

	wake  chan struct{} // a message was added
	stop  chan struct{} // closed by flush: send what is pending and end
	done  chan struct{} // closed when run has ended and every send returned
	sem   chan struct{} // bounds concurrent DeleteMessageBatch calls
	sends sync.WaitGroup

	// ctx ends sends still retrying when flush's deadline passes.
	ctx    context.Context
	cancel context.CancelFunc
}

func newDeleter(api SQSAPI, queueURL string, m *metrics) *deleter {
	d := &deleter{
		api:      api,
		queueURL: queueURL,
		m:        m,
		sleep:    pipeline.Sleep,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		sem:      make(chan struct{}, deleteConcurrency),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// add queues m for deletion; false once the deleter is flushed (m then stays in the queue).
// It never blocks: acks call it from the pipeline's goroutines.
func (d *deleter) add(m *message) bool {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return false
	}
	d.pending = append(d.pending, m)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}

func (d *deleter) pendingLen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

func (d *deleter) run() {
	defer func() {
		d.sends.Wait()
		close(d.done)
	}()
	for {
		select {
		case <-d.wake:
		case <-d.stop:
			d.sendPending()
			return
		}
		if d.pendingLen() < maxMessagesPerCall {
			t := time.NewTimer(deleteBatchWait)
		fill:
			for d.pendingLen() < maxMessagesPerCall {
				select {
				case <-d.wake:
				case <-t.C:
					break fill
				case <-d.stop:
					break fill
				}
			}
			t.Stop()
		}
		d.sendPending()
	}
}

// sendPending sends everything pending, in batches of ten.
func (d *deleter) sendPending() {
	d.mu.Lock()
	all := d.pending
	d.pending = nil
	d.mu.Unlock()
	for len(all) > 0 {
		n := min(len(all), maxMessagesPerCall)
		batch := all[:n:n]
		all = all[n:]
		d.sem <- struct{}{}
		d.sends.Add(1)
		go func() {
			defer func() { <-d.sem; d.sends.Done() }()
			d.send(batch)
		}()
	}
}

// send deletes batch, retrying the entries that fail.
func (d *deleter) send(batch []*message) {
	backoff := deleteBackoffStart
	for attempt := 1; len(batch) > 0; attempt++ {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: ptr(strconv.Itoa(i)), ReceiptHandle: ptr(m.receipt)}
		}
		out, err := d.api.DeleteMessageBatch(d.ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: &d.queueURL, Entries: entries})
		var retry []*message
		if err != nil {
			d.m.apiErrors.WithLabelValues(opDelete).Inc()
			retry = batch
		} else {
			d.m.deleted.Add(float64(len(out.Successful)))
			for _, f := range out.Failed {
				d.m.apiErrors.WithLabelValues(opDelete).Inc()
				i, err := strconv.Atoi(deref(f.Id))
				if err != nil || i < 0 || i >= len(batch) {
					continue
				}
				if f.SenderFault && permanentEntryError(deref(f.Code)) {
					continue // the receipt handle is no good: the message comes back
				}
				retry = append(retry, batch[i])
			}
		}
		if len(retry) == 0 || attempt >= deleteMaxAttempts {
			return
		}
		batch = retry
		if d.sleep(d.ctx, jitter(backoff)) != nil {
			return
		}
		backoff = min(2*backoff, deleteBackoffMax)
	}
}

// permanentEntryError tells the entry errors that retrying cannot fix.
func permanentEntryError(code string) bool {
	switch code {
	case "ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight",
		"AWS.SimpleQueueService.ReceiptHandleIsInvalid", "InvalidReceiptHandle":
		return true
	}
	return false
}

// flush sends what is pending and waits for every send to finish, until ctx ends; then
// sends still retrying give up (their messages come back and are written again).
func (d *deleter) flush(ctx context.Context) error {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	d.mu.Unlock()
	if !already {
		close(d.stop)
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		d.cancel()
		<-d.done
		return ctx.Err()
	}
}

// jitter is "full jitter": a random wait up to d, so that retries spread out.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
