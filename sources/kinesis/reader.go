package kinesis

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/pipeline"
)

// Groups: the records of one GetRecords call go to the pipeline in groups of at most this
// many records and bytes, each with its own Ack, so that the checkpoint moves in steps
// smaller than a whole call (up to 10,000 records, 10 MB) and a group always fits the queue.
const (
	groupMaxRecords = 500
	groupMaxBytes   = 4 << 20
	// recordOverhead is about what a record costs in the queue beyond its document.
	recordOverhead = 128
)

// oneAttempt turns the SDK's own retries off for GetRecords: the reader backs off from
// throttles itself, with jitter, and counts them, instead of the SDK retrying blind and
// spending its retry quota.
func oneAttempt(o *awskinesis.Options) { o.RetryMaxAttempts = 1 }

// reader reads one leased shard into the pipeline.
type reader struct {
	s        *Source
	l        *lease
	throttle *backoff
	failure  *backoff
	// skip drops user records at or before it: reading restarts AT the checkpoint's
	// sequence number, because a KPL record may have been delivered only in part.
	skip position
	// last is the sequence number of the last Kinesis record handed over, where reading
	// resumes if the iterator expires.
	last string
	// Scratch reused across calls.
	users   []userRecord
	datas   [][]byte
	keyEnds []int

	behind  prometheus.Gauge
	records prometheus.Counter
	aggr    prometheus.Counter
	maxGrp  int64
	errStrk int // failed calls in a row, to log only the first of a streak
}

// userRecord is one document: a plain Kinesis record or one de-aggregated from a KPL record.
type userRecord struct {
	data []byte
	rec  int   // index of its Kinesis record in the call's result
	sub  int64 // its sub-sequence number
}

func newReader(s *Source, l *lease) *reader {
	return &reader{
		s:        s,
		l:        l,
		throttle: newBackoff(throttleInitial, throttleMax),
		failure:  newBackoff(errorInitial, errorMax),
		behind:   s.m.behind.WithLabelValues(l.stream.name, l.shard),
		records:  s.m.records.WithLabelValues(l.stream.name),
		aggr:     s.m.aggregated.WithLabelValues(l.stream.name),
		maxGrp:   max(min(s.p.Capacity()/4, groupMaxBytes), 1),
	}
}

func (r *reader) run(ctx context.Context) {
	s, l := r.s, r.l
	if err := r.waitParents(ctx); err != nil {
		return
	}
	if s.hooks.shardStart != nil {
		s.hooks.shardStart(l.stream.name, l.shard)
	}
	iter, err := r.iterator(ctx)
	if err != nil {
		return
	}
	for {
		if paused, _ := s.p.Paused(); paused {
			// The breaker is open: reading on would only fill the queue.
			if s.p.WaitResumed(ctx) != nil {
				return
			}
		}
		began := s.clock.Now()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := s.kc.GetRecords(cctx, &awskinesis.GetRecordsInput{
			ShardIterator: iter,
			Limit:         aws.Int32(int32(s.cfg.MaxRecords)),
			StreamARN:     arnOf(l.stream),
		}, oneAttempt)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var expired *ktypes.ExpiredIteratorException
			if errors.As(err, &expired) {
				// Idle for five minutes (a long pause): start again after the last record.
				if iter, err = r.iterator(ctx); err != nil {
					return
				}
				continue
			}
			if r.wait(ctx, "GetRecords", err) != nil {
				return
			}
			continue
		}
		r.throttle.reset()
		r.failure.reset()
		r.errStrk = 0
		behind := aws.ToInt64(out.MillisBehindLatest)
		r.behind.Set(float64(behind))
		if len(out.Records) > 0 {
			if r.hand(ctx, out.Records) != nil {
				return
			}
		}
		if out.NextShardIterator == nil {
			r.shardEnd(ctx)
			return
		}
		iter = out.NextShardIterator
		pause := s.cfg.IdlePoll
		if behind > 0 || len(out.Records) >= s.cfg.MaxRecords {
			// Behind: read on as fast as the shard's 5 calls a second allow.
			pause = minPollGap - s.clock.Now().Sub(began)
		}
		if s.clock.Sleep(ctx, pause) != nil {
			return
		}
	}
}

// wait backs off after a failed call: throttles with their own (shorter) backoff and
// counted as such, other errors logged once per streak.
func (r *reader) wait(ctx context.Context, op string, err error) error {
	m := r.s.m
	var d time.Duration
	if isThrottle(err) {
		m.throttles.WithLabelValues(op).Inc()
		d = r.throttle.next()
	} else {
		m.errors.WithLabelValues(op).Inc()
		if r.errStrk == 0 {
			r.s.log.Warn("kinesis: call failed; backing off", "op", op, "stream", r.l.stream.name, "shard", r.l.shard, "err", err)
		}
		r.errStrk++
		d = r.failure.next()
	}
	return r.s.clock.Sleep(ctx, d)
}

// waitParents holds a child shard until every parent lease is finished (SHARD_END), or
// gone from the table (trimmed long ago): children are read after their parents.
func (r *reader) waitParents(ctx context.Context) error {
	s, l := r.s, r.l
	logged := false
	for _, p := range l.parents {
		key := leaseKey(l.stream.name, p)
		for {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			it, ok, err := s.table.get(cctx, key)
			cancel()
			if err == nil && (!ok || it.checkpoint == checkpointShardEnd) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				s.m.errors.WithLabelValues("GetItem").Inc()
			}
			if !logged {
				s.log.Info("kinesis shard waits for its parents to finish", "stream", l.stream.name, "shard", l.shard,
					"parents", strings.Join(l.parents, ","))
				logged = true
			}
			if err := s.clock.Sleep(ctx, s.cfg.IdlePoll); err != nil {
				return err
			}
		}
	}
	return nil
}

