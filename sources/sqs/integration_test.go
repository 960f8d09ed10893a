package sqs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
	"github.com/weir-ingest/weir/sinks/opensearch"
	"github.com/weir-ingest/weir/sources/sqs"
	"github.com/weir-ingest/weir/sources/sqs/sqstest"
)

// stack is weir's delivery path in-process: dead-letter file, OpenSearch sink, pipeline and
// the SQS source, started and stopped in the daemon's order.
type stack struct {
	src     *sqs.Source
	pipe    *pipeline.Pipeline
	sink    *opensearch.Sink
	dlq     *deadletter.File
	reg     *prometheus.Registry
	dlqPath string
}

func logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startStack(t testing.TB, e *sqstest.Env, osURL, index string, cfg sqs.Config) *stack {
	t.Helper()
	ctx := context.Background()
	log := logger()
	st := &stack{reg: prometheus.NewRegistry(), dlqPath: filepath.Join(t.TempDir(), "dead.ndjson")}
	dcfg := deadletter.DefaultConfig()
	dcfg.Path = st.dlqPath
	var err error
	st.dlq, err = deadletter.NewFile(dcfg, deadletter.WithLogger(log))
	require.NoError(t, err)
	require.NoError(t, st.dlq.Start(ctx))
	ocfg := opensearch.DefaultConfig()
	ocfg.URLs = []string{osURL}
	ocfg.FlushInterval = 200 * time.Millisecond
	ocfg.Retry.MaxBackoff = 2 * time.Second
	st.sink, err = opensearch.New(ocfg, opensearch.WithDeadLetter(st.dlq), opensearch.WithLogger(log))
	require.NoError(t, err)
	require.NoError(t, st.sink.Start(ctx))
	// As the daemon does: sources hold off while the circuit is open.
	st.sink.Breaker().OnStateChange(func(_, to string) {
		switch to {
		case opensearch.BreakerOpen:
			st.pipe.Pause("opensearch circuit open")
		case opensearch.BreakerClosed:
			st.pipe.Resume()
		}
	})
	pcfg := pipeline.DefaultConfig()
	pcfg.Index = index
	st.pipe, err = pipeline.New(pcfg, st.sink, st.dlq, pipeline.WithLogger(log))
	require.NoError(t, err)
	require.NoError(t, st.pipe.Start(ctx))
	st.src, err = sqs.New(cfg, st.pipe, st.dlq, e.AWS, sqs.WithLogger(log), sqs.WithRegisterer(st.reg))
	require.NoError(t, err)
	require.NoError(t, st.src.Start(ctx))
	if testing.Verbose() {
		done := make(chan struct{})
		t.Cleanup(func() { close(done) })
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Second):
				}
				t.Logf("progress: received %.0f deleted %.0f in flight %.0f documents %.0f objects %.0f empty %.0f extended %.0f",
					st.metric("weir_sqs_messages_received_total"), st.metric("weir_sqs_messages_deleted_total"),
					st.metric("weir_sqs_messages_in_flight"), st.metric("weir_sqs_documents_total"),
					st.metric("weir_sqs_s3_objects_total"), st.metric("weir_sqs_empty_receives_total"), st.metric("weir_sqs_visibility_extended_total"))
			}
		}()
	}
	return st
}

func (st *stack) stop(t testing.TB, timeout time.Duration) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	assert.NoError(t, st.src.Shutdown(ctx))
	_ = st.pipe.Shutdown(ctx)
	_ = st.sink.Shutdown(ctx)
	_ = st.dlq.Shutdown(ctx)
	return st.pipe.Undelivered()
}

func (st *stack) metric(name string) float64 {
	mfs, _ := st.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return sum
		}
	}
	return 0
}

func sourceConfig(queueURL string) sqs.Config {
	cfg := sqs.DefaultConfig()
	cfg.QueueURL = queueURL
	cfg.WaitTime = time.Second
	return cfg
}

