package sqs

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
	"github.com/weir-ingest/weir/sinks/opensearch"
	"github.com/weir-ingest/weir/sources/sqs/sqstest"
)

// memQueue serves pre-made messages from memory as fast as they are asked for: the
// benchmark measures weir, not an emulator.
type memQueue struct {
	mu      sync.Mutex
	msgs    []types.Message
	next    int
	deleted atomic.Int64
}

func (q *memQueue) ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, _ ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	n := min(int(in.MaxNumberOfMessages), len(q.msgs)-q.next)
	out := &awssqs.ReceiveMessageOutput{Messages: q.msgs[q.next : q.next+n]}
	q.next += n
	q.mu.Unlock()
	if n == 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return out, nil
}

func (q *memQueue) DeleteMessageBatch(_ context.Context, in *awssqs.DeleteMessageBatchInput, _ ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error) {
	out := &awssqs.DeleteMessageBatchOutput{Successful: make([]types.DeleteMessageBatchResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		out.Successful[i].Id = e.Id
	}
	q.deleted.Add(int64(len(in.Entries)))
	return out, nil
}

func (q *memQueue) ChangeMessageVisibilityBatch(_ context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, _ ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error) {
	out := &awssqs.ChangeMessageVisibilityBatchOutput{Successful: make([]types.ChangeMessageVisibilityBatchResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		out.Successful[i].Id = e.Id
	}
	return out, nil
}

func (q *memQueue) GetQueueAttributes(context.Context, *awssqs.GetQueueAttributesInput, ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error) {
	return &awssqs.GetQueueAttributesOutput{Attributes: map[string]string{"VisibilityTimeout": "30"}}, nil
}

// BenchmarkInMemoryToNullBulk is weir's own ceiling for the SQS path: b.N messages of the
// mixed workload (2.5 documents a message; one in ten names a gzip S3 object of 10
// documents) from an in-memory queue and S3, through parsing, position ids, the pipeline and
// the OpenSearch sink, over loopback HTTP into the null _bulk receiver, until every message
// is deleted.
func BenchmarkInMemoryToNullBulk(b *testing.B) {
	w := sqstest.Mixed("bench", b.N, 0)
	q := &memQueue{msgs: make([]types.Message, len(w.Bodies))}
	for i, body := range w.Bodies {
		id := "m-" + strconv.Itoa(i)
		q.msgs[i] = types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String(id), Body: aws.String(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
	}
	objs := &fakeS3{objects: map[string][]byte{}}
	for k, v := range w.Objects {
		objs.objects["bench/"+k] = v
	}
	srv := httptest.NewServer(nullbulk.New(nullbulk.WithCompact()))
	defer srv.Close()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dcfg := deadletter.DefaultConfig()
	dcfg.Path = filepath.Join(b.TempDir(), "dead.ndjson")
	dlq, err := deadletter.NewFile(dcfg, deadletter.WithLogger(log))
	require.NoError(b, err)
	ocfg := opensearch.DefaultConfig()
	ocfg.URLs = []string{srv.URL}
	sink, err := opensearch.New(ocfg, opensearch.WithDeadLetter(dlq), opensearch.WithLogger(log))
	require.NoError(b, err)
	require.NoError(b, sink.Start(ctx))
	pcfg := pipeline.DefaultConfig()
	pcfg.Index = "bench"
	pipe, err := pipeline.New(pcfg, sink, dlq, pipeline.WithLogger(log))
	require.NoError(b, err)
	require.NoError(b, pipe.Start(ctx))
	cfg := DefaultConfig()
	cfg.QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/bench"
	src, err := New(cfg, pipe, dlq, aws.Config{Region: "us-east-1"}, WithSQSClient(q), WithS3Client(objs), WithLogger(log))
	require.NoError(b, err)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	require.NoError(b, src.Start(ctx))
	for q.deleted.Load() < int64(len(w.Bodies)) {
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(b, src.Shutdown(sctx))
	require.NoError(b, pipe.Shutdown(sctx))
	require.NoError(b, sink.Shutdown(sctx))
	require.Zero(b, pipe.Undelivered())
	b.ReportMetric(float64(len(w.Bodies))/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(w.Docs)/took.Seconds(), "docs/s")
}
