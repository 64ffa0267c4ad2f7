package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// WriteChecker tells whether an ingest could commit now: the database takes a write
// transaction (not write-locked by another process, disk not full, not a read-only
// replica). CheckWrite should give up when ctx ends.
type WriteChecker interface {
	CheckWrite(ctx context.Context) error
}

// DefaultReadyTimeout bounds /readyz's write check.
const DefaultReadyTimeout = time.Second

// readiness runs the write check, one at a time: probes that arrive while a check is
// running wait for that one (up to their own deadline) instead of starting another, so a
// hung database does not pile up checks.
type readiness struct {
	check   WriteChecker
	timeout time.Duration

	mu      sync.Mutex
	running chan struct{} // closed when the running check ends; nil when none runs
	err     error         // the last finished check's result
}

func (rd *readiness) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, rd.timeout)
	defer cancel()
	rd.mu.Lock()
	done := rd.running
	if done == nil {
		done = make(chan struct{})
		rd.running = done
		go rd.run(done)
	}
	rd.mu.Unlock()
	select {
	case <-done:
		rd.mu.Lock()
		defer rd.mu.Unlock()
		return rd.err
	case <-ctx.Done():
		return fmt.Errorf("the database did not take a write within %s: it is write-locked or overloaded", rd.timeout)
	}
}

func (rd *readiness) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), rd.timeout)
	defer cancel()
	err := rd.check.CheckWrite(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("the database did not take a write within %s: it is write-locked or overloaded", rd.timeout)
	}
	rd.mu.Lock()
	rd.err, rd.running = err, nil
	rd.mu.Unlock()
	close(done)
}

// ready answers /readyz: 200 only when the delivery service runs and, when a write check is
// available, the database takes a write now.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	err := s.cfg.Delivery.Ready()
	if err == nil && s.readiness != nil {
		err = s.readiness.probe(r.Context())
	}
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	writeText(w, http.StatusOK, "ok")
}
