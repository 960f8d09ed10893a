package kinesis

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeTarget finishes each record as indexed, or with fn's result, and keeps the documents.
type fakeTarget struct {
	fn func(*pipeline.Record) pipeline.Result

	mu   sync.Mutex
	docs []string
	keys []string
}

func (t *fakeTarget) Add(_ context.Context, rec *pipeline.Record) error {
	t.mu.Lock()
	t.docs = append(t.docs, string(rec.Doc))
	t.keys = append(t.keys, rec.Key)
	t.mu.Unlock()
	res := pipeline.Result{Outcome: pipeline.Indexed, Status: 201}
	if t.fn != nil {
		res = t.fn(rec)
	}
	rec.Finish(res)
	return nil
}

func (t *fakeTarget) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.docs)
}

type fakeDLQ struct {
	mu      sync.Mutex
	letters []pipeline.DeadLetter
}

func (d *fakeDLQ) WriteDeadLetters(_ context.Context, letters []pipeline.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.letters = append(d.letters, letters...)
	return nil
}

func newPipeline(t testing.TB, target pipeline.Target, dlq pipeline.DeadLetterSink) *pipeline.Pipeline {
	t.Helper()
	cfg := pipeline.DefaultConfig()
	cfg.Workers = 2
	cfg.QueueBytes = 8 << 20
	p, err := pipeline.New(cfg, target, dlq, pipeline.WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// fakeDynamo answers what a unit test needs: the table is active, scans return items,
// GetItem finds nothing, and updates succeed unless update says otherwise. Every update is
// kept.
type fakeDynamo struct {
	mu      sync.Mutex
	items   []map[string]ddbtypes.AttributeValue
	updates []*ddb.UpdateItemInput
	update  func(*ddb.UpdateItemInput) error
}

func (f *fakeDynamo) DescribeTable(context.Context, *ddb.DescribeTableInput, ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error) {
	return &ddb.DescribeTableOutput{Table: &ddbtypes.TableDescription{TableStatus: ddbtypes.TableStatusActive}}, nil
}

func (f *fakeDynamo) CreateTable(context.Context, *ddb.CreateTableInput, ...func(*ddb.Options)) (*ddb.CreateTableOutput, error) {
	return &ddb.CreateTableOutput{}, nil
}

func (f *fakeDynamo) Scan(context.Context, *ddb.ScanInput, ...func(*ddb.Options)) (*ddb.ScanOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &ddb.ScanOutput{Items: f.items}, nil
}

func (f *fakeDynamo) GetItem(context.Context, *ddb.GetItemInput, ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	return &ddb.GetItemOutput{}, nil
}

func (f *fakeDynamo) PutItem(context.Context, *ddb.PutItemInput, ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	return &ddb.PutItemOutput{}, nil
}

func (f *fakeDynamo) UpdateItem(_ context.Context, in *ddb.UpdateItemInput, _ ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	f.mu.Lock()
	f.updates = append(f.updates, in)
	fn := f.update
	f.mu.Unlock()
	if fn != nil {
		if err := fn(in); err != nil {
			return nil, err
		}
	}
	return &ddb.UpdateItemOutput{Attributes: map[string]ddbtypes.AttributeValue{}}, nil
}

func (f *fakeDynamo) checkpoints() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, u := range f.updates {
		if v, ok := u.ExpressionAttributeValues[":cp"].(*ddbtypes.AttributeValueMemberS); ok {
			out = append(out, v.Value)
		}
	}
	return out
}

// step is one scripted GetRecords answer.
type step struct {
	out *awskinesis.GetRecordsOutput
	err error
}

// fakeKinesis answers GetRecords from a script; past its end, an empty open shard.
type fakeKinesis struct {
	mu     sync.Mutex
	script []step
	calls  int
	iters  []*awskinesis.GetShardIteratorInput
}

func (f *fakeKinesis) ListShards(context.Context, *awskinesis.ListShardsInput, ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error) {
	return &awskinesis.ListShardsOutput{}, nil
}

func (f *fakeKinesis) GetShardIterator(_ context.Context, in *awskinesis.GetShardIteratorInput, _ ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.iters = append(f.iters, in)
	return &awskinesis.GetShardIteratorOutput{ShardIterator: aws.String("it")}, nil
}

func (f *fakeKinesis) GetRecords(ctx context.Context, _ *awskinesis.GetRecordsInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error) {
	var o awskinesis.Options
	for _, fn := range opts {
		fn(&o)
	}
	if o.RetryMaxAttempts != 1 {
		return nil, errors.New("GetRecords must be called with the SDK's retries off")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls < len(f.script) {
		s := f.script[f.calls]
		f.calls++
		return s.out, s.err
	}
	f.calls++
	return &awskinesis.GetRecordsOutput{NextShardIterator: aws.String("it"), MillisBehindLatest: aws.Int64(0)}, ctx.Err()
}

// fakeClock advances only when slept on, and remembers every sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	// Yield so that a test's loop with an idle fake does not spin the CPU.
	time.Sleep(time.Millisecond)
	return ctx.Err()
}

func (c *fakeClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Streams = []string{"orders"}
	cfg.WorkerID = "me"
	return cfg
}

func newTestSource(t testing.TB, p Pipeline, k KinesisAPI, d DynamoDBAPI, opts ...Option) (*Source, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts = append([]Option{WithLogger(quiet), WithRegisterer(reg), WithKinesisClient(k), WithDynamoDBClient(d)}, opts...)
	s, err := New(testConfig(), p, aws.Config{}, opts...)
	require.NoError(t, err)
	return s, reg
}
