package kinesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, testConfig().Validate())
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"no streams", func(c *Config) { c.Streams = nil }, []string{"streams: at least one"}},
		{"bad name", func(c *Config) { c.Streams = []string{"a b"} }, []string{"streams[0]: stream name"}},
		{"bad arn", func(c *Config) { c.Streams = []string{"arn:aws:sqs:us-east-1:123456789012:q"} }, []string{"streams[0]: ", "not a Kinesis stream ARN"}},
		{"duplicate", func(c *Config) {
			c.Streams = []string{"orders", "arn:aws:kinesis:us-east-1:123456789012:stream/orders"}
		}, []string{"streams[1]: stream \"orders\" is already streams[0]"}},
		{"table", func(c *Config) { c.LeaseTable = "x" }, []string{"lease_table: "}},
		{"worker", func(c *Config) { c.WorkerID = "a\nb" }, []string{"worker_id: "}},
		{"position", func(c *Config) { c.StartPosition = "OLDEST" }, []string{"start_position: must be"}},
		{"timestamp", func(c *Config) { c.StartPosition = "AT_TIMESTAMP" }, []string{"start_timestamp: required"}},
		{"durations", func(c *Config) {
			c.LeaseDuration, c.CheckpointInterval, c.ShardSyncInterval, c.IdlePoll = 0, 0, 0, time.Millisecond
		}, []string{"lease_duration: ", "checkpoint_interval: ", "shard_sync_interval: ", "idle_poll: "}},
		{"max_records", func(c *Config) { c.MaxRecords = 10001 }, []string{"max_records: must be between 1 and 10000"}},
		{"index", func(c *Config) { c.Index = "Logs" }, []string{"index: "}},
		{"index template", func(c *Config) { c.Index = "logs-%{nope}" }, []string{"index: "}},
		{"id", func(c *Config) { c.ID = "random" }, []string{"id: must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	ok := testConfig()
	ok.Streams = []string{"arn:aws:kinesis:eu-west-1:123456789012:stream/orders", "clicks"}
	ok.StartPosition, ok.StartTimestamp = "at_timestamp", time.Now()
	ok.Index = "logs-%{yyyy.MM.dd}"
	assert.NoError(t, ok.Validate())
}

// TestLifecycle: Shutdown is safe without Start and twice; Start is idempotent; Start after
// Shutdown fails.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, &fakeTarget{}, &fakeDLQ{})
	s, _ := newTestSource(t, p, &fakeKinesis{}, &fakeDynamo{})
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()))
	assert.ErrorIs(t, s.Start(context.Background()), ErrShutDown)

	s2, _ := newTestSource(t, p, &fakeKinesis{}, &fakeDynamo{})
	require.NoError(t, s2.Start(context.Background()))
	require.NoError(t, s2.Start(context.Background()))
	require.NoError(t, s2.Shutdown(context.Background()))
	require.NoError(t, s2.Shutdown(context.Background()))

	s3, err := New(testConfig(), p, aws.Config{Region: "us-east-1"})
	require.NoError(t, err)
	assert.NotEmpty(t, s3.WorkerID())
	require.NoError(t, s3.Shutdown(context.Background()))

	cfg := testConfig()
	cfg.WorkerID = ""
	s4, err := New(cfg, p, aws.Config{Region: "us-east-1"})
	require.NoError(t, err)
	assert.Regexp(t, `^.+-[0-9a-f]+$`, s4.WorkerID())
	_, err = New(Config{}, p, aws.Config{})
	assert.ErrorContains(t, err, "streams:")
}

func kinesisRecord(seq string, data []byte) ktypes.Record {
	return ktypes.Record{SequenceNumber: aws.String(seq), Data: data, PartitionKey: aws.String("pk")}
}

func records(seqs ...string) []ktypes.Record {
	out := make([]ktypes.Record, len(seqs))
	for i, s := range seqs {
		out[i] = kinesisRecord(s, fmt.Appendf(nil, `{"seq":%q}`, s))
	}
	return out
}

