// Package kinesis is weir's Kinesis Data Streams source. It reads one or more streams with
// the polling API (ListShards, GetShardIterator, GetRecords), shares their shards with the
// other weir processes on the same streams through leases in a DynamoDB table, and
// checkpoints a shard only over records that are indexed or dead-lettered, so a crash or a
// lease hand-over re-reads (and, with position ids, overwrites) instead of losing.
//
// After a split or a merge a child shard is read only once every parent is read to its end
// and delivered (its lease checkpointed SHARD_END), so records of one partition key stay in
// order and nothing of the parents is skipped. KPL aggregated records are de-aggregated;
// each user record keeps its sub-sequence number, and checkpoints count it.
package kinesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/pipeline"
)

// SourceName is the Record.Source of every document this source hands over.
const SourceName = "kinesis"

// ErrShutDown is returned by Start after Shutdown.
var ErrShutDown = errors.New("kinesis source: shut down")

// KinesisAPI is what the source uses of the Kinesis client.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, opts ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *awskinesis.GetShardIteratorInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, opts ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error)
}

var _ KinesisAPI = (*awskinesis.Client)(nil)

// Pipeline is what the source uses of *pipeline.Pipeline.
type Pipeline interface {
	// Submit hands over records, waiting while the queue is full (the backpressure that
	// slows reading); on error nothing was taken.
	Submit(ctx context.Context, ack *pipeline.Ack, recs []pipeline.Record, bytes int64) error
	// Paused reports the circuit breaker open: reading stops until WaitResumed returns.
	Paused() (bool, string)
	WaitResumed(ctx context.Context) error
	// Op is the configured bulk action.
	Op() pipeline.Op
	// Capacity is the queue's size in bytes; groups of records are kept well below it.
	Capacity() int64
}

var _ Pipeline = (*pipeline.Pipeline)(nil)

// finalWriteGrace is how long the final checkpoints and lease releases of Shutdown may take
// past its deadline: without them the leases would sit idle for lease_duration before
// another process takes them over.
const finalWriteGrace = 5 * time.Second

// callTimeout bounds one Kinesis or DynamoDB call, so that a stuck connection cannot stall a
// shard or the lease renewals.
const callTimeout = 30 * time.Second

// Source consumes Kinesis streams into the pipeline.
type Source struct {
	cfg     Config
	p       Pipeline
	log     *slog.Logger
	reg     prometheus.Registerer
	m       *metrics
	kc      KinesisAPI
	db      DynamoDBAPI
	table   *leaseTable
	streams map[string]stream // by name
	names   map[string]bool
	worker  string
	start   string // normalised start position
	op      pipeline.Op
	clock   pipeline.Clock
	hooks   hooks

	// mu guards the lifecycle flags, held and readers.Add.
	mu       sync.Mutex
	started  bool
	closed   bool
	draining bool // Shutdown began: no lease is taken and no reader starts
	held     map[string]*lease

	runCtx    context.Context // the coordinator and its lease writes; ends last
	stopRun   context.CancelFunc
	readCtx   context.Context // shard readers; ends first at Shutdown
	stopRead  context.CancelFunc
	stopCoord chan struct{} // closed to end the coordinator between two of its steps
	coordDone chan struct{}
	readers   sync.WaitGroup
	syncNow   chan struct{}

	// seen is the coordinator's memory of each lease's counter and since when it has not
	// moved, which is how an expired lease is told (the KCL's way: no clock is compared
	// across machines). Only the coordinator goroutine touches it.
	seen map[string]observation

	stopOnce sync.Once
	stopErr  error
}

type observation struct {
	counter int64
	owner   string
	since   time.Time
}

// hooks let tests watch the order in which shards are read.
type hooks struct {
	shardStart func(streamName, shardID string) // parents finished, reading begins
	shardEnd   func(streamName, shardID string) // read to the end, delivered, SHARD_END written
}

