package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/sinks/opensearch"
)

// transition is one breaker state change, with the bulk requests sent so far.
type transition struct {
	from, to string
	at       time.Time
	requests float64
}

// sumMetric sums a counter or gauge family over its series, or over those whose label has
// value when label is given.
func sumMetric(reg prometheus.Gatherer, name, label, value string) float64 {
	mfs, _ := reg.Gather()
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			if match {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestBreakerOutageHoldsAndRecovers puts toxiproxy, in process on loopback, between weir and
// the real node and takes the node away for 30 s (8 s in CI) while a client keeps sending:
// the breaker opens, the HTTP source answers 503 with Retry-After and /readyz fails, no bulk
// request is started while it is open (only GET / probes), and after the node is back the
// breaker closes and every accepted document is indexed exactly once.
func TestBreakerOutageHoldsAndRecovers(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	up, err := url.Parse(osURL)
	require.NoError(t, err)
	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	proxy := toxiproxy.NewProxy(tp, "opensearch", "127.0.0.1:0", up.Host)
	require.NoError(t, proxy.Start())
	t.Cleanup(proxy.Stop)
	proxyURL := "http://" + proxy.Listen

	node := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-breaker")
	defer node.do("DELETE", "/"+index, nil)
	cfg := testConfig(t, proxyURL, "async")
	cfg.Pipeline.IDField = "id" // a request cut by the outage may have been indexed: resent, it overwrites
	cfg.OpenSearch.FlushDocuments = 200
	cfg.OpenSearch.RequestTimeout = 5 * time.Second
	cfg.OpenSearch.Retry.MaxBackoff = 500 * time.Millisecond
	cfg.OpenSearch.Breaker.CoolDown = time.Second
	d, base := startDaemon(t, cfg)
	ctrl := "http://" + d.ctrl.Addr()

	var (
		mu          sync.Mutex
		transitions []transition
	)
	d.sink.Breaker().OnStateChange(func(from, to string) {
		// Runs inside the transition: reading the registry is fine, calling the breaker is not.
		tr := transition{from: from, to: to, at: time.Now(), requests: sumMetric(d.reg, "weir_bulk_requests_total", "", "")}
		mu.Lock()
		transitions = append(transitions, tr)
		mu.Unlock()
	})

	// The client: 100 documents a request, the same ones again after a 429 or a 503.
	var accepted, refused atomic.Int64
	var retryAfter atomic.Value
	stop := make(chan struct{})
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		for next := 0; ; {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Post(base+"/v1/ingest/"+index, "application/x-ndjson", bytes.NewReader(ndjson(next, 100, true)))
			if err != nil {
				t.Errorf("post: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusAccepted:
				accepted.Add(100)
				next += 100
				time.Sleep(20 * time.Millisecond)
			case http.StatusServiceUnavailable, http.StatusTooManyRequests:
				if resp.StatusCode == http.StatusServiceUnavailable {
					refused.Add(1)
					retryAfter.Store(resp.Header.Get("Retry-After"))
				}
				time.Sleep(100 * time.Millisecond)
			default:
				t.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	}()

	time.Sleep(2 * time.Second)
	require.Positive(t, accepted.Load())
	outage := time.Duration(testenv.Size(30, 8)) * time.Second
	down := time.Now()
	proxy.Stop()
	require.Eventually(t, func() bool { return d.sink.Breaker().State() != opensearch.BreakerClosed }, 15*time.Second, 10*time.Millisecond,
		"the breaker opens during the outage")
	openedAfter := time.Since(down)

	// While open: the HTTP source refuses with 503 and Retry-After, and weir is not ready.
	resp, err := http.Post(base+"/v1/ingest/"+index, "application/x-ndjson", bytes.NewReader(ndjson(1_000_000, 1, true)))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(body), "opensearch circuit open")
	resp, err = http.Get(ctrl + "/readyz")
	require.NoError(t, err)
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, ready.Checks["opensearch_circuit"], "circuit breaker is")

	time.Sleep(time.Until(down.Add(outage)))
	require.NoError(t, proxy.Start())
	back := time.Now()
	require.Eventually(t, func() bool { return d.sink.Breaker().State() == opensearch.BreakerClosed }, 15*time.Second, 10*time.Millisecond,
		"the breaker closes once the node is back")
	closedAfter := time.Since(back)
	time.Sleep(time.Second) // the client is accepted again
	close(stop)
	<-clientDone

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	undelivered, err := d.shutdown(ctx)
	require.NoError(t, err)
	require.Zero(t, undelivered)
	assert.EqualValues(t, accepted.Load(), node.count(index), "every accepted document exactly once")
	if dead, err := os.ReadFile(cfg.DeadLetter.Path); err == nil {
		assert.Empty(t, dead, "nothing dead-lettered")
	}
	assert.Positive(t, refused.Load(), "the client was told to come back while the circuit was open")
	assert.Equal(t, "1", retryAfter.Load())

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, transitions)
	first, last := transitions[0], transitions[len(transitions)-1]
	assert.Equal(t, [2]string{opensearch.BreakerClosed, opensearch.BreakerOpen}, [2]string{first.from, first.to})
	assert.Equal(t, [2]string{opensearch.BreakerHalfOpen, opensearch.BreakerClosed}, [2]string{last.from, last.to})
	probes := 0
	for _, tr := range transitions {
		if tr.to == opensearch.BreakerHalfOpen {
			probes++
		}
	}
	// Requests counted between opening and closing are those already in flight when it
	// opened (each ends as one error): none is started while it is open.
	whileOpen := last.requests - first.requests
	assert.LessOrEqual(t, whileOpen, float64(cfg.OpenSearch.MaxInFlight), "no bulk request is started while open")
	assert.GreaterOrEqual(t, sumMetric(d.reg, "weir_breaker_transitions_total", "to", "open"), 1.0)
	assert.GreaterOrEqual(t, sumMetric(d.reg, "weir_breaker_transitions_total", "to", "closed"), 1.0)
	t.Logf("outage %s: opened after %s, closed %s after the node was back; %d probes; %.0f bulk requests finished while open; "+
		"%d client requests refused with 503; %d documents accepted and indexed once",
		outage, openedAfter.Round(time.Millisecond), closedAfter.Round(time.Millisecond), probes, whileOpen, refused.Load(), accepted.Load())
}