func heldLease(s *Source, shard string, startCP string, sub int64) *lease {
	l := &lease{
		key: leaseKey("orders", shard), stream: stream{name: "orders"}, shard: shard,
		startCP: startCP, done: make(chan struct{}), renewed: s.clock.Now(),
	}
	if !strings.Contains("TRIM_HORIZON LATEST AT_TIMESTAMP", startCP) {
		l.startPos = position{seq: startCP, sub: sub}
	}
	l.tracker = newTracker(l.startPos)
	l.written = l.startPos
	ctx, cancel := context.WithCancel(s.readCtx)
	l.cancel = cancel
	s.mu.Lock()
	s.held[l.key] = l
	s.mu.Unlock()
	go func() {
		defer close(l.done)
		r := newReader(s, l)
		r.throttle.rnd = func() float64 { return 1 } // the top of each jitter range
		r.failure.rnd = func() float64 { return 0 }  // the bottom
		r.run(ctx)
	}()
	return l
}

func waitDone(t *testing.T, l *lease) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the shard reader did not finish")
	}
}

// TestThrottlesBackOffWithJitterAndLoseNothing: throttled GetRecords calls are retried
// with the same iterator after growing, jittered waits (injected clock), the backoff
// starts over after a success, nothing is lost, and the shard is marked finished only
// after all its records are delivered.
func TestThrottlesBackOffWithJitterAndLoseNothing(t *testing.T) {
	t.Parallel()
	target := &fakeTarget{}
	p := newPipeline(t, target, &fakeDLQ{})
	pte := &ktypes.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded for shard")}
	lee := &ktypes.LimitExceededException{Message: aws.String("limit")}
	agg := kinesistest.Aggregate([]string{"a"}, [][]byte{[]byte(`{"u":0}`), []byte(`{"u":1}`), []byte(`{"u":2}`)})
	batch1 := append(records("1", "2", "3"), kinesisRecord("4", agg))
	fk := &fakeKinesis{script: []step{
		{err: pte}, {err: pte}, {err: pte},
		{out: &awskinesis.GetRecordsOutput{Records: batch1, NextShardIterator: aws.String("it2"), MillisBehindLatest: aws.Int64(1500)}},
		{err: lee},
		{err: errors.New("connection reset")},
		{out: &awskinesis.GetRecordsOutput{Records: records("5"), NextShardIterator: aws.String("it3"), MillisBehindLatest: aws.Int64(0)}},
		{out: &awskinesis.GetRecordsOutput{MillisBehindLatest: aws.Int64(0)}}, // closed and read: SHARD_END
	}}
	fd := &fakeDynamo{}
	var deliveredAtEnd int
	fd.update = func(in *ddb.UpdateItemInput) error {
		if v, ok := in.ExpressionAttributeValues[":cp"].(*ddbtypes.AttributeValueMemberS); ok && v.Value == checkpointShardEnd {
			deliveredAtEnd = target.count()
		}
		return nil
	}
	clk := newFakeClock()
	s, reg := newTestSource(t, p, fk, fd, withClock(clk))
	l := heldLease(s, "shardId-000000000000", StartTrimHorizon, 0)
	waitDone(t, l)

	sl := clk.slept()
	require.GreaterOrEqual(t, len(sl), 7, "%v", sl)
	assert.Equal(t, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}, sl[:3], "throttle backoff doubles, top of jitter")
	assert.LessOrEqual(t, sl[3], minPollGap, "behind the tip: the next read comes at once")
	assert.Equal(t, 250*time.Millisecond, sl[4], "a success resets the throttle backoff")
	assert.Equal(t, errorInitial/2, sl[5], "other errors have their own backoff, bottom of jitter")
	assert.Equal(t, s.cfg.IdlePoll, sl[6], "caught up: idle poll")

	assert.Equal(t, 4.0, testutil.ToFloat64(s.m.throttles.WithLabelValues("GetRecords")))
	assert.Equal(t, 1.0, testutil.ToFloat64(s.m.errors.WithLabelValues("GetRecords")))
	assert.Equal(t, 7.0, testutil.ToFloat64(s.m.records.WithLabelValues("orders")))
	assert.Equal(t, 1.0, testutil.ToFloat64(s.m.aggregated.WithLabelValues("orders")))
	assert.Equal(t, 7, target.count())
	assert.Equal(t, 7, deliveredAtEnd, "SHARD_END is written only after every record is delivered")
	assert.Equal(t, []string{checkpointShardEnd}, fd.checkpoints())
	n, err := testutil.GatherAndCount(reg, "weir_kinesis_millis_behind_latest")
	require.NoError(t, err)
	assert.Zero(t, n, "a finished shard's gauge is removed")
	assert.Len(t, fk.iters, 1, "throttles reuse the iterator")
	assert.Equal(t, ktypes.ShardIteratorTypeTrimHorizon, fk.iters[0].ShardIteratorType)
}

