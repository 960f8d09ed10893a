package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// funcTarget finishes records with whatever fn decides, or holds them when fn is nil.
type funcTarget struct {
	mu   sync.Mutex
	held []*Record
	fn   func(*Record) Result
	got  atomic.Int64
}

func (t *funcTarget) Add(ctx context.Context, r *Record) error {
	t.got.Add(1)
	if t.fn != nil {
		r.Finish(t.fn(r))
		return nil
	}
	t.mu.Lock()
	t.held = append(t.held, r)
	t.mu.Unlock()
	return nil
}

func (t *funcTarget) release(res Result) int {
	t.mu.Lock()
	h := t.held
	t.held = nil
	t.mu.Unlock()
	for _, r := range h {
		r.Finish(res)
	}
	return len(h)
}

type memDLQ struct {
	mu      sync.Mutex
	letters []DeadLetter
	err     error
}

func (d *memDLQ) WriteDeadLetters(_ context.Context, l []DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	for _, x := range l {
		x.Doc = append([]byte(nil), x.Doc...)
		d.letters = append(d.letters, x)
	}
	return nil
}

func indexed(*Record) Result { return Result{Outcome: Indexed, Status: 201} }

func testConfig() Config {
	c := DefaultConfig()
	c.Workers = 2
	c.QueueBytes = 1 << 20
	c.Index = "test-%{yyyy.MM.dd}"
	c.IDField = "id"
	return c
}