// lease is a shard this worker holds and reads.
type lease struct {
	key      string
	stream   stream
	shard    string
	parents  []string
	startCP  string   // the checkpoint when it was taken: a start position or a sequence number
	startPos position // startCP as a position, when it is a sequence number
	tracker  *tracker
	cancel   context.CancelFunc // stops its reader
	done     chan struct{}      // closed when its reader has returned
	atEnd    atomic.Bool        // its reader read the shard to its end

	// mu serialises the writes to the lease's item, so that each one can be conditional on
	// the counter the previous one left, and guards the fields below.
	mu      sync.Mutex
	counter int64
	gone    bool // lost, released or finished: nothing more is written
	renewed time.Time
	written position
}

// Option adjusts a Source.
type Option func(*Source)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithRegisterer registers the source's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(s *Source) { s.reg = r } }

// WithKinesisClient replaces the Kinesis client built from the AWS config.
func WithKinesisClient(c KinesisAPI) Option { return func(s *Source) { s.kc = c } }

// WithDynamoDBClient replaces the DynamoDB client built from the AWS config.
func WithDynamoDBClient(c DynamoDBAPI) Option { return func(s *Source) { s.db = c } }

func withClock(c pipeline.Clock) Option { return func(s *Source) { s.clock = c } }

func withHooks(h hooks) Option { return func(s *Source) { s.hooks = h } }

// New builds the source; Start creates the lease table if needed and begins taking leases.
func New(cfg Config, p Pipeline, awsCfg aws.Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kinesis source config: %w", err)
	}
	if p == nil {
		return nil, errors.New("kinesis source: a pipeline is required")
	}
	s := &Source{
		cfg:       cfg,
		p:         p,
		log:       slog.Default(),
		streams:   map[string]stream{},
		names:     map[string]bool{},
		worker:    cfg.WorkerID,
		start:     strings.ToUpper(cfg.StartPosition),
		op:        p.Op(),
		clock:     pipeline.RealClock{},
		held:      map[string]*lease{},
		stopCoord: make(chan struct{}),
		coordDone: make(chan struct{}),
		syncNow:   make(chan struct{}, 1),
		seen:      map[string]observation{},
	}
	for _, o := range opts {
		o(s)
	}
	for _, id := range cfg.Streams {
		st, _ := parseStream(id) // validated above
		s.streams[st.name] = st
		s.names[st.name] = true
	}
	if s.worker == "" {
		s.worker = defaultWorkerID()
	}
	if s.kc == nil {
		s.kc = awskinesis.NewFromConfig(awsCfg)
	}
	if s.db == nil {
		s.db = ddb.NewFromConfig(awsCfg)
	}
	s.table = &leaseTable{db: s.db, name: cfg.LeaseTable}
	s.m = newMetrics(s.reg)
	s.runCtx, s.stopRun = context.WithCancel(context.Background())
	s.readCtx, s.stopRead = context.WithCancel(s.runCtx)
	return s, nil
}

// defaultWorkerID is the host name and a random suffix: two processes on one host (or a
// restarted task) are distinct workers.
func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "weir"
	}
	return host + "-" + strconv.FormatUint(rand.Uint64()&0xffffffff, 16)
}

// WorkerID is the name this process uses in the lease table.
func (s *Source) WorkerID() string { return s.worker }

// Start makes sure the lease table exists and starts taking leases in the background. It
// is safe to call more than once.
func (s *Source) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrShutDown
	}
	if s.started {
		return nil
	}
	if err := s.table.ensure(ctx); err != nil {
		return fmt.Errorf("kinesis source: %w", err)
	}
	s.started = true
	go s.run()
	s.log.Info("kinesis source started", "streams", strings.Join(s.cfg.Streams, ","), "lease_table", s.cfg.LeaseTable,
		"worker", s.worker, "start_position", s.start, "lease_duration", s.cfg.LeaseDuration.String())
	return nil
}

