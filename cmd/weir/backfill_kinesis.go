package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"

	"github.com/weir-ingest/weir/pipeline"
	kinesissource "github.com/weir-ingest/weir/sources/kinesis"
)

// kinesisRange is the part of a stream a backfill reads.
type kinesisRange struct {
	// from: nil reads from TRIM_HORIZON, else from the first record put at or after it.
	from *time.Time
	// end: records that arrived after it are not read. With tail, end is the moment the
	// backfill started, and a shard also ends where it is caught up with the tip.
	end  time.Time
	tail bool
}

func parseKinesisRange(from, to string, now time.Time) (kinesisRange, error) {
	var r kinesisRange
	switch {
	case from == "TRIM_HORIZON":
	case strings.HasPrefix(from, "AT_TIMESTAMP:"):
		t, err := time.Parse(time.RFC3339, strings.TrimPrefix(from, "AT_TIMESTAMP:"))
		if err != nil {
			return r, fmt.Errorf("--from: %w", err)
		}
		r.from = &t
	default:
		return r, fmt.Errorf("--from: want TRIM_HORIZON or AT_TIMESTAMP:RFC3339, got %q", from)
	}
	if to == "TAIL" {
		r.end, r.tail = now, true
	} else {
		t, err := time.Parse(time.RFC3339, to)
		if err != nil {
			return r, fmt.Errorf("--to: want TAIL or an RFC 3339 time: %w", err)
		}
		r.end = t
	}
	if r.from != nil && !r.end.After(*r.from) {
		return r, errors.New("--to must be after --from")
	}
	return r, nil
}

// kinesisShardsAtOnce bounds the shards read together.
const kinesisShardsAtOnce = 8

// readStream reads one stream's range into the pipeline, each shard after its parents (a
// resharded key's older records first), and returns once every document is finished.
// There is no checkpoint: a re-run reads the range again, and the position ids (stream,
// shard, sequence number, sub-sequence: the same as the Kinesis source's) make the second
// reading overwrite the first.
func (b *backfill) readStream(ctx context.Context, stream string) error {
	rng, err := parseKinesisRange(b.flags.from, b.flags.to, b.started)
	if err != nil {
		return err
	}
	kc := awskinesis.NewFromConfig(b.awsCfg)
	name, arn := stream, (*string)(nil)
	if strings.HasPrefix(stream, "arn:") {
		arn = aws.String(stream)
		name = stream[strings.LastIndex(stream, "/")+1:]
	}
	var shards []ktypes.Shard
	in := &awskinesis.ListShardsInput{StreamARN: arn}
	if arn == nil {
		in.StreamName = aws.String(name)
	}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("list shards: %w", err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &awskinesis.ListShardsInput{NextToken: out.NextToken}
	}
	known := map[string]bool{}
	for _, s := range shards {
		known[aws.ToString(s.ShardId)] = true
	}
	b.log.Info("reading kinesis stream", "stream", name, "shards", len(shards), "until", rng.end)

	var (
		mu      sync.Mutex
		done    = map[string]bool{}
		started = map[string]bool{}
		errs    []error
		acks    sync.WaitGroup
		wg      sync.WaitGroup
		wake    = make(chan struct{}, 1)
		slots   = make(chan struct{}, kinesisShardsAtOnce)
	)
	ready := func(s ktypes.Shard) bool {
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if id := aws.ToString(p); id != "" && known[id] && !done[id] {
				return false
			}
		}
		return true
	}
	for {
		mu.Lock()
		var next []ktypes.Shard
		for _, s := range shards {
			if id := aws.ToString(s.ShardId); !started[id] && ready(s) {
				started[id] = true
				next = append(next, s)
			}
		}
		finished := len(done) == len(shards)
		mu.Unlock()
		if finished || ctx.Err() != nil {
			break
		}
		for _, s := range next {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := b.readShard(ctx, kc, name, arn, s, rng, &acks)
				<-slots
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("shard %s: %w", aws.ToString(s.ShardId), err))
				}
				// A failed parent still releases its children: waiting forever helps no one,
				// and the failure is reported.
				done[aws.ToString(s.ShardId)] = true
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default:
				}
			}()
		}
		select {
		case <-wake:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	waitCtx(ctx, &acks)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

func waitCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// readShard reads one shard from the range's start until a record arrived after its end,
// the shard closed, or (tail) it is caught up.
func (b *backfill) readShard(ctx context.Context, kc *awskinesis.Client, stream string, arn *string, s ktypes.Shard,
	rng kinesisRange, acks *sync.WaitGroup) error {
	in := &awskinesis.GetShardIteratorInput{ShardId: s.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon, StreamARN: arn}
	if arn == nil {
		in.StreamName = aws.String(stream)
	}
	if rng.from != nil {
		in.ShardIteratorType, in.Timestamp = ktypes.ShardIteratorTypeAtTimestamp, rng.from
	}
	it, err := kc.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("get shard iterator: %w", err)
	}
	iter := it.ShardIterator
	prefix := stream + "/" + aws.ToString(s.ShardId) + "/"
	var last time.Time
	for iter != nil {
		// Kinesis allows five GetRecords per second per shard.
		if wait := 200*time.Millisecond - time.Since(last); wait > 0 {
			if err := pipeline.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		last = time.Now()
		out, err := kc.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000), StreamARN: arn})
		if err != nil {
			var throttled *ktypes.ProvisionedThroughputExceededException
			if errors.As(err, &throttled) {
				if err := pipeline.Sleep(ctx, time.Duration(500+rand.IntN(1000))*time.Millisecond); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("get records: %w", err)
		}
		recs := out.Records
		past := false
		for i, r := range recs {
			if r.ApproximateArrivalTimestamp != nil && r.ApproximateArrivalTimestamp.After(rng.end) {
				recs, past = recs[:i], true
				break
			}
		}
		if err := b.handKinesis(ctx, prefix, recs, acks); err != nil {
			return err
		}
		if past {
			return nil
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			// At the tip: what is put from now on arrived after the end (tail) or is not
			// there yet (a future --to, which a backfill does not wait for).
			return nil
		}
		iter = out.NextShardIterator // nil: the shard is closed and read to its end
	}
	return nil
}

