package sqs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeleterRetriesFailedEntriesAndDropsInvalidOnes(t *testing.T) {
	t.Parallel()
	q := newFakeQueue()
	var ids []string
	for range 25 {
		ids = append(ids, q.send(`{}`))
	}
	// Receive all, so that each has a receipt handle.
	out, err := q.ReceiveMessage(context.Background(), receiveAll())
	require.NoError(t, err)
	require.Len(t, out.Messages, 25)
	// Calls 1 and 2 fail entries of msg-0003 and msg-0012 with a throttling error (retried);
	// msg-0020's receipt is wrong for good.
	q.failDel = func(call int, id string) *types.BatchResultErrorEntry {
		if call <= 3 && (id == "msg-0003" || id == "msg-0012") {
			return &types.BatchResultErrorEntry{Code: aws.String("RequestThrottled"), SenderFault: false}
		}
		return nil
	}
	m := newMetrics(nil)
	d := newDeleter(q, "q", m)
	d.sleep = func(context.Context, time.Duration) error { return nil }
	// Queued before the deleter runs, so the call count does not depend on the machine's speed.
	for i, am := range out.Messages {
		msg := &message{id: *am.MessageId, receipt: *am.ReceiptHandle}
		if i == 19 {
			msg.receipt = "stale"
		}
		require.True(t, d.add(msg))
	}
	go d.run()
	require.NoError(t, d.flush(context.Background()))
	assert.False(t, d.add(&message{}), "no adds after flush")
	assert.Equal(t, 1, q.remaining(), "all deleted but the stale one")
	assert.Equal(t, 24.0, testutil.ToFloat64(m.deleted))
	assert.LessOrEqual(t, q.delCalls, 3+4, "batches of up to ten, plus retries")
	_ = ids
}

func TestDeleterBatchesUpToTen(t *testing.T) {
	t.Parallel()
	q := newFakeQueue()
	for range 30 {
		q.send(`{}`)
	}
	out, err := q.ReceiveMessage(context.Background(), receiveAll())
	require.NoError(t, err)
	d := newDeleter(q, "q", newMetrics(nil))
	// All 30 are queued before the deleter runs: added while it runs, a slow machine could let
	// its short linger send a partial batch, and the test is about batching, not timing.
	for _, am := range out.Messages {
		d.add(&message{id: *am.MessageId, receipt: *am.ReceiptHandle})
	}
	go d.run()
	require.Eventually(t, func() bool { return q.remaining() == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 3, q.delCalls, "30 messages added at once: three full batches")
	require.NoError(t, d.flush(context.Background()))
}

// TestVisibilityExtensionTiming drives extendDue with an injected clock: a message is
// extended once two thirds of its timeout are gone, by the timeout, and never past
// max_visibility_extension after its receipt.
func TestVisibilityExtensionTiming(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	q := newFakeQueue()
	q.send(`{}`)
	out, err := q.ReceiveMessage(context.Background(), receiveAll())
	require.NoError(t, err)
	cfg := testConfig()
	cfg.MaxVisibilityExtension = 100 * time.Second
	s := &Source{cfg: cfg, sqs: q, m: newMetrics(nil), track: newTracker(), visibility: 30 * time.Second}
	m := &message{id: "msg-0001", receipt: *out.Messages[0].ReceiptHandle, received: t0}
	s.track.add([]*message{m}, t0.Add(30*time.Second))

	extendedAt := func(at time.Duration) (bool, int32) {
		before := len(q.changes)
		s.extendDue(context.Background(), t0.Add(at))
		if len(q.changes) == before {
			return false, 0
		}
		return true, q.changes[len(q.changes)-1].VisibilityTimeout
	}
	ok, _ := extendedAt(19 * time.Second)
	assert.False(t, ok, "before two thirds of 30s")
	ok, vt := extendedAt(20 * time.Second)
	assert.True(t, ok, "at two thirds")
	assert.EqualValues(t, 30, vt)
	assert.Equal(t, t0.Add(50*time.Second), m.visibleUntil)
	ok, _ = extendedAt(30 * time.Second)
	assert.False(t, ok, "just extended")
	ok, vt = extendedAt(40 * time.Second)
	assert.True(t, ok)
	assert.EqualValues(t, 30, vt)
	ok, vt = extendedAt(60 * time.Second)
	assert.True(t, ok)
	assert.EqualValues(t, 30, vt, "until 90s")
	ok, vt = extendedAt(80 * time.Second)
	assert.True(t, ok)
	assert.EqualValues(t, 20, vt, "capped at 100s after receipt")
	ok, _ = extendedAt(100 * time.Second)
	assert.False(t, ok, "max_visibility_extension reached: let go")
	assert.Equal(t, 4.0, testutil.ToFloat64(s.m.extended))
}

func TestExtendInterval(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 500*time.Millisecond, extendInterval(5*time.Second))
	assert.Equal(t, 3*time.Second, extendInterval(30*time.Second))
	assert.Equal(t, 5*time.Second, extendInterval(12*time.Hour))
	assert.Equal(t, 100*time.Millisecond, extendInterval(time.Second))
}

