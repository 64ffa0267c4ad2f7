package events

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Backlog is the outbox's state, for the gauges and gtc doctor.
type Backlog struct {
	// Pending counts events not yet delivered nor given up.
	Pending int
	// Failing counts pending events whose last attempt failed (attempts > 0).
	Failing int
	// Oldest is the age of the oldest pending event, 0 when none.
	Oldest time.Duration
}

// Metrics are the event webhook metrics:
//
//	gtc_event_deliveries_total{type,outcome}  attempts (delivered, rejected, error) and give-ups (gave_up)
//	gtc_event_delivery_seconds                 duration of one attempt
//	gtc_event_outbox_pending                   events waiting (from the backlog function)
//	gtc_event_outbox_failing                   waiting events whose last attempt failed
//	gtc_event_outbox_oldest_seconds            age of the oldest waiting event
type Metrics struct {
	deliveries *prometheus.CounterVec
	seconds    prometheus.Histogram
}

// NewMetrics registers the metrics on reg. backlog, when not nil, is asked on each scrape
// (with a one-second deadline) for the gauges; an error shows as -1.
func NewMetrics(reg prometheus.Registerer, backlog func(context.Context) (Backlog, error)) (*Metrics, error) {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gtc_event_deliveries_total",
			Help: "Event webhook delivery attempts by type and outcome (delivered, rejected, error), and events given up (gave_up)."},
			[]string{"type", "outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gtc_event_delivery_seconds",
			Help: "Duration of one event webhook delivery attempt.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
	}
	for _, t := range Types {
		for _, o := range []Outcome{Delivered, Rejected, Failed, GaveUp} {
			m.deliveries.WithLabelValues(string(t), string(o))
		}
	}
	cs := []prometheus.Collector{m.deliveries, m.seconds}
	if backlog != nil {
		gauge := func(name, help string, pick func(Backlog) float64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				b, err := backlog(ctx)
				if err != nil {
					return -1
				}
				return pick(b)
			})
		}
		cs = append(cs,
			gauge("gtc_event_outbox_pending", "Event webhooks waiting to be delivered.",
				func(b Backlog) float64 { return float64(b.Pending) }),
			gauge("gtc_event_outbox_failing", "Event webhooks waiting whose last delivery attempt failed.",
				func(b Backlog) float64 { return float64(b.Failing) }),
			gauge("gtc_event_outbox_oldest_seconds", "Age of the oldest event webhook waiting to be delivered.",
				func(b Backlog) float64 { return b.Oldest.Seconds() }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(t Type, r Result) {
	m.deliveries.WithLabelValues(string(t), string(r.Outcome)).Inc()
	m.seconds.Observe(r.Duration.Seconds())
}

// GaveUp counts an event given up (NextAttempt returned false).
func (m *Metrics) GaveUp(t Type) { m.deliveries.WithLabelValues(string(t), string(GaveUp)).Inc() }