// TestMixedMessagesExactlyOnce: 20,000 messages (3,000 in CI) of every kind, S3 objects
// included, end up as documents indexed exactly once, and the queue ends empty.
func TestMixedMessagesExactlyOnce(t *testing.T) {
	e := sqstest.New(t)
	queue, bucket, index := e.Queue(30*time.Second), e.Bucket(), e.Index()
	w := sqstest.Mixed(bucket, testenv.Size(20_000, 3_000), 0)
	// Messages are sent while weir consumes, as in production: moto scans its whole queue on
	// every receive and delete, so a queue preloaded with all of them would measure moto.
	start := time.Now()
	st := startStack(t, e, e.OS, index, sourceConfig(queue))
	require.NoError(t, e.LoadStreaming(queue, bucket, w, 60))
	loaded := time.Since(start)
	e.WaitDone(queue, index, w.Docs, sqstest.Patience(len(w.Bodies)))
	took := time.Since(start)
	require.Zero(t, st.stop(t, 30*time.Second))
	e.CheckExactlyOnce(index, w.Docs)
	assert.Equal(t, 0, e.Depth(queue))
	// At least once: a message moto hands out again (its visibility ran out while moto was
	// slow to answer) is deleted twice, its documents written twice under the same ids.
	assert.GreaterOrEqual(t, st.metric("weir_sqs_messages_deleted_total"), float64(len(w.Bodies)))
	assert.GreaterOrEqual(t, st.metric("weir_sqs_s3_objects_total"), float64(len(w.Objects)))
	assert.EqualValues(t, 0, st.metric("weir_sqs_messages_in_flight"))
	t.Logf("%d messages (%d S3 objects) → %d documents in %s: %.0f messages/s, %.0f documents/s (sending to moto took %s)",
		len(w.Bodies), len(w.Objects), w.Docs, took.Round(time.Millisecond),
		float64(len(w.Bodies))/took.Seconds(), float64(w.Docs)/took.Seconds(), loaded.Round(time.Millisecond))

	// The id of a single-document message is its position id: a redelivery overwrites it.
	st0, out := e.Do("POST", "/"+index+"/_search", map[string]any{"query": map[string]any{"term": map[string]any{"n": 0}}})
	require.Equal(t, 200, st0)
	hits := out["hits"].(map[string]any)["hits"].([]any)
	require.Len(t, hits, 1)
	assert.Len(t, hits[0].(map[string]any)["_id"], 16+len("0"))
}

// TestPoisonMessagesAreDeadLetteredAndDoNotBlock: invalid JSON, a missing S3 key and an
// object named .gz that is not gzip end in the dead-letter file with their reasons; the
// good messages around them are indexed and every message is deleted.
func TestPoisonMessagesAreDeadLetteredAndDoNotBlock(t *testing.T) {
	e := sqstest.New(t)
	queue, bucket, index := e.Queue(30*time.Second), e.Bucket(), e.Index()
	w := sqstest.Mixed(bucket, 200, 0)
	e.Load(queue, bucket, w)
	e.PutObject(bucket, "bad/not-gzip.ndjson.gz", []byte("{\"n\":-1}\n"))
	e.SendBodies(queue, []string{
		`{"n": broken`,
		sqstest.S3Event(bucket, "bad/missing key.ndjson"),
		sqstest.Envelope(sqstest.S3Event(bucket, "bad/not-gzip.ndjson.gz")),
	})
	st := startStack(t, e, e.OS, index, sourceConfig(queue))
	e.WaitDone(queue, index, w.Docs, 2*time.Minute)
	require.Zero(t, st.stop(t, 30*time.Second))
	e.CheckExactlyOnce(index, w.Docs)

	f, err := os.Open(st.dlqPath)
	require.NoError(t, err)
	defer f.Close()
	reasons := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		reasons[l["reason"].(string)] = l["key"].(string) + " " + l["error"].(string)
	}
	require.Len(t, reasons, 3, "%v", reasons)
	assert.Contains(t, reasons["invalid_message"], "ApproximateReceiveCount 1")
	assert.Contains(t, reasons["s3_object_missing"], "s3://"+bucket+"/bad/missing key.ndjson")
	assert.Contains(t, reasons["invalid_gzip"], "not-gzip.ndjson.gz")
	assert.EqualValues(t, 3, st.metric("weir_sqs_messages_dead_lettered_total"))
}

