package delivery

import (
	"context"
	"time"
)

// Acknowledgements first. A webhook is answered once its group commit is on disk; replies
// can wait a moment. While a burst of webhooks waits for its commits (ackBurst or more
// Ingest calls in progress), a worker waits before its next round, up to ackFirstMax, so
// the two cores go to acknowledging and the backlog is answered right after. The cap keeps
// replies moving through a burst that does not end. docs/benchmarks.md has the figures.
const (
	ackBurst     = 16
	ackFirstMax  = 250 * time.Millisecond
	ackFirstPoll = 5 * time.Millisecond
)

// ackFirst waits while the store acknowledges a burst (see above).
func (s *Service) ackFirst(ctx context.Context) {
	backlog := s.st.IngestBacklog
	if s.backlog != nil {
		backlog = s.backlog
	}
	if s.cfg.AckBurst < 0 || backlog() < s.ackBurst() {
		return
	}
	s.m.ackFirstWaits.Inc()
	deadline := time.Now().Add(ackFirstMax)
	t := time.NewTicker(ackFirstPoll)
	defer t.Stop()
	for backlog() >= s.ackBurst() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) ackBurst() int {
	if s.cfg.AckBurst > 0 {
		return s.cfg.AckBurst
	}
	return ackBurst
}