// Shutdown stops reading, waits until ctx ends for what was handed to the pipeline to be
// delivered, writes the final checkpoints and releases the leases (conditionally on still
// holding them) so that other processes take them at once. Safe to call twice and without
// Start.
func (s *Source) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Source) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.draining = true
	started := s.started
	s.mu.Unlock()
	if !started {
		s.stopRun()
		return nil
	}
	// Stop reading first; the coordinator keeps renewing the leases through the drain.
	s.stopRead()
	s.readers.Wait()
	var err error
	for _, l := range s.heldLeases() {
		select {
		case <-l.tracker.idleCh():
		case <-ctx.Done():
			err = fmt.Errorf("kinesis source drain: %w", ctx.Err())
		}
		if err != nil {
			break
		}
	}
	// The coordinator ends between two steps rather than in the middle of a lease write,
	// whose outcome would then be unknown; at the deadline it is cut short.
	close(s.stopCoord)
	select {
	case <-s.coordDone:
	case <-ctx.Done():
		s.stopRun()
		<-s.coordDone
	}
	defer s.stopRun()

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteGrace)
	defer cancel()
	released := 0
	for _, l := range s.heldLeases() {
		if l.atEnd.Load() && l.tracker.settled() {
			if s.finishShard(wctx, l) == nil {
				released++
			}
			continue
		}
		switch e := s.checkpoint(wctx, l, l.tracker.checkpoint(), true); {
		case e == nil:
			released++
			s.dropLease(l, eventReleased)
		case errors.Is(e, errLeaseLost):
			s.dropLease(l, eventLost)
		default:
			err = errors.Join(err, e)
			s.dropLease(l, eventReleased)
		}
	}
	s.log.Info("kinesis source stopped", "worker", s.worker, "leases_released", released, "drained", err == nil)
	return err
}

func (s *Source) heldLeases() []*lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*lease, 0, len(s.held))
	for _, l := range s.held {
		out = append(out, l)
	}
	return out
}

// run is the coordinator: it renews held leases, writes checkpoints, lists shards to
// create leases for new ones, and takes its share of leases. It is the only goroutine that
// takes leases.
func (s *Source) run() {
	defer close(s.coordDone)
	ctx := s.runCtx
	renew := time.NewTicker(s.cfg.LeaseDuration / 3)
	defer renew.Stop()
	// Taking is frequent (a consistent scan of the table) so that leases released at a
	// shutdown, or left by a crashed worker, are picked up soon after they become free.
	take := time.NewTicker(min(max(s.cfg.LeaseDuration/4, 250*time.Millisecond), 2*time.Second))
	defer take.Stop()
	cp := time.NewTicker(s.cfg.CheckpointInterval)
	defer cp.Stop()
	shards := time.NewTicker(s.cfg.ShardSyncInterval)
	defer shards.Stop()

	s.syncShards(ctx)
	s.takeLeases(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopCoord:
			return
		case <-renew.C:
			s.renewLeases(ctx)
		case <-cp.C:
			s.writeCheckpoints(ctx)
		case <-take.C:
			if !s.isDraining() {
				s.takeLeases(ctx)
			}
		case <-shards.C:
			if !s.isDraining() {
				s.syncShards(ctx)
			}
		case <-s.syncNow:
			if !s.isDraining() {
				s.syncShards(ctx)
				s.takeLeases(ctx)
			}
		}
	}
}