// handKinesis hands one GetRecords call's records to the pipeline, one document per
// (deaggregated) user record, with one Ack for the call.
func (b *backfill) handKinesis(ctx context.Context, prefix string, recs []ktypes.Record, acks *sync.WaitGroup) error {
	if len(recs) == 0 {
		return nil
	}
	out := make([]pipeline.Record, 0, len(recs))
	var size int64
	for _, r := range recs {
		users, err := deaggregator.DeaggregateRecords([]ktypes.Record{r})
		if err != nil {
			users = []ktypes.Record{r} // a damaged aggregate goes whole, and is dead-lettered as invalid JSON
		}
		for j, u := range users {
			out = append(out, pipeline.Record{Doc: u.Data, Index: b.flags.index, PositionID: true, Op: b.d.pipe.Op(),
				Source: kinesissource.SourceName, Key: prefix + aws.ToString(r.SequenceNumber), Offset: int64(j)})
			size += int64(len(u.Data))
		}
		b.streamBytes.Add(int64(len(r.Data)))
	}
	// A call returns at most 10 MB: submitted in parts that fit the queue.
	limit := max(b.d.pipe.Capacity()/4, 1)
	for start := 0; start < len(out); {
		end, n := start, int64(0)
		for end < len(out) && (end == start || n+int64(len(out[end].Doc)) <= limit) {
			n += int64(len(out[end].Doc))
			end++
		}
		acks.Add(1)
		ack := pipeline.NewAck(func(*pipeline.Ack) { acks.Done() })
		if err := b.d.pipe.Submit(ctx, ack, out[start:end:end], n); err != nil {
			ack.Seal()
			return err
		}
		ack.Seal()
		start = end
	}
	return nil
}
