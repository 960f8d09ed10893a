package httpsource

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

// TestFullQueueWaitsBrieflyBeforeReading: a request that finds the queue full waits for
// room (up to maxReserveWait) before its body is read, and is accepted when room frees in
// time, instead of being read, framed and refused with 429.
func TestFullQueueWaitsBrieflyBeforeReading(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	e := newEnv(t, envOpts{
		target: &fakeTarget{gate: gate},
		pcfg:   func(c *pipeline.Config) { c.QueueBytes = 1 << 20 },
	})
	doc := `{"pad":"` + strings.Repeat("x", 1000) + `"}` + "\n"
	body := strings.Repeat(doc, 600) // ~600KB: one fits in the 1MiB queue, two do not
	r := post(t, e.base+"/v1/ingest", body)
	require.Equal(t, 202, r.status, "%s", r.body)

	// The target lets the first request's documents go 40 ms after the second arrives.
	go func() {
		time.Sleep(40 * time.Millisecond)
		close(gate)
	}()
	start := time.Now()
	r = post(t, e.base+"/v1/ingest", body)
	require.Equal(t, 202, r.status, "%s", r.body)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "it waited for room")
	assert.Less(t, time.Since(start), maxReserveWait+time.Second)
}

// TestReservationEstimate: the reservation covers the body and its records' overhead as
// estimated from the last body's document size, so that a similar body needs no more room.
func TestReservationEstimate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	doc := `{"pad":"` + strings.Repeat("x", 1000) + `"}` + "\n"
	for range 3 {
		r := post(t, e.base+"/v1/ingest", strings.Repeat(doc, 100))
		require.Equal(t, 202, r.status, "%s", r.body)
	}
	assert.InDelta(t, len(doc), e.src.docBytes.Load(), 2, "the mean document size of the last body")
}
