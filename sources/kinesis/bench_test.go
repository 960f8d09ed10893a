package kinesis

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/opensearch"
	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

// memKinesis serves every shard the same pre-built records from memory, so that a
// benchmark measures weir (de-aggregation, records, pipeline, sink) and not an emulator.
// Iterators are "shard:offset"; a shard ends after its records.
type memKinesis struct{ recs []ktypes.Record }

func (m *memKinesis) ListShards(context.Context, *awskinesis.ListShardsInput, ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error) {
	return &awskinesis.ListShardsOutput{}, nil
}

func (m *memKinesis) GetShardIterator(_ context.Context, in *awskinesis.GetShardIteratorInput, _ ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error) {
	return &awskinesis.GetShardIteratorOutput{ShardIterator: aws.String(aws.ToString(in.ShardId) + ":0")}, nil
}

func (m *memKinesis) GetRecords(_ context.Context, in *awskinesis.GetRecordsInput, _ ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error) {
	shard, o, _ := strings.Cut(aws.ToString(in.ShardIterator), ":")
	off, _ := strconv.Atoi(o)
	end := min(off+int(aws.ToInt32(in.Limit)), len(m.recs))
	out := &awskinesis.GetRecordsOutput{Records: m.recs[off:end], MillisBehindLatest: aws.Int64(0)}
	if end < len(m.recs) {
		out.NextShardIterator = aws.String(shard + ":" + strconv.Itoa(end))
		out.MillisBehindLatest = aws.Int64(1000)
	}
	return out, nil
}

// noSleep skips the pacing between calls: the benchmark asks what weir can take, above the
// 5 calls (10,000 records, 2 MB) a second Kinesis itself serves a shard.
type noSleep struct{ pipeline.RealClock }

func (noSleep) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// BenchmarkShardsToNullBulk reads shards of ~1 KiB JSON records (plain, or KPL aggregates of
// 100) through the whole path — GetRecords, de-aggregation, records with position ids, the
// pipeline, the OpenSearch sink — into the null _bulk receiver over loopback HTTP.
func BenchmarkShardsToNullBulk(b *testing.B) {
	const perShard = 20_000
	for _, kind := range []string{"plain", "kpl"} {
		var recs []ktypes.Record
		if kind == "plain" {
			for i := range perShard {
				recs = append(recs, kinesisRecord(strconv.Itoa(100000+i), kinesistest.Doc(i, 950)))
			}
		} else {
			for i := 0; i < perShard; i += 100 {
				var docs [][]byte
				for j := i; j < i+100; j++ {
					docs = append(docs, kinesistest.Doc(j, 950))
				}
				recs = append(recs, kinesisRecord(strconv.Itoa(100000+i), kinesistest.Aggregate([]string{"k"}, docs)))
			}
		}
		for _, shards := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/shards=%d", kind, shards), func(b *testing.B) {
				srv := httptest.NewServer(nullbulk.New(nullbulk.WithCompact()))
				defer srv.Close()
				scfg := opensearch.DefaultConfig()
				scfg.URLs = []string{srv.URL}
				dlq := &fakeDLQ{}
				sink, err := opensearch.New(scfg, opensearch.WithDeadLetter(dlq), opensearch.WithLogger(quiet))
				if err != nil {
					b.Fatal(err)
				}
				_ = sink.Start(context.Background())
				pcfg := pipeline.DefaultConfig()
				p, err := pipeline.New(pcfg, sink, dlq, pipeline.WithLogger(quiet))
				if err != nil {
					b.Fatal(err)
				}
				_ = p.Start(context.Background())
				defer func() {
					_ = p.Shutdown(context.Background())
					_ = sink.Shutdown(context.Background())
				}()
				s, _ := newTestSource(b, p, &memKinesis{recs: recs}, &fakeDynamo{}, withClock(noSleep{}))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for b.Loop() {
					var leases []*lease
					for i := range shards {
						l := &lease{key: leaseKey("orders", fmt.Sprint(i)), stream: stream{name: "orders"}, shard: fmt.Sprint(i),
							startCP: StartTrimHorizon, done: make(chan struct{}), tracker: newTracker(position{}), cancel: func() {}}
						leases = append(leases, l)
						go func() { defer close(l.done); newReader(s, l).run(context.Background()) }()
					}
					for _, l := range leases {
						<-l.done
					}
				}
				el := time.Since(start).Seconds()
				total := float64(b.N * shards * perShard)
				b.ReportMetric(total/el, "records/s")
				b.ReportMetric(total/el/float64(shards), "records/s/shard")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
