package delivery

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/greentic/gtc/pkg/store"
)

// heartbeat keeps this instance registered in a shared database and takes over the work of
// instances that stopped heartbeating (see the package doc). It runs until Stop.
func (s *Service) heartbeat(ctx context.Context) {
	defer close(s.hbDone)
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-s.hbStop:
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Heartbeat+5*time.Second)
		alive, err := s.st.Heartbeat(cctx, s.instance)
		switch {
		case err != nil:
			s.log.Warn("heartbeat failed", "instance", s.instance, "err", err)
		case !alive:
			// Another instance took this one for dead (a stall longer than DeadAfter) and
			// handed its leases and unsent replies to jobs: a reply in flight here may be
			// sent twice.
			s.log.Error("this instance was taken for dead by another and its work handed over; registering again",
				"instance", s.instance, "dead_after", s.cfg.DeadAfter)
			if err := s.st.RegisterInstance(cctx, s.instance); err != nil {
				s.log.Warn("register again failed", "err", err)
			}
		}
		if err := s.reap(cctx, ""); err != nil {
			s.log.Warn("taking over dead instances failed", "err", err)
		}
		if time.Since(lastPrune) > time.Minute {
			// The shared pacing ledger only needs the current windows.
			lastPrune = time.Now()
			if err := s.st.PrunePacing(cctx, lastPrune.Add(-time.Minute)); err != nil {
				s.log.Warn("pruning the pacing ledger failed", "err", err)
			}
		}
		cancel()
	}
}

// stopHeartbeat ends the heartbeat loop (once).
func (s *Service) stopHeartbeat() {
	s.hbOnce.Do(func() {
		close(s.hbStop)
		<-s.hbDone
	})
}

// reap takes over the work of dead instances (only == ""), or hands this instance's over
// (only == s.instance), in one transaction with the jobs that finish it.
func (s *Service) reap(ctx context.Context, only string) error {
	reaped, err := s.st.ReapInstances(ctx, s.cfg.DeadAfter, only, s.enqueueOrphansTx)
	if err != nil {
		return err
	}
	for _, o := range reaped {
		if o.Instance == s.instance {
			s.log.Info("handed work over to the other instances", "contacts", len(o.Contacts), "replies", len(o.Sends))
			continue
		}
		s.log.Warn("took over the work of a dead instance", "instance", o.Instance,
			"contacts", len(o.Contacts), "replies", len(o.Sends))
	}
	return nil
}

// enqueueOrphansTx inserts, inside the reaping transaction, a job for the contacts the
// reaped instance held and one send job per reply it was sending.
func (s *Service) enqueueOrphansTx(ctx context.Context, tx *sql.Tx, o store.Orphans) error {
	if o.Instance != s.instance {
		// Its jobs that were running when it died (a call at a backend) run again now.
		if _, err := s.st.RescueRunningJobs(ctx, tx, o.Instance); err != nil {
			return err
		}
	}
	var params []river.InsertManyParams
	for c := range slices.Chunk(o.Contacts, contactsPerJob) {
		params = append(params, river.InsertManyParams{Args: inboundArgs{Contacts: c}})
	}
	for _, os := range o.Sends {
		params = append(params, s.sendParams(os.ID, os.NextAttemptAt))
	}
	if len(params) == 0 {
		return nil
	}
	_, err := s.ins.InsertManyTx(ctx, tx, params)
	return err
}
