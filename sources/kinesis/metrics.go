package kinesis

import "github.com/prometheus/client_golang/prometheus"

// Label values of weir_kinesis_lease_events_total.
const (
	eventTaken    = "taken"    // a free or expired lease
	eventStolen   = "stolen"   // from a worker holding more than its share
	eventLost     = "lost"     // another worker took it, or it could not be renewed in time
	eventReleased = "released" // given back at shutdown
	eventFinished = "finished" // its shard was read to the end (SHARD_END)
)

type metrics struct {
	behind      *prometheus.GaugeVec
	records     *prometheus.CounterVec
	aggregated  *prometheus.CounterVec
	leases      *prometheus.GaugeVec
	checkpoints *prometheus.CounterVec
	throttles   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	events      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		behind: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_kinesis_millis_behind_latest",
			Help: "How far the last GetRecords of a shard was behind the tip of the stream, in milliseconds (the scaling signal).",
		}, []string{"stream", "shard"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_kinesis_records_total",
			Help: "User records (after KPL de-aggregation) handed to the pipeline, by stream.",
		}, []string{"stream"}),
		aggregated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_kinesis_aggregated_records_total",
			Help: "Kinesis records that were KPL aggregates and were de-aggregated, by stream.",
		}, []string{"stream"}),
		leases: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_kinesis_leases_held",
			Help: "Shard leases this process holds, by stream.",
		}, []string{"stream"}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_kinesis_checkpoints_total",
			Help: "Checkpoint writes to the lease table, by outcome (written, lost, error).",
		}, []string{"outcome"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_kinesis_throttles_total",
			Help: "Kinesis calls refused for rate (ProvisionedThroughputExceeded, LimitExceeded, ...) and backed off, by operation.",
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_kinesis_errors_total",
			Help: "Kinesis and DynamoDB calls that failed for another reason and were retried, by operation.",
		}, []string{"operation"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_kinesis_lease_events_total",
			Help: "Lease changes of this process, by event (taken, stolen, lost, released, finished).",
		}, []string{"event"}),
	}
	if reg != nil {
		reg.MustRegister(m.behind, m.records, m.aggregated, m.leases, m.checkpoints, m.throttles, m.errors, m.events)
	}
	return m
}