// TestRecordsCarryPositionsAndRestartSkipsTheCheckpoint: keys name stream, shard and
// sequence; offsets are sub-sequence numbers; a restart reads AT the checkpoint's
// sequence and drops the user records the checkpoint covers.
func TestRecordsCarryPositionsAndRestartSkipsTheCheckpoint(t *testing.T) {
	t.Parallel()
	target := &fakeTarget{}
	p := newPipeline(t, target, &fakeDLQ{})
	agg := kinesistest.Aggregate([]string{"a"}, [][]byte{[]byte(`{"u":0}`), []byte(`{"u":1}`), []byte(`{"u":2}`), []byte(`{"u":3}`)})
	fk := &fakeKinesis{script: []step{
		{out: &awskinesis.GetRecordsOutput{Records: append([]ktypes.Record{kinesisRecord("700", agg)}, records("800")...), NextShardIterator: aws.String("x"), MillisBehindLatest: aws.Int64(0)}},
		{out: &awskinesis.GetRecordsOutput{}},
	}}
	s, _ := newTestSource(t, p, fk, &fakeDynamo{}, withClock(newFakeClock()))
	// Checkpoint: user records 0..1 of the aggregate at 700 were delivered.
	l := heldLease(s, "shardId-000000000001", "700", 1)
	waitDone(t, l)
	require.Len(t, fk.iters, 1)
	assert.Equal(t, ktypes.ShardIteratorTypeAtSequenceNumber, fk.iters[0].ShardIteratorType)
	assert.Equal(t, "700", aws.ToString(fk.iters[0].StartingSequenceNumber))
	assert.Equal(t, []string{`{"u":2}`, `{"u":3}`, `{"seq":"800"}`}, target.docs)
	assert.Equal(t, []string{"orders/shardId-000000000001/700", "orders/shardId-000000000001/700", "orders/shardId-000000000001/800"}, target.keys)
	assert.Equal(t, position{seq: "800"}, l.tracker.checkpoint())
}

// TestBadAggregateIsDeadLetteredWhole: a record with the KPL magic but a damaged digest is
// handed over as one plain record, which the pipeline dead-letters as invalid JSON, so the
// bytes are kept and the shard goes on.
func TestBadAggregateIsDeadLetteredWhole(t *testing.T) {
	t.Parallel()
	target, dlq := &fakeTarget{}, &fakeDLQ{}
	p := newPipeline(t, target, dlq)
	agg := kinesistest.Aggregate([]string{"a"}, [][]byte{[]byte(`{"u":0}`), []byte(`{"u":1}`)})
	agg[len(agg)-1] ^= 0xff
	fk := &fakeKinesis{script: []step{
		{out: &awskinesis.GetRecordsOutput{Records: append([]ktypes.Record{kinesisRecord("1", agg)}, records("2")...), NextShardIterator: aws.String("x")}},
		{out: &awskinesis.GetRecordsOutput{}},
	}}
	s, _ := newTestSource(t, p, fk, &fakeDynamo{}, withClock(newFakeClock()))
	l := heldLease(s, "shardId-000000000002", StartTrimHorizon, 0)
	waitDone(t, l)
	assert.Equal(t, []string{`{"seq":"2"}`}, target.docs)
	dlq.mu.Lock()
	defer dlq.mu.Unlock()
	require.Len(t, dlq.letters, 1)
	assert.Equal(t, "invalid_json", dlq.letters[0].Reason)
	assert.Equal(t, "orders/shardId-000000000002/1", dlq.letters[0].Key)
	assert.Equal(t, pipeline.DeadLetter{}.Offset, dlq.letters[0].Offset)
	assert.Equal(t, position{seq: "2"}, l.tracker.checkpoint(), "a dead-lettered record counts as delivered")
}

