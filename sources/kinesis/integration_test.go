package kinesis

// Integration tests against emulators and the real OpenSearch node. Which emulator, and why:
//   - moto (WEIR_TEST_AWS) serves DynamoDB in every test (it evaluates ConditionExpression,
//     if_not_exists and REMOVE as DynamoDB does) and Kinesis where no resharding happens.
//   - kinesalite (scripts/kinesalite.sh) serves Kinesis in the resharding test: moto 5.2.1's
//     SplitShard moves the parent's unread records into the children, its MergeShards
//     copies them, and its GetRecords never returns the end of a closed shard (no null
//     NextShardIterator), so a split or merge there is not what Kinesis does. kinesalite
//     keeps records in their shard and ends a closed one as Kinesis does.
//   - Neither emulator enforces read limits: throttling comes from a fault-injecting
//     http.RoundTripper (kinesistest.Throttler) in front of moto.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/opensearch"
	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := kinesistest.StopKinesalite(); err != nil {
		fmt.Fprintln(os.Stderr, "kinesalite:", err)
	}
	os.Exit(code)
}

// osPipeline is a pipeline into the real OpenSearch node.
func osPipeline(t *testing.T, osURL string, opts ...opensearch.Option) *pipeline.Pipeline {
	t.Helper()
	scfg := opensearch.DefaultConfig()
	scfg.URLs = []string{osURL}
	scfg.FlushInterval = 200 * time.Millisecond
	dlq := &fakeDLQ{}
	opts = append([]opensearch.Option{opensearch.WithDeadLetter(dlq), opensearch.WithLogger(quiet)}, opts...)
	sink, err := opensearch.New(scfg, opts...)
	require.NoError(t, err)
	require.NoError(t, sink.Start(context.Background()))
	pcfg := pipeline.DefaultConfig()
	pcfg.QueueBytes = 32 << 20
	p, err := pipeline.New(pcfg, sink, dlq, pipeline.WithLogger(quiet))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = p.Shutdown(ctx)
		_ = sink.Shutdown(ctx)
	})
	return p
}

// itConfig is a source configuration for tests: short leases and intervals.
func itConfig(stream, table, index string) Config {
	cfg := DefaultConfig()
	cfg.Streams = []string{stream}
	cfg.LeaseTable = table
	cfg.Index = index
	cfg.LeaseDuration = 3 * time.Second
	cfg.CheckpointInterval = 500 * time.Millisecond
	cfg.IdlePoll = 200 * time.Millisecond
	return cfg
}

