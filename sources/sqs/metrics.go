package sqs

import "github.com/prometheus/client_golang/prometheus"

// Reasons a message, an object or a document is dead-lettered by the source itself (the
// pipeline and the sink dead-letter the documents they refuse), and reasons a message is
// left in the queue. Fixed sets: label values never come from messages.
const (
	reasonInvalidMessage = "invalid_message"
	reasonObjectMissing  = "s3_object_missing"
	reasonInvalidGzip    = "invalid_gzip"
	reasonTooLarge       = "document_too_large"

	returnUndelivered = "undelivered" // documents not delivered (pipeline stopping, dead-letter write failed)
	returnS3Error     = "s3_error"    // S3 throttled, failed or unreachable: try again later
	returnShutdown    = "shutdown"    // received but not handed over before shutdown
)

// API operation labels for weir_sqs_api_errors_total.
const (
	opReceive    = "receive"
	opDelete     = "delete"
	opVisibility = "change_visibility"
	opGetObject  = "get_object"
)

type metrics struct {
	received     prometheus.Counter
	deleted      prometheus.Counter
	extended     prometheus.Counter
	deadLettered *prometheus.CounterVec
	returned     *prometheus.CounterVec
	inFlight     prometheus.Gauge
	receiveDur   prometheus.Observer
	empty        prometheus.Counter
	objects      prometheus.Counter
	documents    prometheus.Counter
	apiErrors    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	dur := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "weir_sqs_receive_duration_seconds",
		Help:    "Duration of ReceiveMessage calls, long polling included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30},
	})
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_sqs_messages_received_total", Help: "SQS messages received (redeliveries included).",
		}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_sqs_messages_deleted_total", Help: "SQS messages deleted after every document in them was indexed or dead-lettered.",
		}),
		extended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_sqs_visibility_extended_total", Help: "Visibility timeout extensions of messages whose documents were still in the pipeline.",
		}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sqs_messages_dead_lettered_total", Help: "Messages, S3 objects or documents the SQS source dead-lettered itself, by reason.",
		}, []string{"reason"}),
		returned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sqs_messages_returned_total", Help: "Messages left in the queue for redelivery instead of deleted, by reason.",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_sqs_messages_in_flight", Help: "Messages received and not yet finished.",
		}),
		receiveDur: dur,
		empty: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_sqs_empty_receives_total", Help: "ReceiveMessage calls that returned no message.",
		}),
		objects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_sqs_s3_objects_total", Help: "S3 objects read because an event notification named them.",
		}),
		documents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_sqs_documents_total", Help: "Documents the SQS source handed to the pipeline.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sqs_api_errors_total", Help: "Failed SQS and S3 calls (or batch entries), by operation.",
		}, []string{"op"}),
	}
	for _, r := range []string{reasonInvalidMessage, reasonObjectMissing, reasonInvalidGzip, reasonTooLarge} {
		m.deadLettered.WithLabelValues(r)
	}
	for _, r := range []string{returnUndelivered, returnS3Error, returnShutdown} {
		m.returned.WithLabelValues(r)
	}
	for _, op := range []string{opReceive, opDelete, opVisibility, opGetObject} {
		m.apiErrors.WithLabelValues(op)
	}
	if reg != nil {
		reg.MustRegister(m.received, m.deleted, m.extended, m.deadLettered, m.returned, m.inFlight,
			dur, m.empty, m.objects, m.documents, m.apiErrors)
	}
	return m
}