func newTest(t *testing.T, cfg Config, tgt Target, dlq DeadLetterSink) *Pipeline {
	t.Helper()
	p, err := New(cfg, tgt, dlq, WithClock(func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func records(docs ...string) []Record {
	recs := make([]Record, len(docs))
	for i, d := range docs {
		recs[i] = Record{Doc: []byte(d), Source: "test", Key: "m1", Offset: int64(i)}
	}
	return recs
}

func TestAckFiresOnceAfterAllRecordsAndSeal(t *testing.T) {
	t.Parallel()
	tgt := &funcTarget{fn: indexed}
	dlq := &memDLQ{}
	p := newTest(t, testConfig(), tgt, dlq)

	var calls atomic.Int32
	done := make(chan *Ack, 1)
	ack := NewTrackedAck(3, func(a *Ack) { calls.Add(1); done <- a })
	require.NoError(t, p.Submit(context.Background(), ack, records(`{"id":"a"}`, `{not json`, `{"id":7,"@timestamp":"2020-01-02T03:04:05Z"}`), 0))
	ack.Seal()
	a := <-done
	i, d, u := a.Counts()
	assert.Equal(t, [3]int64{2, 1, 0}, [3]int64{i, d, u})
	assert.True(t, a.Delivered())
	res := a.Results()
	assert.Equal(t, Indexed, res[0].Outcome)
	assert.Equal(t, DeadLettered, res[1].Outcome)
	assert.Equal(t, "invalid_json", res[1].Reason)
	assert.Equal(t, Indexed, res[2].Outcome)
	time.Sleep(10 * time.Millisecond)
	assert.EqualValues(t, 1, calls.Load())
	require.Len(t, dlq.letters, 1)
	assert.Equal(t, "m1", dlq.letters[0].Key)
	assert.EqualValues(t, 1, dlq.letters[0].Offset)
	assert.Equal(t, `{not json`, string(dlq.letters[0].Doc))
	assert.Zero(t, p.QueuedBytes(), "bytes are released when the last record finishes")
}

func TestRouteSetsIndexIDAndTime(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[int64]Record{}
	tgt := &funcTarget{fn: func(r *Record) Result {
		mu.Lock()
		seen[r.Offset] = *r
		mu.Unlock()
		return Result{Outcome: Indexed}
	}}
	p := newTest(t, testConfig(), tgt, &memDLQ{})
	done := make(chan struct{})
	ack := NewAck(func(*Ack) { close(done) })
	recs := records(
		`{"id":"abc","@timestamp":"2024-02-29T23:59:59Z"}`,
		`{"msg":"no id, no time"}`,
		`{"id":12345}`,
	)
	recs = append(recs, Record{Doc: []byte(`{"a":1}`), Index: "explicit", ID: []byte("given"), Source: "test", Offset: 3})
	require.NoError(t, p.Submit(context.Background(), ack, recs, 0))
	ack.Seal()
	<-done
	assert.Equal(t, "test-2024.02.29", seen[0].Index)
	assert.Equal(t, "abc", string(seen[0].ID))
	assert.Equal(t, "test-2026.11.25", seen[1].Index, "ingest time when the document has none")
	assert.Nil(t, seen[1].ID)
	assert.Equal(t, "12345", string(seen[2].ID))
	assert.Equal(t, "explicit", seen[3].Index)
	assert.Equal(t, "given", string(seen[3].ID))
}

func TestInvalidIndexAndIDAreDeadLettered(t *testing.T) {
	t.Parallel()
	dlq := &memDLQ{}
	p := newTest(t, testConfig(), &funcTarget{fn: indexed}, dlq)
	done := make(chan *Ack, 1)
	ack := NewTrackedAck(2, func(a *Ack) { done <- a })
	recs := []Record{
		{Doc: []byte(`{"x":1}`), Index: "Bad Index", Source: "test"},
		{Doc: []byte(`{"id":{"nested":true}}`), Source: "test"},
	}
	require.NoError(t, p.Submit(context.Background(), ack, recs, 0))
	ack.Seal()
	a := <-done
	assert.Equal(t, "invalid_index", a.Results()[0].Reason)
	assert.Equal(t, "invalid_id", a.Results()[1].Reason)
}

func TestTrySubmitRefusesWhenFullAndReleasesOnFinish(t *testing.T) {
	t.Parallel()
	tgt := &funcTarget{} // holds everything
	cfg := testConfig()
	p := newTest(t, cfg, tgt, &memDLQ{})
	doc := make([]byte, 300<<10)
	copy(doc, `{"pad":"`)
	for i := 8; i < len(doc)-2; i++ {
		doc[i] = 'x'
	}
	copy(doc[len(doc)-2:], `"}`)
	submit := func() error {
		ack := NewAck(nil)
		err := p.TrySubmit(ack, []Record{{Doc: doc, Source: "test"}}, 0)
		ack.Seal()
		return err
	}
	require.NoError(t, submit())
	require.NoError(t, submit())
	require.NoError(t, submit())
	assert.ErrorIs(t, submit(), ErrQueueFull)
	require.Eventually(t, func() bool { return tgt.got.Load() == 3 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 3, tgt.release(Result{Outcome: Indexed}))
	assert.NoError(t, submit(), "finishing records frees their bytes")

	big := NewAck(nil)
	err := p.TrySubmit(big, []Record{{Doc: make([]byte, 2<<20), Source: "test"}}, 0)
	assert.ErrorIs(t, err, ErrTooLarge)
}

func TestSubmitWaitsForRoom(t *testing.T) {
	t.Parallel()
	tgt := &funcTarget{}
	p := newTest(t, testConfig(), tgt, &memDLQ{})
	doc := []byte(`{"a":1}`)
	require.NoError(t, p.Submit(context.Background(), NewAck(nil), []Record{{Doc: doc, Source: "t"}}, 900<<10))
	errc := make(chan error, 1)
	go func() {
		errc <- p.Submit(context.Background(), NewAck(nil), []Record{{Doc: doc, Source: "t"}}, 200<<10)
	}()
	select {
	case err := <-errc:
		t.Fatalf("Submit returned %v while the queue was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.Eventually(t, func() bool { return tgt.got.Load() == 1 }, 5*time.Second, time.Millisecond)
	tgt.release(Result{Outcome: Indexed})
	require.NoError(t, <-errc)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Submit(ctx, NewAck(nil), []Record{{Doc: doc, Source: "t"}}, 900<<10)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestShutdownDeadlineCountsUndelivered(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	var got atomic.Int64
	tgt := targetFunc(func(ctx context.Context, r *Record) error {
		got.Add(1)
		select {
		case <-block:
			r.Finish(Result{Outcome: Indexed})
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	cfg := testConfig()
	cfg.Workers = 1
	p, err := New(cfg, tgt, &memDLQ{})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	var acks []*Ack
	for i := range 10 {
		a := NewAck(nil)
		require.NoError(t, p.Submit(context.Background(), a, records(fmt.Sprintf(`{"n":%d}`, i), `{"m":1}`), 0))
		a.Seal()
		acks = append(acks, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 20, p.Undelivered(), "every accepted record is accounted for")
	for _, a := range acks {
		assert.False(t, a.Delivered())
	}
	assert.ErrorIs(t, p.TrySubmit(NewAck(nil), records(`{}`), 0), ErrClosed)
	assert.NoError(t, p.Shutdown(context.Background()), "second Shutdown is a no-op")
	close(block)
}

func TestShutdownWithoutStartAndTwice(t *testing.T) {
	t.Parallel()
	p, err := New(testConfig(), &funcTarget{fn: indexed}, &memDLQ{})
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestDeadLetterFailureLeavesRecordUndelivered(t *testing.T) {
	t.Parallel()
	dlq := &memDLQ{err: errors.New("disk full")}
	p := newTest(t, testConfig(), &funcTarget{fn: indexed}, dlq)
	done := make(chan *Ack, 1)
	ack := NewAck(func(a *Ack) { done <- a })
	require.NoError(t, p.Submit(context.Background(), ack, records(`nope`), 0))
	ack.Seal()
	a := <-done
	assert.False(t, a.Delivered(), "a document that could not be dead-lettered must stay at its source")
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	p := newTest(t, testConfig(), &funcTarget{fn: indexed}, &memDLQ{})
	p.Pause("breaker open")
	paused, why := p.Paused()
	assert.True(t, paused)
	assert.Equal(t, "breaker open", why)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	assert.Error(t, p.WaitResumed(ctx))
	go func() { time.Sleep(5 * time.Millisecond); p.Resume() }()
	assert.NoError(t, p.WaitResumed(context.Background()))
}

func TestConfigValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := Config{Workers: 0, QueueBytes: 10, DrainTimeout: 0, Index: "Bad%{zz}", Op: "upsert"}
	err := c.Validate()
	require.Error(t, err)
	for _, key := range []string{"workers:", "queue_bytes:", "drain_timeout:", "index:", "op:"} {
		assert.Contains(t, err.Error(), key)
	}
}

func TestIndexTemplate(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	for _, tc := range []struct{ in, want, err string }{
		{in: "logs", want: "logs"},
		{in: "logs-%{yyyy.MM.dd}", want: "logs-2026.01.02"},
		{in: "logs-%{yy-MM}-x-%{HH}", want: "logs-26-01-x-03"},
		{in: "logs-%{yyyy", err: "unclosed"},
		{in: "logs-%{qq}", err: "unknown date token"},
		{in: "Logs", err: "lowercase"},
		{in: "_x", err: "must not start"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			tmpl, err := ParseIndexTemplate(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, tmpl.Resolve(ts))
			assert.Equal(t, tc.want, tmpl.Resolve(ts), "cached")
		})
	}
}

type targetFunc func(ctx context.Context, r *Record) error

func (f targetFunc) Add(ctx context.Context, r *Record) error { return f(ctx, r) }

func TestSourceGivenIndexTemplateIsResolved(t *testing.T) {
	t.Parallel()
	var got atomic.Pointer[string]
	tgt := &funcTarget{fn: func(r *Record) Result { s := r.Index; got.Store(&s); return Result{Outcome: Indexed} }}
	p := newTest(t, testConfig(), tgt, &memDLQ{})
	done := make(chan *Ack, 1)
	ack := NewTrackedAck(2, func(a *Ack) { done <- a })
	recs := []Record{
		{Doc: []byte(`{"@timestamp":"2025-03-04T00:00:00Z"}`), Index: "app-%{yyyy.MM}", Source: "t"},
		{Doc: []byte(`{}`), Index: "app-%{nope}", Source: "t", Offset: 1},
	}
	require.NoError(t, p.Submit(context.Background(), ack, recs, 0))
	ack.Seal()
	a := <-done
	assert.Equal(t, "app-2025.03", *got.Load())
	assert.Equal(t, "invalid_index", a.Results()[1].Reason)
}

type idleTarget struct {
	funcTarget
	idles atomic.Int64
}

func (t *idleTarget) FlushIdle() { t.idles.Add(1) }

func TestWorkersFlushIdleTargetWhenQueueRunsDry(t *testing.T) {
	t.Parallel()
	tgt := &idleTarget{funcTarget: funcTarget{fn: indexed}}
	p := newTest(t, testConfig(), tgt, &memDLQ{})
	done := make(chan struct{})
	ack := NewAck(func(*Ack) { close(done) })
	require.NoError(t, p.Submit(context.Background(), ack, records(`{"a":1}`), 0))
	ack.Seal()
	<-done
	require.Eventually(t, func() bool { return tgt.idles.Load() >= 1 }, 5*time.Second, time.Millisecond)
}

// batchTarget takes at most take records per AddBatch call and refuses the rest, as a sink
// whose context ended mid-chunk does.
type batchTarget struct {
	funcTarget
	take  int
	calls atomic.Int32
}

func (t *batchTarget) AddBatch(ctx context.Context, recs []*Record) (int, error) {
	t.calls.Add(1)
	n := min(t.take, len(recs))
	for _, r := range recs[:n] {
		_ = t.funcTarget.Add(ctx, r)
	}
	if n < len(recs) {
		return n, context.Canceled
	}
	return n, nil
}

func TestBatchTargetGetsAChunkAtOnceAndWhatItRefusesIsUndelivered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		take                    int
		indexed, dead, undelivd int64
	}{
		{"all taken", 10, 2, 1, 0},
		{"one taken, one refused", 1, 1, 1, 1},
		{"none taken", 0, 0, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tgt := &batchTarget{funcTarget: funcTarget{fn: indexed}, take: tt.take}
			p := newTest(t, testConfig(), tgt, &memDLQ{})
			done := make(chan *Ack, 1)
			ack := NewTrackedAck(3, func(a *Ack) { done <- a })
			require.NoError(t, p.Submit(context.Background(), ack, records(`{"a":1}`, `{bad`, `{"a":2}`), 0))
			ack.Seal()
			a := <-done
			i, d, u := a.Counts()
			assert.Equal(t, [3]int64{tt.indexed, tt.dead, tt.undelivd}, [3]int64{i, d, u})
			assert.EqualValues(t, 1, tgt.calls.Load(), "one call for the chunk")
			assert.Zero(t, tgt.got.Load()-int64(min(tt.take, 2)), "Add is not called beside AddBatch")
			if u > 0 {
				assert.Equal(t, "shutdown", a.Results()[2].Reason)
			}
		})
	}
}

// TestFinishAllCountsRunsOfOneSubmission: records of two messages, interleaved in runs as a
// batch holds them, finish with one call; each Ack fires once with its own counts and
// results, and the queue's bytes come back.
func TestFinishAllCountsRunsOfOneSubmission(t *testing.T) {
	t.Parallel()
	tgt := &funcTarget{}
	p := newTest(t, testConfig(), tgt, &memDLQ{})
	var fired [2]atomic.Int32
	done := make(chan *Ack, 2)
	acks := [2]*Ack{
		NewTrackedAck(3, func(a *Ack) { fired[0].Add(1); done <- a }),
		NewTrackedAck(2, func(a *Ack) { fired[1].Add(1); done <- a }),
	}
	require.NoError(t, p.Submit(context.Background(), acks[0], records(`{"a":1}`, `{"a":2}`, `{"a":3}`), 0))
	require.NoError(t, p.Submit(context.Background(), acks[1], records(`{"b":1}`, `{"b":2}`), 0))
	acks[0].Seal()
	acks[1].Seal()
	require.Eventually(t, func() bool { return tgt.got.Load() == 5 }, 5*time.Second, time.Millisecond)
	tgt.mu.Lock()
	held := tgt.held
	tgt.mu.Unlock()
	// Runs a a b b a, and one record already finished on its own.
	var order []*Record
	for _, key := range []string{"a", "a", "b", "b", "a"} {
		for i, r := range held {
			if r != nil && string(r.Doc[2]) == key {
				order = append(order, r)
				held[i] = nil
				break
			}
		}
	}
	require.Len(t, order, 5)
	order[4].Finish(Result{Outcome: DeadLettered, Reason: "x"})
	FinishAll(order, Result{Outcome: Indexed, Status: 201})
	for range 2 {
		a := <-done
		i, d, u := a.Counts()
		if a == acks[0] {
			assert.Equal(t, [3]int64{2, 1, 0}, [3]int64{i, d, u})
		} else {
			assert.Equal(t, [3]int64{2, 0, 0}, [3]int64{i, d, u})
			assert.Equal(t, []Result{{Outcome: Indexed, Status: 201}, {Outcome: Indexed, Status: 201}}, a.Results())
		}
	}
	assert.EqualValues(t, 1, fired[0].Load())
	assert.EqualValues(t, 1, fired[1].Load())
	assert.Zero(t, p.QueuedBytes())
}