func (s *Source) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// syncShards lists every stream's shards and creates the leases that are missing.
func (s *Source) syncShards(ctx context.Context) {
	items, err := s.table.list(ctx, s.names)
	if err != nil {
		s.m.errors.WithLabelValues("Scan").Inc()
		s.log.Warn("kinesis: cannot read the lease table", "table", s.cfg.LeaseTable, "err", err)
		return
	}
	known := map[string]map[string]bool{}
	for _, it := range items {
		name, shard, _ := splitLeaseKey(it.key)
		if known[name] == nil {
			known[name] = map[string]bool{}
		}
		known[name][shard] = true
	}
	for name, st := range s.streams {
		shards, err := s.listShards(ctx, st)
		if err != nil {
			s.m.errors.WithLabelValues("ListShards").Inc()
			s.log.Warn("kinesis: cannot list shards", "stream", name, "err", err)
			continue
		}
		created := 0
		for _, nl := range plannedLeases(shards, known[name], s.start) {
			err := s.table.create(ctx, leaseItem{key: leaseKey(name, nl.shard.id), checkpoint: nl.checkpoint, parents: nl.shard.parents})
			switch {
			case err == nil:
				created++
			case errors.Is(err, errLeaseExists):
			default:
				s.m.errors.WithLabelValues("PutItem").Inc()
				s.log.Warn("kinesis: cannot create a lease", "stream", name, "shard", nl.shard.id, "err", err)
			}
		}
		if created > 0 {
			s.log.Info("kinesis leases created", "stream", name, "created", created, "shards", len(shards))
		}
	}
}

func (s *Source) listShards(ctx context.Context, st stream) ([]shardInfo, error) {
	var out []shardInfo
	var token *string
	for {
		in := &awskinesis.ListShardsInput{}
		if token != nil {
			in.NextToken = token // Kinesis refuses the stream name together with a token
		} else {
			in.StreamName, in.StreamARN = st.ids()
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		page, err := s.kc.ListShards(cctx, in)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, sh := range page.Shards {
			info := shardInfo{id: aws.ToString(sh.ShardId)}
			for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
				if p != nil && *p != "" {
					info.parents = append(info.parents, *p)
				}
			}
			info.closed = sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
			out = append(out, info)
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return out, nil
		}
		token = page.NextToken
	}
}

// takeLeases reads the table, judges which leases expired, and takes this worker's share.
func (s *Source) takeLeases(ctx context.Context) {
	items, err := s.table.list(ctx, s.names)
	if err != nil {
		s.m.errors.WithLabelValues("Scan").Inc()
		s.log.Warn("kinesis: cannot read the lease table", "table", s.cfg.LeaseTable, "err", err)
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	held := make(map[string]bool, len(s.held))
	for k := range s.held {
		held[k] = true
	}
	s.mu.Unlock()
	present := make(map[string]bool, len(items))
	states := make([]leaseState, 0, len(items))
	counters := make(map[string]int64, len(items))
	for _, it := range items {
		present[it.key] = true
		counters[it.key] = it.counter
		o, ok := s.seen[it.key]
		if !ok || o.counter != it.counter || o.owner != it.owner {
			o = observation{counter: it.counter, owner: it.owner, since: now}
			s.seen[it.key] = o
		}
		st := leaseState{
			key:      it.key,
			owner:    it.owner,
			expired:  it.owner != "" && now.Sub(o.since) >= s.cfg.LeaseDuration,
			finished: it.checkpoint == checkpointShardEnd,
		}
		switch {
		case held[it.key]:
			// Ours as far as this worker knows: if it was taken meanwhile, the next
			// renewal finds out; taking it again here would start a second reader.
			st.owner, st.expired = s.worker, false
		case st.owner == s.worker:
			// The table says it is ours but no reader runs for it (a write that timed
			// out after it succeeded): take it again properly.
			st.owner = ""
		}
		states = append(states, st)
	}
	for k := range s.seen {
		if !present[k] {
			delete(s.seen, k)
		}
	}
	rand.Shuffle(len(states), func(i, j int) { states[i], states[j] = states[j], states[i] })
	plan := balance(s.worker, states)
	for _, key := range plan.take {
		s.takeLease(ctx, key, counters[key], eventTaken)
	}
	if plan.steal != "" {
		s.takeLease(ctx, plan.steal, counters[plan.steal], eventStolen)
	}
}

func (s *Source) takeLease(ctx context.Context, key string, counter int64, event string) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	it, err := s.table.take(cctx, key, s.worker, counter)
	cancel()
	if errors.Is(err, errLeaseLost) {
		return // another worker was quicker
	}
	if err != nil {
		s.m.errors.WithLabelValues("UpdateItem").Inc()
		s.log.Warn("kinesis: cannot take a lease", "lease", key, "err", err)
		return
	}
	name, shard, _ := splitLeaseKey(it.key)
	l := &lease{
		key:     it.key,
		stream:  s.streams[name],
		shard:   shard,
		parents: it.parents,
		startCP: it.checkpoint,
		done:    make(chan struct{}),
		counter: it.counter,
		renewed: s.clock.Now(),
	}
	switch it.checkpoint {
	case StartTrimHorizon, StartLatest, StartAtTimestamp, "":
	default:
		l.startPos = position{seq: it.checkpoint, sub: it.subSeq}
	}
	l.tracker = newTracker(l.startPos)
	l.written = l.startPos
	rctx, stop := context.WithCancel(s.readCtx)
	l.cancel = stop

	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		stop()
		_ = s.table.release(ctx, l.key, s.worker, l.counter)
		return
	}
	s.held[l.key] = l
	s.readers.Add(1)
	s.mu.Unlock()
	s.m.leases.WithLabelValues(name).Inc()
	s.m.events.WithLabelValues(event).Inc()
	s.log.Info("kinesis shard leased", "stream", name, "shard", shard, "event", event, "checkpoint", it.checkpoint,
		"owner_switches", it.switches, "worker", s.worker)
	go func() {
		defer s.readers.Done()
		defer close(l.done)
		newReader(s, l).run(rctx)
	}()
}

