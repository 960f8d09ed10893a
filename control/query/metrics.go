package query

import "github.com/prometheus/client_golang/prometheus"

// metrics are counted per decision and reason: both come from fixed sets (the Reason
// constants and a few upstream outcomes), never from the request, so label sets stay small.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_query_requests_total",
			Help: "Read queries on the control endpoint, by decision (allow, deny, unauthenticated, error, off) and reason.",
		}, []string{"decision", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weir_query_request_duration_seconds",
			Help:    "Time from a query's arrival to the end of its answer, by decision.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"decision"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