// iterator gets a shard iterator: after the last record handed over when there is one,
// else at the checkpoint (skipping what it covers), else at the start position.
func (r *reader) iterator(ctx context.Context) (*string, error) {
	s, l := r.s, r.l
	in := &awskinesis.GetShardIteratorInput{ShardId: aws.String(l.shard)}
	in.StreamName, in.StreamARN = l.stream.ids()
	switch {
	case r.last != "":
		in.ShardIteratorType = ktypes.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(r.last)
		r.skip = position{}
	case !l.startPos.isZero():
		in.ShardIteratorType = ktypes.ShardIteratorTypeAtSequenceNumber
		in.StartingSequenceNumber = aws.String(l.startPos.seq)
		r.skip = l.startPos
	case l.startCP == StartLatest:
		in.ShardIteratorType = ktypes.ShardIteratorTypeLatest
	case l.startCP == StartAtTimestamp:
		in.ShardIteratorType = ktypes.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(s.cfg.StartTimestamp)
	default:
		in.ShardIteratorType = ktypes.ShardIteratorTypeTrimHorizon
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := s.kc.GetShardIterator(cctx, in)
		cancel()
		if err == nil {
			return out.ShardIterator, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := r.wait(ctx, "GetShardIterator", err); err != nil {
			return nil, err
		}
	}
}

func arnOf(st stream) *string {
	if st.arn == "" {
		return nil
	}
	return aws.String(st.arn)
}

// hand de-aggregates one call's records and submits them in groups, each tracked for the
// checkpoint. Submit waits while the pipeline's queue is full: that is what slows reading.
func (r *reader) hand(ctx context.Context, recs []ktypes.Record) error {
	s, l := r.s, r.l
	users := r.users[:0]
	for i := range recs {
		data := recs[i].Data
		datas, ok := deaggregate(data, r.datas[:0])
		if ok {
			r.aggr.Inc()
			for j, d := range datas {
				users = append(users, userRecord{data: d, rec: i, sub: int64(j)})
			}
			r.datas = datas[:0]
			continue
		}
		users = append(users, userRecord{data: data, rec: i})
	}
	if !r.skip.isZero() {
		// The first records after a restart at the checkpoint: drop what it covers.
		kept := users[:0]
		for _, u := range users {
			if aws.ToString(recs[u.rec].SequenceNumber) == r.skip.seq && u.sub <= r.skip.sub {
				continue
			}
			kept = append(kept, u)
		}
		users = kept
		r.skip = position{}
	}
	r.users = users[:0]
	if len(users) == 0 {
		r.last = aws.ToString(recs[len(recs)-1].SequenceNumber)
		return nil
	}

	// Keys (stream/shard/sequence) of the whole call in one string: one allocation, not
	// one per record. With the sub-sequence as offset they make the position id.
	prefix := l.stream.name + "/" + l.shard + "/"
	var b strings.Builder
	b.Grow(len(recs) * (len(prefix) + 56))
	r.keyEnds = r.keyEnds[:0]
	for i := range recs {
		b.WriteString(prefix)
		b.WriteString(aws.ToString(recs[i].SequenceNumber))
		r.keyEnds = append(r.keyEnds, b.Len())
	}
	keys := b.String()
	keyOf := func(i int) string {
		start := 0
		if i > 0 {
			start = r.keyEnds[i-1]
		}
		return keys[start:r.keyEnds[i]]
	}

	out := make([]pipeline.Record, len(users))
	idPosition := s.cfg.ID == IDPosition
	for i, u := range users {
		out[i] = pipeline.Record{
			Doc:        u.data,
			Index:      s.cfg.Index,
			PositionID: idPosition,
			Op:         s.op,
			Source:     SourceName,
			Key:        keyOf(u.rec),
			Offset:     u.sub,
		}
	}
	for start := 0; start < len(out); {
		end, size := start, int64(0)
		for end < len(out) && end-start < groupMaxRecords {
			n := int64(len(out[end].Doc))
			if end > start && size+n+recordOverhead > r.maxGrp {
				break
			}
			size += n + recordOverhead
			end++
		}
		lastUser := users[end-1]
		id := l.tracker.add(position{seq: aws.ToString(recs[lastUser.rec].SequenceNumber), sub: lastUser.sub})
		tr := l.tracker
		ack := pipeline.NewAck(func(a *pipeline.Ack) { tr.finish(id, a.Delivered()) })
		if err := s.p.Submit(ctx, ack, out[start:end:end], size-int64(end-start)*recordOverhead); err != nil {
			tr.finish(id, false)
			return err
		}
		ack.Seal()
		r.records.Add(float64(end - start))
		start = end
	}
	r.last = aws.ToString(recs[len(recs)-1].SequenceNumber)
	return nil
}

// shardEnd: the shard is closed and read to its end. Once everything handed over is
// delivered, the lease is marked finished so that the children may start.
func (r *reader) shardEnd(ctx context.Context) {
	r.l.atEnd.Store(true)
	select {
	case <-r.l.tracker.idleCh():
	case <-ctx.Done():
		return // Shutdown finishes it if the drain delivers everything
	}
	if !r.l.tracker.settled() {
		return // some records were not delivered: the next holder reads them again
	}
	_ = r.s.finishShard(ctx, r.l)
}