// renewLeases moves the counter of every held lease. A lease found taken is dropped at
// once; one that could not be renewed for lease_duration is dropped too, because other
// workers may already judge it expired.
func (s *Source) renewLeases(ctx context.Context) {
	for _, l := range s.heldLeases() {
		l.mu.Lock()
		if l.gone {
			l.mu.Unlock()
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := s.write(cctx, l, func(counter int64) error { return s.table.renew(cctx, l.key, s.worker, counter) })
		cancel()
		lost := false
		switch {
		case err == nil:
			l.counter++
			l.renewed = s.clock.Now()
		case errors.Is(err, errLeaseLost):
			lost = true
		case ctx.Err() != nil:
		default:
			s.m.errors.WithLabelValues("UpdateItem").Inc()
			lost = s.clock.Now().Sub(l.renewed) >= s.cfg.LeaseDuration
			if lost {
				s.log.Warn("kinesis: lease not renewed within lease_duration; giving it up", "lease", l.key, "err", err)
			}
		}
		if lost {
			l.gone = true
		}
		l.mu.Unlock()
		if lost {
			s.dropLease(l, eventLost)
		}
	}
}

// write runs op, a write conditional on l's counter, with l.mu held. When the write is
// refused it checks whether the lease is still this worker's after all: an earlier write
// whose answer was lost (a timeout, a cancelled call) may have moved the counter. If the
// table still names this worker as owner, nobody took the lease (a take writes its taker's
// name), so the stored counter is adopted and op is tried once more.
func (s *Source) write(ctx context.Context, l *lease, op func(counter int64) error) error {
	err := op(l.counter)
	if !errors.Is(err, errLeaseLost) {
		return err
	}
	it, ok, gerr := s.table.get(ctx, l.key)
	if gerr != nil || !ok || it.owner != s.worker || it.counter == l.counter {
		return err
	}
	l.counter = it.counter
	return op(l.counter)
}

// writeCheckpoints writes each held shard's checkpoint when it moved.
func (s *Source) writeCheckpoints(ctx context.Context) {
	for _, l := range s.heldLeases() {
		if err := s.checkpoint(ctx, l, l.tracker.checkpoint(), false); errors.Is(err, errLeaseLost) {
			s.dropLease(l, eventLost)
		}
	}
}

// checkpoint writes pos as l's checkpoint if it moved, and with release gives the lease up
// in the same write.
func (s *Source) checkpoint(ctx context.Context, l *lease, pos position, release bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone {
		return errLeaseLost
	}
	if pos == l.written && !release {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var err error
	switch {
	case pos.isZero() || pos == l.written:
		// Nothing new to record (a shard not yet read keeps its start position).
		err = s.write(cctx, l, func(counter int64) error { return s.table.release(cctx, l.key, s.worker, counter) })
	default:
		err = s.write(cctx, l, func(counter int64) error {
			return s.table.checkpoint(cctx, l.key, s.worker, counter, pos.seq, pos.sub, release)
		})
	}
	switch {
	case err == nil:
		l.counter++
		l.renewed = s.clock.Now()
		if pos != l.written {
			l.written = pos
			s.m.checkpoints.WithLabelValues("written").Inc()
		}
		if release {
			l.gone = true
		}
	case errors.Is(err, errLeaseLost):
		l.gone = true
		s.m.checkpoints.WithLabelValues("lost").Inc()
	default:
		s.m.checkpoints.WithLabelValues("error").Inc()
		s.log.Warn("kinesis: checkpoint not written; will retry", "lease", l.key, "err", err)
	}
	return err
}

// finishShard marks a shard read to its end and delivered: checkpoint SHARD_END, owner
// cleared. Its children may start from then on.
func (s *Source) finishShard(ctx context.Context, l *lease) error {
	b := newBackoff(errorInitial, errorMax)
	for {
		l.mu.Lock()
		if l.gone {
			l.mu.Unlock()
			return errLeaseLost
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := s.write(cctx, l, func(counter int64) error {
			return s.table.checkpoint(cctx, l.key, s.worker, counter, checkpointShardEnd, 0, true)
		})
		cancel()
		if err == nil || errors.Is(err, errLeaseLost) {
			l.gone = true
			if err == nil {
				l.counter++
				s.m.checkpoints.WithLabelValues("written").Inc()
			}
		}
		l.mu.Unlock()
		switch {
		case err == nil:
			s.dropLease(l, eventFinished)
			s.log.Info("kinesis shard finished", "stream", l.stream.name, "shard", l.shard, "checkpoint", checkpointShardEnd)
			if s.hooks.shardEnd != nil {
				s.hooks.shardEnd(l.stream.name, l.shard)
			}
			select { // its children may have leases to create, and to take
			case s.syncNow <- struct{}{}:
			default:
			}
			return nil
		case errors.Is(err, errLeaseLost):
			s.m.checkpoints.WithLabelValues("lost").Inc()
			s.dropLease(l, eventLost)
			return err
		}
		s.m.checkpoints.WithLabelValues("error").Inc()
		s.log.Warn("kinesis: cannot mark a shard finished; will retry", "lease", l.key, "err", err)
		if s.clock.Sleep(ctx, b.next()) != nil {
			return err
		}
	}
}

// dropLease forgets a lease: its reader stops, its gauges go.
func (s *Source) dropLease(l *lease, event string) {
	s.mu.Lock()
	_, ok := s.held[l.key]
	delete(s.held, l.key)
	s.mu.Unlock()
	l.cancel()
	if !ok {
		return
	}
	s.m.leases.WithLabelValues(l.stream.name).Dec()
	s.m.behind.DeleteLabelValues(l.stream.name, l.shard)
	s.m.events.WithLabelValues(event).Inc()
	if event == eventLost {
		// Usually another worker took its share (a steal) or took over after a pause
		// longer than lease_duration; the new owner reads on from the checkpoint.
		s.log.Info("kinesis shard lease lost; reading stopped", "stream", l.stream.name, "shard", l.shard, "worker", s.worker)
	}
}
