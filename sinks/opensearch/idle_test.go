package opensearch

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/pipeline"
)

// TestFlushIdleSendsAtOnceWithAFreeSlot: a half-empty batch goes out when the pipeline says
// it is idle, instead of waiting for flush_interval.
func TestFlushIdleSendsAtOnceWithAFreeSlot(t *testing.T) {
	t.Parallel()
	null := nullbulk.New()
	srv := httptest.NewServer(null)
	defer srv.Close()
	h := newHarness(t, srv.URL, 3, func(c *Config) { c.FlushInterval = time.Hour })
	h.add(t, records("idle", 3)...)
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, null.Documents(), "nothing is sent before the batch is full, old or idle")
	start := time.Now()
	h.sink.FlushIdle()
	h.out.wait(t, 5*time.Second)
	assert.Equal(t, 3, h.out.count(pipeline.Indexed))
	assert.Less(t, time.Since(start), 2*time.Second)
	h.sink.FlushIdle() // nothing open: a no-op
}
