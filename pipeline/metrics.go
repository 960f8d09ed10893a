package pipeline

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	receivedVec *prometheus.CounterVec
	finished    [4]prometheus.Counter
	queueBytes  prometheus.Gauge
	capacity    prometheus.Gauge
	refused     *prometheus.CounterVec

	mu  sync.Mutex
	rec map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		receivedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_documents_received_total", Help: "Documents accepted into the pipeline, by source.",
		}, []string{"source"}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_queue_bytes", Help: "Bytes held by accepted documents not yet indexed or dead-lettered.",
		}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_queue_capacity_bytes", Help: "Size of the pipeline queue in bytes.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_submissions_refused_total", Help: "Source messages the pipeline refused, by reason (queue_full, too_large, closed).",
		}, []string{"reason"}),
		rec: map[string]prometheus.Counter{},
	}
	fin := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_documents_finished_total", Help: "Documents that left the pipeline, by outcome (indexed, dead_lettered, undelivered).",
	}, []string{"outcome"})
	for o := Indexed; o <= Undelivered; o++ {
		m.finished[o] = fin.WithLabelValues(o.String())
	}
	if reg != nil {
		reg.MustRegister(m.receivedVec, m.queueBytes, m.capacity, m.refused, fin)
	}
	return m
}

func (m *metrics) received(source string) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rec[source]
	if !ok {
		c = m.receivedVec.WithLabelValues(source)
		m.rec[source] = c
	}
	return c
}