func startSource(t *testing.T, cfg Config, p Pipeline, awsCfg aws.Config, opts ...Option) *Source {
	t.Helper()
	opts = append([]Option{WithLogger(testLogger(t))}, opts...)
	s, err := New(cfg, p, awsCfg, opts...)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func testLogger(*testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return quiet
}

// checkLeases reads the lease table after a run: the shards in finished are SHARD_END; every
// other shard's checkpoint is its tail (the last record put to it, with the sub-sequence
// number of its last document for a KPL record); no lease has an owner left.
func checkLeases(t *testing.T, db *ddb.Client, table, stream string, tail map[string]kinesistest.Checkpoint, finished []string) {
	t.Helper()
	cps, owners := kinesistest.Leases(t, db, table, stream)
	for shard, owner := range owners {
		assert.Empty(t, owner, "lease %s still owned after shutdown", shard)
	}
	for _, shard := range finished {
		assert.Equal(t, kinesistest.Checkpoint{Seq: checkpointShardEnd}, cps[shard], "parent %s", shard)
	}
	for shard, want := range tail {
		assert.Equal(t, want, cps[shard], "shard %s checkpoint is its tail", shard)
	}
}

// checkOnce reads the index and checks that documents 0..total-1 each landed exactly once.
func checkOnce(t *testing.T, osURL, index string, total int) []kinesistest.Hit {
	t.Helper()
	hits := kinesistest.All(t, osURL, index)
	seen := make([]int, total)
	ids := map[string]bool{}
	for _, h := range hits {
		n := int(h.Source["n"].(float64))
		require.True(t, n >= 0 && n < total, "unexpected document %d", n)
		seen[n]++
		ids[h.ID] = true
	}
	var missing, dup []int
	for n, c := range seen {
		if c == 0 {
			missing = append(missing, n)
		} else if c > 1 {
			dup = append(dup, n)
		}
	}
	assert.Empty(t, missing, "documents never indexed")
	assert.Empty(t, dup, "documents indexed twice")
	assert.Len(t, hits, total)
	assert.Len(t, ids, total, "position ids are unique")
	return hits
}

func waitCount(t *testing.T, osURL, index string, total int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := kinesistest.Count(t, osURL, index)
		if n >= total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d documents indexed after %s", n, total, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestIntegrationEveryRecordOnce: records over 4 shards (50,000 with WEIR_TEST_FULL=1),
// a share of them KPL aggregated, half put before the source starts and half while it
// reads, land in OpenSearch once each, and the checkpoints end at each shard's tail.
func TestIntegrationEveryRecordOnce(t *testing.T) {
	endpoint := testenv.AWS(t)
	osURL := testenv.OpenSearch(t)
	awsCfg := kinesistest.AWSConfig(endpoint, nil)
	kc, db := awskinesis.NewFromConfig(awsCfg), ddb.NewFromConfig(awsCfg)
	stream, table, index := kinesistest.Name("once"), kinesistest.Name("leases"), kinesistest.Name("kinesis-once")
	kinesistest.CreateStream(t, kc, stream, 4)
	t.Cleanup(func() { kinesistest.DeleteTable(db, table); kinesistest.OS(t, osURL, "DELETE", "/"+index, nil) })

	total := testenv.Size(50_000, 5_000)
	// Every fourth group of records is a KPL aggregate of 20 documents.
	puts, nums := kinesistest.Records(0, total, 100, 4, 20)
	half := len(puts) / 2
	placed := kinesistest.PutRecords(t, kc, stream, puts[:half])
	aggregated := 0
	for _, ns := range nums {
		if len(ns) > 1 {
			aggregated += len(ns)
		}
	}

	p := osPipeline(t, osURL)
	start := time.Now()
	s := startSource(t, itConfig(stream, table, index), p, awsCfg)
	placed = append(placed, kinesistest.PutRecords(t, kc, stream, puts[half:])...)
	waitCount(t, osURL, index, total, 3*time.Minute)
	elapsed := time.Since(start)
	require.NoError(t, s.Shutdown(context.Background()))

	checkOnce(t, osURL, index, total)
	checkLeases(t, db, table, stream, kinesistest.Tails(placed, nums), nil)
	assert.Equal(t, float64(total), testutil.ToFloat64(s.m.records.WithLabelValues(stream)))
	t.Logf("%d documents (%d from KPL aggregates) over 4 shards (moto) in %s: %.0f docs/s end to end",
		total, aggregated, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}

// TestIntegrationReshardingReadsParentsFirst splits a shard and merges two others while the
// source reads (kinesalite for Kinesis, see the top of the file; moto for DynamoDB). Every
// record of parents and children lands once, and no child record is indexed before the
// last record of its parents: checked with an index-time counter taken from the target's
// _bulk answers, and from the order in which the source started and finished shards.
func TestIntegrationReshardingReadsParentsFirst(t *testing.T) {
	endpoint := testenv.AWS(t)
	osURL := testenv.OpenSearch(t)
	kl := kinesistest.Kinesalite(t)
	awsCfg := kinesistest.AWSConfig(endpoint, nil)
	kc := awskinesis.NewFromConfig(kinesistest.AWSConfig(kl, nil))
	db := ddb.NewFromConfig(awsCfg)
	stream, table, index := kinesistest.Name("reshard"), kinesistest.Name("leases"), kinesistest.Name("kinesis-reshard")
	kinesistest.CreateStream(t, kc, stream, 4)

	t.Cleanup(func() { kinesistest.DeleteTable(db, table); kinesistest.OS(t, osURL, "DELETE", "/"+index, nil) })
	// The index-time counter: every _bulk answer OpenSearch gives is numbered, and each
	// document is stamped with the number of the last answer that carried it. (The test
	// node has no ingest processors to stamp documents itself.)
	var answers atomic.Int64
	var stampMu sync.Mutex
	stamp := map[int]int64{}
	observe := opensearch.WithSender(func(next opensearch.Sender) opensearch.Sender {
		return opensearch.SenderFunc(func(ctx context.Context, body, buf []byte) (opensearch.Response, error) {
			resp, err := next.Send(ctx, body, buf)
			if err != nil || resp.Status != 200 {
				return resp, err
			}
			at := answers.Add(1)
			stampMu.Lock()
			defer stampMu.Unlock()
			for _, line := range bytes.Split(body, []byte("\n")) {
				var doc struct{ N *int }
				if json.Unmarshal(line, &doc) == nil && doc.N != nil {
					stamp[*doc.N] = at
				}
			}
			return resp, nil
		})
	})

	var mu sync.Mutex
	started, ended := map[string]time.Time{}, map[string]time.Time{}
	h := hooks{
		shardStart: func(_, shard string) { mu.Lock(); started[shard] = time.Now(); mu.Unlock() },
		shardEnd:   func(_, shard string) { mu.Lock(); ended[shard] = time.Now(); mu.Unlock() },
	}
	total := testenv.Size(20_000, 3_000)
	third := total / 3
	p := osPipeline(t, osURL, observe)
	s := startSource(t, itConfig(stream, table, index), p, awsCfg, WithKinesisClient(kc), withHooks(h))

	var placed []kinesistest.Placed
	var nums [][]int
	put := func(first, count int) {
		puts, ns := kinesistest.Records(first, count, 100, 5, 10)
		placed = append(placed, kinesistest.PutRecords(t, kc, stream, puts)...)
		nums = append(nums, ns...)
	}
	put(0, third)
	// Split shard 0 in the middle of its hash range while its records are being read.
	waitCount(t, osURL, index, 1, time.Minute)
	shards := kinesistest.Shards(t, kc, stream)
	lo, _ := new(big.Int).SetString(aws.ToString(shards[0].HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(shards[0].HashKeyRange.EndingHashKey), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	_, err := kc.SplitShard(context.Background(), &awskinesis.SplitShardInput{
		StreamName: aws.String(stream), ShardToSplit: shards[0].ShardId, NewStartingHashKey: aws.String(mid.String()),
	})
	require.NoError(t, err)
	kinesistest.WaitActive(t, kc, stream)
	put(third, third)
	// Merge shards 2 and 3, adjacent since the stream was created, while reading goes on.
	waitCount(t, osURL, index, third, time.Minute)
	_, err = kc.MergeShards(context.Background(), &awskinesis.MergeShardsInput{
		StreamName: aws.String(stream), ShardToMerge: shards[2].ShardId, AdjacentShardToMerge: shards[3].ShardId,
	})
	require.NoError(t, err)
	kinesistest.WaitActive(t, kc, stream)
	put(2*third, total-2*third)

	waitCount(t, osURL, index, total, 3*time.Minute)
	require.NoError(t, s.Shutdown(context.Background()))
	checkOnce(t, osURL, index, total)

	// The first and last index-time stamp of each shard's documents.
	first, last := map[string]int64{}, map[string]int64{}
	stampMu.Lock()
	for i, ns := range nums {
		sh := placed[i].Shard
		for _, n := range ns {
			at, ok := stamp[n]
			require.True(t, ok, "document %d was never in a _bulk answer", n)
			if f, ok := first[sh]; !ok || at < f {
				first[sh] = at
			}
			last[sh] = max(last[sh], at)
		}
	}
	stampMu.Unlock()
	all := kinesistest.Shards(t, kc, stream)
	require.Len(t, all, 7, "4 shards, 2 children of a split, 1 of a merge")
	var parents []string
	children := 0
	for _, sh := range all {
		for _, parent := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if parent == nil {
				continue
			}
			child := aws.ToString(sh.ShardId)
			children++
			if !slices.Contains(parents, *parent) {
				parents = append(parents, *parent)
			}
			require.Contains(t, last, *parent, "parent %s received records", *parent)
			require.Contains(t, first, child, "child %s received records", child)
			assert.Greater(t, first[child], last[*parent],
				"child %s had a record indexed (bulk answer %d) before or with its parent %s's last (answer %d)", child, first[child], *parent, last[*parent])
			mu.Lock()
			assert.True(t, started[child].After(ended[*parent]), "child %s started reading before parent %s was finished", child, *parent)
			mu.Unlock()
		}
	}
	assert.Equal(t, 4, children, "3 children, one with two parents")
	// Only the children's tails: the parents end with SHARD_END.
	tail := kinesistest.Tails(placed, nums)
	for _, parent := range parents {
		delete(tail, parent)
	}
	checkLeases(t, db, table, stream, tail, parents)
}

// TestIntegrationThrottledReadsLoseNothing: with 30% of GetRecords calls answered
// ProvisionedThroughputExceededException by a fault-injecting transport in front of moto,
// reading slows but every record is delivered, and the throttles are counted.
func TestIntegrationThrottledReadsLoseNothing(t *testing.T) {
	endpoint := testenv.AWS(t)
	th := &kinesistest.Throttler{Share: 0.3}
	awsCfg := kinesistest.AWSConfig(endpoint, func(rt http.RoundTripper) http.RoundTripper { th.Base = rt; return th })
	kc, db := awskinesis.NewFromConfig(awsCfg), ddb.NewFromConfig(awsCfg)
	stream, table := kinesistest.Name("throttled"), kinesistest.Name("leases")
	kinesistest.CreateStream(t, kc, stream, 2)
	t.Cleanup(func() { kinesistest.DeleteTable(db, table) })

	total := testenv.Size(20_000, 3_000)
	puts, nums := kinesistest.Records(0, total, 50, 3, 10)
	// Put in many small calls so that the shards are read in many GetRecords calls.
	var placed []kinesistest.Placed
	target := &fakeTarget{}
	p := newPipeline(t, target, &fakeDLQ{})
	cfg := itConfig(stream, table, "")
	cfg.MaxRecords = 25
	s := startSource(t, cfg, p, awsCfg)
	for off := 0; off < len(puts); off += 200 {
		placed = append(placed, kinesistest.PutRecords(t, kc, stream, puts[off:min(off+200, len(puts))])...)
	}
	require.Eventually(t, func() bool { return target.count() >= total }, 3*time.Minute, 100*time.Millisecond,
		"%d of %d delivered", target.count(), total)
	require.NoError(t, s.Shutdown(context.Background()))

	target.mu.Lock()
	seen := map[string]bool{}
	for i, d := range target.docs {
		seen[fmt.Sprint(target.keys[i], "|", d)] = true
	}
	target.mu.Unlock()
	assert.Len(t, seen, total, "every record delivered")
	throttles := testutil.ToFloat64(s.m.throttles.WithLabelValues("GetRecords"))
	assert.Positive(t, throttles)
	assert.EqualValues(t, th.Throttled.Load(), throttles, "every injected throttle was seen and backed off by weir, none retried blind by the SDK")
	checkLeases(t, db, table, stream, kinesistest.Tails(placed, nums), nil)
	t.Logf("%d records; %d of %d GetRecords calls throttled", total, th.Throttled.Load(), th.Calls.Load())
}

// TestIntegrationLeaseHandover: a second worker takes its share from the first (one steal
// at a time); when the first shuts down it releases its leases and the second takes them
// at once, well within lease_duration, and reads on from the first's checkpoints.
func TestIntegrationLeaseHandover(t *testing.T) {
	endpoint := testenv.AWS(t)
	awsCfg := kinesistest.AWSConfig(endpoint, nil)
	kc, db := awskinesis.NewFromConfig(awsCfg), ddb.NewFromConfig(awsCfg)
	stream, table := kinesistest.Name("handover"), kinesistest.Name("leases")
	kinesistest.CreateStream(t, kc, stream, 4)
	t.Cleanup(func() { kinesistest.DeleteTable(db, table) })

	target := &fakeTarget{}
	p := newPipeline(t, target, &fakeDLQ{})
	cfgA, cfgB := itConfig(stream, table, ""), itConfig(stream, table, "")
	cfgA.WorkerID, cfgB.WorkerID = "worker-a", "worker-b"
	cfgA.LeaseDuration, cfgB.LeaseDuration = 10*time.Second, 10*time.Second
	a := startSource(t, cfgA, p, awsCfg)
	held := func(s *Source) int { return len(s.heldLeases()) }
	require.Eventually(t, func() bool { return held(a) == 4 }, 20*time.Second, 50*time.Millisecond)

	puts, nums := kinesistest.Records(0, 400, 10, 0, 0)
	placed := kinesistest.PutRecords(t, kc, stream, puts[:200])
	b := startSource(t, cfgB, p, awsCfg)
	require.Eventually(t, func() bool { return held(a) == 2 && held(b) == 2 }, 30*time.Second, 50*time.Millisecond,
		"a=%d b=%d", held(a), held(b))
	assert.Equal(t, 2.0, testutil.ToFloat64(b.m.events.WithLabelValues(eventStolen)))

	stopped := time.Now()
	require.NoError(t, a.Shutdown(context.Background()))
	require.Eventually(t, func() bool { return held(b) == 4 }, cfgB.LeaseDuration, 20*time.Millisecond,
		"released leases are taken before they could expire")
	t.Logf("leases handed over %s after the shutdown began (lease_duration %s)", time.Since(stopped).Round(time.Millisecond), cfgB.LeaseDuration)
	placed = append(placed, kinesistest.PutRecords(t, kc, stream, puts[200:])...)
	require.Eventually(t, func() bool {
		target.mu.Lock()
		defer target.mu.Unlock()
		seen := map[string]bool{}
		for _, d := range target.docs {
			seen[d] = true
		}
		return len(seen) == 400
	}, time.Minute, 50*time.Millisecond)
	require.NoError(t, b.Shutdown(context.Background()))
	checkLeases(t, db, table, stream, kinesistest.Tails(placed, nums), nil)
}

// TestIntegrationStartPositions: without a checkpoint, LATEST reads only what is put after
// the leases exist and AT_TIMESTAMP only what was put from the timestamp on (moto).
func TestIntegrationStartPositions(t *testing.T) {
	endpoint := testenv.AWS(t)
	awsCfg := kinesistest.AWSConfig(endpoint, nil)
	kc, db := awskinesis.NewFromConfig(awsCfg), ddb.NewFromConfig(awsCfg)
	stream := kinesistest.Name("positions")
	kinesistest.CreateStream(t, kc, stream, 1)
	old, _ := kinesistest.Records(0, 10, 0, 0, 0)
	kinesistest.PutRecords(t, kc, stream, old)
	time.Sleep(1100 * time.Millisecond)
	from := time.Now()
	newer, _ := kinesistest.Records(10, 10, 0, 0, 0)
	kinesistest.PutRecords(t, kc, stream, newer)

	for _, tc := range []struct {
		position string
		want     []int
	}{{StartAtTimestamp, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}}, {StartLatest, []int{20, 21, 22}}} {
		t.Run(tc.position, func(t *testing.T) {
			table := kinesistest.Name("leases")
			t.Cleanup(func() { kinesistest.DeleteTable(db, table) })
			target := &fakeTarget{}
			p := newPipeline(t, target, &fakeDLQ{})
			cfg := itConfig(stream, table, "")
			cfg.StartPosition, cfg.StartTimestamp = tc.position, from
			s := startSource(t, cfg, p, awsCfg)
			require.Eventually(t, func() bool { return len(s.heldLeases()) == 1 }, 20*time.Second, 20*time.Millisecond)
			if tc.position == StartLatest {
				time.Sleep(500 * time.Millisecond) // the iterator is taken at LATEST
				latest, _ := kinesistest.Records(20, 3, 0, 0, 0)
				kinesistest.PutRecords(t, kc, stream, latest)
			}
			require.Eventually(t, func() bool { return target.count() >= len(tc.want) }, 20*time.Second, 20*time.Millisecond)
			time.Sleep(300 * time.Millisecond) // nothing more comes
			require.NoError(t, s.Shutdown(context.Background()))
			var got []int
			target.mu.Lock()
			for _, d := range target.docs {
				var n int
				fmt.Sscanf(d, `{"n":%d`, &n)
				got = append(got, n)
			}
			target.mu.Unlock()
			assert.Equal(t, tc.want, got)
		})
	}
}
