package explain

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Explainer classifies refusals and counts them by reason.
type Explainer struct {
	denied *prometheus.CounterVec
}

// NewExplainer registers weir_auth_denied_total{reason} on reg (nil: not exported).
func NewExplainer(reg prometheus.Registerer) (*Explainer, error) {
	denied := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_auth_denied_total",
		Help: "Requests refused by AWS or OpenSearch for authentication or authorization, by reason.",
	}, []string{"reason"})
	// Every reason starts at zero so a rate() over a new kind of refusal
	// has a series to start from.
	for _, r := range Reasons() {
		denied.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(denied); err != nil {
			return nil, fmt.Errorf("explain: register weir_auth_denied_total: %w", err)
		}
	}
	return &Explainer{denied: denied}, nil
}

// Explain classifies a refused response and counts it.
func (e *Explainer) Explain(status int, header http.Header, body []byte, ctx Context) Explanation {
	x := Classify(status, header, body, ctx)
	e.denied.WithLabelValues(x.Reason).Inc()
	return x
}
