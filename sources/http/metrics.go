package httpsource

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint labels: route names, never anything taken from the request, so that the label
// sets stay small whatever clients send.
const (
	endpointIngest    = "ingest"
	endpointBulk      = "bulk"
	endpointInfo      = "info"
	endpointUnmatched = "unmatched"
)

var endpoints = []string{endpointIngest, endpointBulk, endpointInfo, endpointUnmatched}

type metrics struct {
	requests  *prometheus.CounterVec
	bytes     prometheus.Counter
	documents map[string]prometheus.Counter
	duration  map[string]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_http_requests_total", Help: "HTTP source requests, by endpoint and status code.",
	}, []string{"endpoint", "code"})
	bytes := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weir_http_request_bytes_total", Help: "Request body bytes read by the HTTP source, after decompression.",
	})
	docs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_http_documents_total", Help: "Documents the HTTP source handed to the pipeline, by endpoint.",
	}, []string{"endpoint"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "weir_http_request_duration_seconds",
		Help:    "Time from the start of a request to its answer, by endpoint (sync requests include delivery).",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"endpoint"})
	m := &metrics{
		requests:  requests,
		bytes:     bytes,
		documents: map[string]prometheus.Counter{},
		duration:  map[string]prometheus.Observer{},
	}
	// Children are made up front: the maps are then read-only and need no lock.
	for _, e := range endpoints {
		m.documents[e] = docs.WithLabelValues(e)
		m.duration[e] = dur.WithLabelValues(e)
	}
	if reg != nil {
		reg.MustRegister(requests, bytes, docs, dur)
	}
	return m
}

func (m *metrics) request(endpoint string, code int) {
	m.requests.WithLabelValues(endpoint, codeLabel(code)).Inc()
}

// codeLabel avoids formatting (and allocating) the common codes on every request.
func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 202:
		return "202"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 405:
		return "405"
	case 413:
		return "413"
	case 429:
		return "429"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}
