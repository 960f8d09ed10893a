package opensearch

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// knownReasons bounds the reason labels: OpenSearch's error types are an open set, and an
// unbounded label would grow the registry with every novel one. Anything else is "other".
var knownReasons = map[string]bool{
	// Item failures.
	"es_rejected_execution_exception":         true,
	"rejected_execution_exception":            true, // what OpenSearch 2.x says when its write queue is full
	"mapper_parsing_exception":                true,
	"document_parsing_exception":              true,
	"illegal_argument_exception":              true,
	"strict_dynamic_mapping_exception":        true,
	"version_conflict_engine_exception":       true,
	"index_not_found_exception":               true,
	"invalid_index_name_exception":            true,
	"action_request_validation_exception":     true,
	"cluster_block_exception":                 true,
	"unavailable_shards_exception":            true,
	"circuit_breaking_exception":              true,
	"node_closed_exception":                   true,
	"no_shard_available_action_exception":     true,
	"security_exception":                      true,
	"process_cluster_event_timeout_exception": true,
	"resource_already_exists_exception":       true,
	"index_closed_exception":                  true,
	"timeout_exception":                       true,
	// Whole-request failures, and weir's own.
	"network":           true,
	"timeout":           true,
	"bad_response":      true,
	"http_429":          true,
	"http_5xx":          true,
	"http_4xx":          true,
	"request_too_large": true,
	"retries_exhausted": true,
}

func boundedReason(r string) string {
	if knownReasons[r] {
		return r
	}
	return "other"
}

func boundedStatus(st int) string {
	if st >= 100 && st <= 599 {
		return strconv.Itoa(st)
	}
	return "other"
}

func statusClass(st int) string {
	switch {
	case st >= 200 && st < 300:
		return "2xx"
	case st >= 400 && st < 500:
		return "4xx"
	case st >= 500 && st < 600:
		return "5xx"
	}
	return "other"
}

type metrics struct {
	requests    *prometheus.CounterVec
	duration    prometheus.Histogram
	inFlight    prometheus.Gauge
	batchDocs   prometheus.Histogram
	batchBytes  prometheus.Histogram
	retried     *prometheus.CounterVec
	indexed     prometheus.Counter
	itemFailure *prometheus.CounterVec

	breakerState       prometheus.Gauge
	breakerTransitions *prometheus.CounterVec
	concurrencyLimit   prometheus.Gauge

	// The per-request label values are few; caching the children keeps the hot path free
	// of the label hashing WithLabelValues does.
	mu        sync.Mutex
	byClass   map[string]prometheus.Counter
	retriedBy map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_bulk_requests_total",
			Help: "Bulk requests sent to OpenSearch, by response status class (2xx, 4xx, 5xx, error for no response).",
		}, []string{"status_class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weir_bulk_request_duration_seconds",
			Help:    "Time from sending a bulk request to reading its whole answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_bulk_requests_in_flight",
			Help: "Bulk requests sent and not yet answered.",
		}),
		batchDocs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weir_batch_documents",
			Help:    "Documents per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weir_batch_bytes",
			Help:    "Encoded _bulk body size per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_documents_retried_total",
			Help: "Documents sent again, by reason (an item error type, or network, timeout, bad_response, http_429, http_5xx, http_4xx, request_too_large for whole requests).",
		}, []string{"reason"}),
		indexed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_documents_indexed_total",
			Help: "Documents OpenSearch stored (or already had, for a 409 on create).",
		}),
		itemFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_bulk_item_failures_total",
			Help: "Bulk items OpenSearch refused, by item status and error type.",
		}, []string{"status", "reason"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_breaker_state",
			Help: "The OpenSearch circuit breaker's state: 0 closed, 1 half-open, 2 open.",
		}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_breaker_transitions_total",
			Help: "Transitions of the OpenSearch circuit breaker, by the state entered (closed, half-open, open).",
		}, []string{"to"}),
		concurrencyLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_bulk_concurrency_limit",
			Help: "How many bulk requests may be in flight now: max_in_flight, or less while adaptive concurrency backs off.",
		}),
		byClass:   map[string]prometheus.Counter{},
		retriedBy: map[string]prometheus.Counter{},
	}
	// Every state starts at zero so that increase() over the first transition works.
	for _, to := range []string{BreakerClosed, BreakerHalfOpen, BreakerOpen} {
		m.breakerTransitions.WithLabelValues(to)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.inFlight, m.batchDocs, m.batchBytes, m.retried, m.indexed, m.itemFailure,
			m.breakerState, m.breakerTransitions, m.concurrencyLimit)
	}
	return m
}

func (m *metrics) request(class string) prometheus.Counter {
	return m.child(m.byClass, m.requests, class)
}

func (m *metrics) retry(reason string) prometheus.Counter {
	return m.child(m.retriedBy, m.retried, boundedReason(reason))
}

func (m *metrics) child(cache map[string]prometheus.Counter, vec *prometheus.CounterVec, label string) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := cache[label]
	if !ok {
		c = vec.WithLabelValues(label)
		cache[label] = c
	}
	return c
}

func (m *metrics) itemFailed(status int, reason string) {
	m.itemFailure.WithLabelValues(boundedStatus(status), boundedReason(reason)).Inc()
}
