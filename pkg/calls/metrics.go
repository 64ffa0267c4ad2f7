package calls

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count calls. Make one per registry and share it between Runners.
type Metrics struct {
	calls   *prometheus.CounterVec
	retries *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

// NewMetrics registers the call metrics on reg:
//
//	gtc_calls_total{kind,flow,node,outcome}          calls by their final outcome
//	gtc_call_retries_total{kind,flow,node,outcome}   tries that were retried, by why
//	gtc_call_seconds{kind,flow,node,outcome}         the time of each try
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"kind", "flow", "node", "outcome"}
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gtc_calls_total",
			Help: "http and ai calls of flows by final outcome: ok, client_error, server_error, rate_limited, timeout, connection_error, refused, too_large, bad_response, bad_call."}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gtc_call_retries_total",
			Help: "Tries of http and ai calls that were retried, by the outcome of the try."}, labels),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gtc_call_seconds",
			Help:    "Time of one try of an http or ai call, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30}}, labels),
	}
	for _, c := range []prometheus.Collector{m.calls, m.retries, m.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("calls: register metrics: %w", err)
		}
	}
	return m, nil
}