func newSource(t *testing.T, cfg Config, q *fakeQueue, s3 *fakeS3, p Pipeline, dlq *memDLQ, reg prometheus.Registerer) *Source {
	t.Helper()
	if s3 == nil {
		s3 = &fakeS3{objects: map[string][]byte{}}
	}
	s, err := New(cfg, p, dlq, aws.Config{Region: "us-east-1"}, WithSQSClient(q), WithS3Client(s3), WithRegisterer(reg))
	require.NoError(t, err)
	return s
}

func TestLifecycleShutdownWithoutStartAndTwice(t *testing.T) {
	t.Parallel()
	tg, dlq := newTarget(), &memDLQ{}
	p := newPipeline(t, tg, dlq)
	s := newSource(t, testConfig(), newFakeQueue(), nil, p, dlq, nil)
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()))
	assert.ErrorIs(t, s.Start(context.Background()), ErrShutDown)

	s = newSource(t, testConfig(), newFakeQueue(), nil, p, dlq, nil)
	require.NoError(t, s.Start(context.Background()))
	require.NoError(t, s.Start(context.Background()), "twice")
	assert.Equal(t, 30*time.Second, s.visibility, "the queue's own, read at start")
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, testConfig().Validate())
	bad := Config{QueueURL: "not a url", Receivers: 0, WaitTime: 21 * time.Second, MaxMessages: 11, VisibilityTimeout: 1500 * time.Millisecond,
		MaxVisibilityExtension: 13 * time.Hour, MaxInFlight: 0, Index: "Bad Index", ID: "uuid", S3ChunkBytes: 10}
	err := bad.Validate()
	require.Error(t, err)
	for _, key := range []string{"queue_url:", "receivers:", "wait_time:", "max_messages:", "visibility_timeout:",
		"max_visibility_extension:", "max_in_flight:", "index:", "id:", "s3_chunk_bytes:"} {
		assert.Contains(t, err.Error(), key)
	}
	assert.ErrorContains(t, Config{}.Validate(), "queue_url: required")
}

