package auth

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type credentialMetrics struct {
	refreshes prometheus.Counter
	failures  prometheus.Counter
	expiry    prometheus.GaugeFunc
}

func newCredentialMetrics(reg prometheus.Registerer, labels prometheus.Labels, secondsToExpiry func() float64) (*credentialMetrics, error) {
	m := &credentialMetrics{
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "weir_credentials_refreshes_total",
			Help:        "Calls to the AWS credentials provider, successful or not.",
			ConstLabels: labels,
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "weir_credentials_refresh_failures_total",
			Help:        "Failed calls to the AWS credentials provider.",
			ConstLabels: labels,
		}),
		expiry: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "weir_credentials_expiry_seconds",
			Help:        "Seconds until the AWS credentials in use expire (+Inf for static ones, 0 when none are held).",
			ConstLabels: labels,
		}, secondsToExpiry),
	}
	if reg == nil {
		return m, nil
	}
	var registered []prometheus.Collector
	for _, c := range []prometheus.Collector{m.refreshes, m.failures, m.expiry} {
		if err := reg.Register(c); err != nil {
			for _, r := range registered {
				reg.Unregister(r)
			}
			if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
				return nil, fmt.Errorf("auth: credential metrics already registered (use WithConstLabels to tell identities apart): %w", err)
			}
			return nil, fmt.Errorf("auth: register credential metrics: %w", err)
		}
		registered = append(registered, c)
	}
	return m, nil
}
