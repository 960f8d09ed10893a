package deadletter

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// knownReasons bounds the reason label: anything else is counted as "other", so a flood of
// novel error types cannot grow the metric without limit.
var knownReasons = map[string]bool{
	"invalid_json": true, "invalid_id": true, "invalid_index": true,
	"retries_exhausted": true, "request_too_large": true,
	"mapper_parsing_exception": true, "document_parsing_exception": true,
	"illegal_argument_exception": true, "strict_dynamic_mapping_exception": true,
	"version_conflict_engine_exception": true, "index_not_found_exception": true,
	"invalid_index_name_exception": true, "action_request_validation_exception": true,
	"cluster_block_exception": true, "security_exception": true,
	// Sources' own reasons: messages and objects that cannot be read at all.
	"invalid_message": true, "invalid_gzip": true, "s3_object_missing": true, "document_too_large": true,
}

type metrics struct {
	vec *prometheus.CounterVec
	// byReason caches the label lookups; the set is bounded by knownReasons.
	mu       sync.Mutex
	byReason map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_dead_letters_total",
			Help: "Documents written to the dead-letter file, by reason (an OpenSearch error type, a validation failure, or other).",
		}, []string{"reason"}),
		byReason: map[string]prometheus.Counter{},
	}
	if reg != nil {
		reg.MustRegister(m.vec)
	}
	return m
}

func (m *metrics) written(reason string) prometheus.Counter {
	if !knownReasons[reason] {
		reason = "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byReason[reason]
	if !ok {
		c = m.vec.WithLabelValues(reason)
		m.byReason[reason] = c
	}
	return c
}
