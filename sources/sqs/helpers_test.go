package sqs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/config/units"
	"github.com/weir-ingest/weir/pipeline"
)

// fakeQueue is an in-memory SQS queue with visibility timeouts, enough to drive the source.
type fakeQueue struct {
	mu       sync.Mutex
	now      func() time.Time
	seq      int
	msgs     map[string]*fakeMsg // by receipt handle's message id
	order    []string
	deleted  []string
	changes  []types.ChangeMessageVisibilityBatchRequestEntry
	vt       time.Duration
	failDel  func(call int, id string) *types.BatchResultErrorEntry
	delCalls int
}

type fakeMsg struct {
	id, body     string
	visibleAt    time.Time
	receipt      string
	receiveCount int
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{now: time.Now, msgs: map[string]*fakeMsg{}, vt: 30 * time.Second}
}

func (q *fakeQueue) send(body string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	id := fmt.Sprintf("msg-%04d", q.seq)
	q.msgs[id] = &fakeMsg{id: id, body: body}
	q.order = append(q.order, id)
	return id
}

func (q *fakeQueue) remaining() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

func (q *fakeQueue) visible() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, m := range q.msgs {
		if !q.now().Before(m.visibleAt) {
			n++
		}
	}
	return n
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, _ ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	for {
		q.mu.Lock()
		out := &awssqs.ReceiveMessageOutput{}
		now := q.now()
		for _, id := range q.order {
			m, ok := q.msgs[id]
			if !ok || now.Before(m.visibleAt) {
				continue
			}
			vt := time.Duration(in.VisibilityTimeout) * time.Second
			m.visibleAt = now.Add(vt)
			m.receiveCount++
			m.receipt = fmt.Sprintf("%s#%d", m.id, m.receiveCount)
			out.Messages = append(out.Messages, types.Message{
				MessageId: aws.String(m.id), ReceiptHandle: aws.String(m.receipt), Body: aws.String(m.body),
				Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receiveCount)},
			})
			if len(out.Messages) == int(in.MaxNumberOfMessages) {
				break
			}
		}
		q.mu.Unlock()
		if len(out.Messages) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// byReceipt finds the message a receipt handle is current for.
func (q *fakeQueue) byReceipt(h string) *fakeMsg {
	for _, m := range q.msgs {
		if m.receipt == h {
			return m
		}
	}
	return nil
}

func (q *fakeQueue) DeleteMessageBatch(_ context.Context, in *awssqs.DeleteMessageBatchInput, _ ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.delCalls++
	out := &awssqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		m := q.byReceipt(*e.ReceiptHandle)
		if m == nil {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"), SenderFault: true})
			continue
		}
		if q.failDel != nil {
			if f := q.failDel(q.delCalls, m.id); f != nil {
				f.Id = e.Id
				out.Failed = append(out.Failed, *f)
				continue
			}
		}
		delete(q.msgs, m.id)
		q.deleted = append(q.deleted, m.id)
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (q *fakeQueue) ChangeMessageVisibilityBatch(_ context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, _ ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := &awssqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		q.changes = append(q.changes, e)
		m := q.byReceipt(*e.ReceiptHandle)
		if m == nil {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"), SenderFault: true})
			continue
		}
		m.visibleAt = q.now().Add(time.Duration(e.VisibilityTimeout) * time.Second)
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (q *fakeQueue) GetQueueAttributes(context.Context, *awssqs.GetQueueAttributesInput, ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error) {
	return &awssqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(q.vt / time.Second))}}, nil
}

// fakeS3 serves objects from memory.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	fail    map[string]error
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := *in.Bucket + "/" + *in.Key
	if err := f.fail[k]; err != nil {
		return nil, err
	}
	b, ok := f.objects[k]
	if !ok {
		return nil, &s3types.NoSuchKey{Message: aws.String("The specified key does not exist.")}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// target finishes records as the test says: indexed at once by default.
type target struct {
	mu    sync.Mutex
	docs  map[string]int // by Key/Offset
	block chan struct{}  // when set, Add waits on it (or ctx) before indexing
}

func newTarget() *target { return &target{docs: map[string]int{}} }

func (t *target) Add(ctx context.Context, rec *pipeline.Record) error {
	if t.block != nil {
		select {
		case <-t.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t.mu.Lock()
	t.docs[rec.Key+"@"+strconv.FormatInt(rec.Offset, 10)]++
	t.mu.Unlock()
	rec.Finish(pipeline.Result{Outcome: pipeline.Indexed, Status: 201})
	return nil
}

func (t *target) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.docs)
}

// memDLQ keeps dead letters in memory.
type memDLQ struct {
	mu      sync.Mutex
	letters []pipeline.DeadLetter
}

func (d *memDLQ) WriteDeadLetters(_ context.Context, ls []pipeline.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.letters = append(d.letters, ls...)
	return nil
}

func (d *memDLQ) reasons() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for _, l := range d.letters {
		out[l.Reason]++
	}
	return out
}

func newPipeline(t *testing.T, tg pipeline.Target, dlq pipeline.DeadLetterSink) *pipeline.Pipeline {
	t.Helper()
	cfg := pipeline.DefaultConfig()
	cfg.Workers = 2
	cfg.QueueBytes = units.ByteSize(8 << 20)
	cfg.Index = "test"
	p, err := pipeline.New(cfg, tg, dlq)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.QueueURL = "http://127.0.0.1:1/000000000000/test"
	cfg.Receivers = 2
	cfg.WaitTime = time.Second
	return cfg
}

// receiveAll asks the fake for every visible message.
func receiveAll() *awssqs.ReceiveMessageInput {
	return &awssqs.ReceiveMessageInput{MaxNumberOfMessages: 1000, VisibilityTimeout: 30}
}
