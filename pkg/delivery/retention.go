package delivery

import (
	"context"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

// DefaultRetentionEvery is how often gtc serve applies retention (Config.RetentionEvery).
const DefaultRetentionEvery = time.Hour

// startRetention applies Config.Retention now and then every Config.RetentionEvery, until
// Stop (nothing when no retention is set). Instances sharing a database may all run it:
// deleting what another just deleted is harmless.
func (s *Service) startRetention() {
	if s.cfg.Retention == (store.Retention{}) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.rtCancel, s.rtDone = cancel, make(chan struct{})
	go s.retentionLoop(ctx)
}

func (s *Service) retentionLoop(ctx context.Context) {
	defer close(s.rtDone)
	every := s.cfg.RetentionEvery
	if every <= 0 {
		every = DefaultRetentionEvery
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.applyRetention(ctx)
		t.Reset(every)
	}
}

// applyRetention runs one store.Prune and logs what it removed.
func (s *Service) applyRetention(ctx context.Context) {
	p, err := s.st.Prune(ctx, s.cfg.Retention, s.now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("retention failed: old rows stay until the next run", "err", err)
		}
		return
	}
	if p.Total() > 0 {
		s.log.Info("retention applied", "inbound_events", p.InboundEvents, "inbound_cleared", p.InboundCleared,
			"outbound", p.Outbound, "statuses", p.Statuses, "pricing", p.Pricing, "conversations", p.Conversations,
			"idempotency_keys", p.IdempotencyKeys)
	}
}

// stopRetention stops the loop and waits for a run under way (cancelled).
func (s *Service) stopRetention() {
	if s.rtCancel == nil {
		return
	}
	s.rtCancel()
	<-s.rtDone
}