// TestLargeCallIsSplitIntoGroups: one call's records go over in groups that each fit the
// queue and move the checkpoint on their own.
func TestLargeCallIsSplitIntoGroups(t *testing.T) {
	t.Parallel()
	target := &fakeTarget{}
	p := newPipeline(t, target, &fakeDLQ{})
	seqs := make([]string, 1234)
	for i := range seqs {
		seqs[i] = fmt.Sprint(1000 + i)
	}
	fk := &fakeKinesis{script: []step{{out: &awskinesis.GetRecordsOutput{Records: records(seqs...), NextShardIterator: aws.String("x")}}, {out: &awskinesis.GetRecordsOutput{}}}}
	s, _ := newTestSource(t, p, fk, &fakeDynamo{}, withClock(newFakeClock()))
	l := heldLease(s, "shardId-000000000003", StartTrimHorizon, 0)
	waitDone(t, l)
	assert.Equal(t, 1234, target.count())
	assert.Equal(t, position{seq: "2233"}, l.tracker.checkpoint())
}

// TestLostLeaseStopsReading: a renewal refused because another worker took the lease stops
// the reader at once and writes nothing more for it.
func TestLostLeaseStopsReading(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, &fakeTarget{}, &fakeDLQ{})
	fd := &fakeDynamo{update: func(*ddb.UpdateItemInput) error {
		return &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}}
	s, reg := newTestSource(t, p, &fakeKinesis{}, fd)
	l := heldLease(s, "shardId-000000000004", StartTrimHorizon, 0)
	s.renewLeases(context.Background())
	waitDone(t, l)
	assert.Empty(t, s.heldLeases())
	assert.Equal(t, 1.0, testutil.ToFloat64(s.m.events.WithLabelValues(eventLost)))
	assert.ErrorIs(t, s.checkpoint(context.Background(), l, position{seq: "9"}, false), errLeaseLost)
	_ = reg
}

// TestPausedPipelineStopsReading: while the breaker is open no GetRecords call is made.
func TestPausedPipelineStopsReading(t *testing.T) {
	t.Parallel()
	p := newPipeline(t, &fakeTarget{}, &fakeDLQ{})
	p.Pause("test breaker")
	fk := &fakeKinesis{}
	s, _ := newTestSource(t, p, fk, &fakeDynamo{})
	l := heldLease(s, "shardId-000000000005", StartTrimHorizon, 0)
	time.Sleep(100 * time.Millisecond)
	fk.mu.Lock()
	calls := fk.calls
	fk.mu.Unlock()
	assert.Zero(t, calls)
	p.Resume()
	require.Eventually(t, func() bool {
		fk.mu.Lock()
		defer fk.mu.Unlock()
		return fk.calls > 0
	}, 5*time.Second, 10*time.Millisecond)
	l.cancel()
	waitDone(t, l)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := newBackoff(100*time.Millisecond, time.Second)
	b.rnd = func() float64 { return 0.5 }
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	assert.Equal(t, []time.Duration{75 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond,
		600 * time.Millisecond, 750 * time.Millisecond, 750 * time.Millisecond}, got)
	b.reset()
	b.rnd = func() float64 { return 0 }
	assert.Equal(t, 50*time.Millisecond, b.next())
	for range 100 {
		b.next() // no overflow however long it goes
	}
	assert.Equal(t, 500*time.Millisecond, b.next())
}

func TestIsThrottle(t *testing.T) {
	t.Parallel()
	assert.True(t, isThrottle(&ktypes.ProvisionedThroughputExceededException{}))
	assert.True(t, isThrottle(fmt.Errorf("wrapped: %w", &ktypes.LimitExceededException{})))
	assert.True(t, isThrottle(&ktypes.KMSThrottlingException{}))
	assert.False(t, isThrottle(&ktypes.ExpiredIteratorException{}))
	assert.False(t, isThrottle(errors.New("boom")))
}
