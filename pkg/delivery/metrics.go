package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events         *prometheus.CounterVec
	duplicates     prometheus.Counter
	sends          *prometheus.CounterVec
	flowErrors     prometheus.Counter
	notOurThread   prometheus.Counter
	ingestSeconds  prometheus.Histogram
	processSeconds prometheus.Histogram
	sendSeconds    prometheus.Histogram
	ackFirstWaits  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gtc_events_total",
			Help: "Webhook events received, by kind (message, status, error, user_preferences, unknown)."}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "gtc_events_duplicate_total",
			Help: "Webhook events dropped because they were already recorded."}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gtc_sends_total",
			Help: "Send attempts and refusals, by class (ok, rate_limited, transient, window_closed, opted_out, …)."}, []string{"class"}),
		flowErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "gtc_flow_errors_total",
			Help: "Flow runs that failed."}),
		notOurThread: prometheus.NewCounter(prometheus.CounterOpts{Name: "gtc_messages_other_thread_total",
			Help: "Messages recorded without a flow run because another responder has the thread (Conversation Routing)."}),
		ingestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gtc_ingest_seconds",
			Help: "Time to durably record one webhook's events.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		processSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gtc_event_to_reply_seconds",
			Help: "Time from recording a message to its replies being sent.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		sendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gtc_send_seconds",
			Help: "Duration of one Graph send.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		ackFirstWaits: prometheus.NewCounter(prometheus.CounterOpts{Name: "gtc_ack_first_waits_total",
			Help: "Worker rounds held back while a burst of webhooks waited for its commit."}),
	}
	depth := func(pick func(d depthPair) int) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			d, err := s.st.QueueDepth(ctx)
			if err != nil {
				return -1
			}
			return float64(pick(depthPair{d.PendingEvents, d.OpenOutbound}))
		}
	}
	cs := []prometheus.Collector{m.events, m.duplicates, m.sends, m.flowErrors, m.notOurThread, m.ingestSeconds, m.processSeconds, m.sendSeconds, m.ackFirstWaits,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gtc_queue_depth", Help: "Work waiting, by queue.",
			ConstLabels: prometheus.Labels{"queue": "inbound"}}, depth(func(d depthPair) int { return d.events })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gtc_queue_depth", Help: "Work waiting, by queue.",
			ConstLabels: prometheus.Labels{"queue": "outbound"}}, depth(func(d depthPair) int { return d.outbound })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type depthPair struct{ events, outbound int }