// proxy is a TCP proxy to OpenSearch that the test takes down and brings back.
type proxy struct {
	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start() {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
}

func (p *proxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// TestOpenSearchDownDeletesNothingUntilIndexed: while the node is unreachable no message is
// deleted (their visibility is extended instead); after it comes back every document is
// indexed once and the queue is emptied.
func TestOpenSearchDownDeletesNothingUntilIndexed(t *testing.T) {
	e := sqstest.New(t)
	queue, bucket, index := e.Queue(6*time.Second), e.Bucket(), e.Index()
	px := newProxy(t, e.OS[len("http://"):])
	cfg := sourceConfig(queue)
	st := startStack(t, e, "http://"+px.addr, index, cfg)

	first := sqstest.Mixed(bucket, 200, 0)
	e.Load(queue, bucket, first)
	e.WaitDone(queue, index, first.Docs, time.Minute)
	deletedBefore := st.metric("weir_sqs_messages_deleted_total")

	px.stop()
	// The rest of the documents are numbered after the first batch's.
	second := sqstest.Mixed(bucket, 200, first.Docs)
	e.Load(queue, bucket, second)
	time.Sleep(15 * time.Second) // more than twice the visibility timeout
	assert.Equal(t, deletedBefore, st.metric("weir_sqs_messages_deleted_total"), "nothing deleted while the node is down")
	assert.Equal(t, first.Docs, e.Count(index))
	assert.Positive(t, st.metric("weir_sqs_visibility_extended_total"), "messages in flight were kept invisible")
	assert.GreaterOrEqual(t, e.Depth(queue), len(second.Bodies), "every message of the outage is still in the queue")

	px.start()
	e.WaitDone(queue, index, first.Docs+second.Docs, 2*time.Minute)
	require.Zero(t, st.stop(t, 30*time.Second))
	e.CheckExactlyOnce(index, first.Docs+second.Docs)
}

// benchmarkSQS measures moto → weir → target for b.N messages of the mixed workload (2.5
// documents a message, one in ten naming a gzip S3 object). Messages are sent while weir
// consumes, keeping moto's queue shallow (its calls slow down with depth); the figure is
// therefore bounded by moto, which handles a few hundred calls a second at best.
func benchmarkSQS(b *testing.B, osURL func(e *sqstest.Env) string) {
	e := sqstest.New(b)
	queue, bucket, index := e.Queue(60*time.Second), e.Bucket(), e.Index()
	w := sqstest.Mixed(bucket, b.N, 0)
	e.PutObjects(bucket, w)
	b.ResetTimer()
	start := time.Now()
	st := startStack(b, e, osURL(e), index, sourceConfig(queue))
	e.Stream(queue, w.Bodies, 60)
	deadline := time.Now().Add(sqstest.Patience(b.N))
	for st.metric("weir_sqs_messages_deleted_total") < float64(len(w.Bodies)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	require.Zero(b, st.stop(b, 30*time.Second))
	b.ReportMetric(float64(len(w.Bodies))/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(w.Docs)/took.Seconds(), "docs/s")
}

func BenchmarkMotoToNullBulk(b *testing.B) {
	srv := httptest.NewServer(nullbulk.New(nullbulk.WithCompact()))
	defer srv.Close()
	benchmarkSQS(b, func(*sqstest.Env) string { return srv.URL })
}

func BenchmarkMotoToOpenSearch(b *testing.B) {
	benchmarkSQS(b, func(e *sqstest.Env) string { return e.OS })
}
