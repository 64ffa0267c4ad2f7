package delivery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A worker's round waits while a burst of webhooks waits for its commit, until the burst
// is acknowledged or ackFirstMax has passed; below the burst size, or with AckBurst
// negative, it does not wait at all.
func TestAckFirst(t *testing.T) {
	tests := []struct {
		name     string
		ackBurst int
		backlog  int64
		drainAt  time.Duration // the backlog drops to 0 after this (0: never)
		min, max time.Duration
		waits    float64
	}{
		{name: "no burst", backlog: ackBurst - 1, max: ackFirstPoll, waits: 0},
		{name: "burst acknowledged", backlog: ackBurst, drainAt: 60 * time.Millisecond, min: 60 * time.Millisecond, max: ackFirstMax, waits: 1},
		{name: "burst that does not end", backlog: 500, min: ackFirstMax, max: 10 * ackFirstMax, waits: 1},
		{name: "smaller burst set", ackBurst: 4, backlog: 4, drainAt: 30 * time.Millisecond, min: 30 * time.Millisecond, max: ackFirstMax, waits: 1},
		{name: "turned off", ackBurst: -1, backlog: 500, max: ackFirstPoll, waits: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var backlog atomic.Int64
			backlog.Store(tc.backlog)
			s := &Service{cfg: Config{AckBurst: tc.ackBurst}, backlog: func() int { return int(backlog.Load()) }}
			m, err := newMetrics(prometheus.NewRegistry(), s)
			if err != nil {
				t.Fatal(err)
			}
			s.m = m
			if tc.drainAt > 0 {
				timer := time.AfterFunc(tc.drainAt, func() { backlog.Store(0) })
				defer timer.Stop()
			}
			start := time.Now()
			s.ackFirst(context.Background())
			took := time.Since(start)
			if took < tc.min {
				t.Errorf("returned after %s, want at least %s", took, tc.min)
			}
			// Upper bounds are loose (a loaded machine), but a wait with no burst, or past
			// the cap, is a defect.
			if limit := tc.max + 2*time.Second; took > limit {
				t.Errorf("returned after %s, want at most %s", took, limit)
			}
			var got dto.Metric
			if err := m.ackFirstWaits.Write(&got); err != nil {
				t.Fatal(err)
			}
			if got.GetCounter().GetValue() != tc.waits {
				t.Errorf("gtc_ack_first_waits_total = %v, want %v", got.GetCounter().GetValue(), tc.waits)
			}
		})
	}
}

// A cancelled job stops waiting at once.
func TestAckFirstCancelled(t *testing.T) {
	s := &Service{backlog: func() int { return 1000 }}
	m, err := newMetrics(prometheus.NewRegistry(), s)
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	s.ackFirst(ctx)
	if took := time.Since(start); took >= ackFirstMax {
		t.Errorf("returned after %s: a cancelled job waited for the cap (%s)", took, ackFirstMax)
	}
}