// TestMessagesDeletedOnlyAfterIndexing runs the source on a fake queue and a real pipeline:
// documents of every kind are indexed, then their messages deleted; an invalid message is
// dead-lettered and deleted; a message whose S3 object fails transiently stays.
func TestMessagesDeletedOnlyAfterIndexing(t *testing.T) {
	t.Parallel()
	tg, dlq := newTarget(), &memDLQ{}
	p := newPipeline(t, tg, dlq)
	q := newFakeQueue()
	objs := &fakeS3{objects: map[string][]byte{"b/ok.ndjson": []byte("{\"n\":1}\n{\"n\":2}\n")}, fail: map[string]error{"b/throttled": fmt.Errorf("SlowDown")}}
	q.send(`{"n":0}`)
	q.send("{\"n\":1}\n{\"n\":2}")
	q.send(snsEnvelope(t, `[{"n":1},{"n":2},{"n":3}]`))
	q.send(s3EventBody(t, [2]string{"b", "ok.ndjson"}))
	q.send(s3EventBody(t, [2]string{"b", "missing.json"}))
	q.send(`not json`)
	q.send(`{"Service":"Amazon S3","Event":"s3:TestEvent"}`)
	throttled := q.send(s3EventBody(t, [2]string{"b", "throttled"}))
	reg := prometheus.NewRegistry()
	s := newSource(t, testConfig(), q, objs, p, dlq, reg)
	require.NoError(t, s.Start(context.Background()))
	require.Eventually(t, func() bool { return q.remaining() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Shutdown(context.Background()))
	assert.Equal(t, 1+2+3+2, tg.count())
	assert.Equal(t, map[string]int{reasonInvalidMessage: 1, reasonObjectMissing: 1}, dlq.reasons())
	q.mu.Lock()
	_, left := q.msgs[throttled]
	q.mu.Unlock()
	assert.True(t, left, "a transient S3 failure leaves the message in the queue")
	assert.Equal(t, 7.0, testutil.ToFloat64(s.m.deleted))
	assert.Equal(t, 1.0, testutil.ToFloat64(s.m.returned.WithLabelValues(returnS3Error)))
	assert.Equal(t, 0.0, testutil.ToFloat64(s.m.inFlight))
	for _, l := range dlq.letters {
		assert.Contains(t, l.Error, "ApproximateReceiveCount 1")
		assert.Equal(t, SourceName, l.Source)
	}
}

// TestShutdownMakesUndeliveredMessagesVisible: documents stuck in a sink that does not
// answer are not deleted; at shutdown their messages become visible at once.
func TestShutdownMakesUndeliveredMessagesVisible(t *testing.T) {
	t.Parallel()
	tg, dlq := newTarget(), &memDLQ{}
	tg.block = make(chan struct{}) // never indexes
	p := newPipeline(t, tg, dlq)
	q := newFakeQueue()
	for i := range 15 {
		q.send(fmt.Sprintf(`{"n":%d}`, i))
	}
	s := newSource(t, testConfig(), q, nil, p, dlq, nil)
	require.NoError(t, s.Start(context.Background()))
	require.Eventually(t, func() bool { return q.visible() == 0 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, 15, q.remaining(), "nothing deleted")
	assert.Equal(t, 15, q.visible(), "all visible again at once")
	q.mu.Lock()
	zero := 0
	for _, c := range q.changes {
		if c.VisibilityTimeout == 0 {
			zero++
		}
	}
	q.mu.Unlock()
	assert.Equal(t, 15, zero)
}

// pausable is a pipeline that reports itself paused until resumed.
type pausable struct {
	Pipeline
	mu      sync.Mutex
	resumed chan struct{}
}

func (p *pausable) Paused() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resumed:
		return false, ""
	default:
		return true, "breaker open"
	}
}

func (p *pausable) WaitResumed(ctx context.Context) error {
	select {
	case <-p.resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestPausedPipelineStopsReceiving(t *testing.T) {
	t.Parallel()
	tg, dlq := newTarget(), &memDLQ{}
	pp := &pausable{Pipeline: newPipeline(t, tg, dlq), resumed: make(chan struct{})}
	q := newFakeQueue()
	q.send(`{"n":1}`)
	var logs strings.Builder
	s := newSource(t, testConfig(), q, nil, pp, dlq, nil)
	_ = logs
	require.NoError(t, s.Start(context.Background()))
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, q.visible(), "not received while paused")
	close(pp.resumed)
	require.Eventually(t, func() bool { return q.remaining() == 0 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, s.Shutdown(context.Background()))
}
