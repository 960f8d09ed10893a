package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/sources/sqs/sqstest"
)

// sqsConfig is a weir configuration that reads queueURL on moto and writes to index. The
// visibility timeout is short so that what a killed weir held comes back quickly.
func sqsConfig(e *sqstest.Env, queueURL, index string) string {
	return fmt.Sprintf(`
log: {format: text, level: info}
opensearch: {urls: [%q], flush_interval: 200ms}
pipeline: {drain_timeout: 30s, index: %q}
dead_letter: {path: $DIR/dead.ndjson}
aws:
  region: us-east-1
  endpoint_url: %q
  credentials: {provider: static, access_key_id: test, secret_access_key: test}
sources:
  sqs: {enabled: true, queue_url: %q, visibility_timeout: 5s, wait_time: 1s}
control: {listen: "$CTRL"}
`, e.OS, index, e.Endpoint, queueURL)
}

// scrape reads one unlabelled metric from a weir process's /metrics.
func scrape(t testing.TB, p *process, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.ctrl + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	return 0
}

// TestSQSKilledAndRestartedLosesNothing kills weir with SIGKILL in the middle of a run and
// starts it again: what it held comes back after the visibility timeout, and every document
// ends up indexed exactly once, with the queue empty.
func TestSQSKilledAndRestartedLosesNothing(t *testing.T) {
	e := sqstest.New(t)
	queue, bucket, index := e.Queue(5*time.Second), e.Bucket(), e.Index()
	w := sqstest.Mixed(bucket, testenv.Size(10_000, 1_000), 0)
	yml := sqsConfig(e, queue, index)
	p1 := startProcess(t, yml)
	loaded := make(chan error, 1)
	go func() { loaded <- e.LoadStreaming(queue, bucket, w, 60) }()

	require.Eventually(t, func() bool { return e.Count(index) >= w.Docs/3 }, sqstest.Patience(len(w.Bodies)/3), 200*time.Millisecond)
	// Killed while it holds messages: received, not yet deleted.
	var inFlight float64
	require.Eventually(t, func() bool { inFlight = scrape(t, p1, "weir_sqs_messages_in_flight"); return inFlight > 0 },
		time.Minute, time.Millisecond)
	require.NoError(t, p1.cmd.Process.Signal(syscall.SIGKILL))
	<-p1.exited
	killedAt := e.Count(index)

	p2 := startProcess(t, yml)
	require.NoError(t, <-loaded)
	e.WaitDone(queue, index, w.Docs, sqstest.Patience(len(w.Bodies)))
	e.CheckExactlyOnce(index, w.Docs)
	assert.Equal(t, 0, e.Depth(queue))
	assert.Positive(t, scrape(t, p2, "weir_sqs_messages_deleted_total"))
	require.Equal(t, exitOK, p2.signalAndWait(t, syscall.SIGTERM, 60*time.Second), p2.out.String())
	t.Logf("killed after %d of %d documents with %.0f messages in flight; all %d indexed once after the restart",
		killedAt, w.Docs, inFlight, w.Docs)
}

// TestSQSTwoProcessesShareTheQueue: two weir processes on one queue are competing
// consumers; both do work and every document is indexed once.
func TestSQSTwoProcessesShareTheQueue(t *testing.T) {
	e := sqstest.New(t)
	queue, bucket, index := e.Queue(5*time.Second), e.Bucket(), e.Index()
	w := sqstest.Mixed(bucket, testenv.Size(10_000, 1_000), 0)
	yml := sqsConfig(e, queue, index)
	p1, p2 := startProcess(t, yml), startProcess(t, yml)
	start := time.Now()
	require.NoError(t, e.LoadStreaming(queue, bucket, w, 60))
	e.WaitDone(queue, index, w.Docs, sqstest.Patience(len(w.Bodies)))
	took := time.Since(start)
	e.CheckExactlyOnce(index, w.Docs)
	assert.Equal(t, 0, e.Depth(queue))
	d1, d2 := scrape(t, p1, "weir_sqs_messages_deleted_total"), scrape(t, p2, "weir_sqs_messages_deleted_total")
	assert.Positive(t, d1, "first process did work")
	assert.Positive(t, d2, "second process did work")
	assert.GreaterOrEqual(t, d1+d2, float64(len(w.Bodies)))
	for _, p := range []*process{p1, p2} {
		require.Equal(t, exitOK, p.signalAndWait(t, syscall.SIGTERM, 60*time.Second), p.out.String())
	}
	t.Logf("%d messages, %d documents in %s; deleted by each process: %.0f and %.0f",
		len(w.Bodies), w.Docs, took.Round(time.Millisecond), d1, d2)
}
