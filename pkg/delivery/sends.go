package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/greentic/gtc/pkg/store"
)

// stepper group-commits the send steps of concurrent senders (store.SendSteps): the first
// caller commits what is queued, then hands the lead to the next caller in line, so each
// send costs a share of a commit rather than one, without a goroutine of its own.
type stepper struct {
	st *store.Store

	mu      sync.Mutex
	queue   []*stepReq
	leading bool
}

type stepReq struct {
	step       store.SendStep
	err        error
	done, lead chan struct{}
}

// do records step and returns it with its Start attempts filled in.
func (g *stepper) do(step store.SendStep) (store.SendStep, error) {
	r := &stepReq{step: step, done: make(chan struct{}), lead: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.leading {
		g.mu.Unlock()
		select {
		case <-r.done:
			return r.step, r.err
		case <-r.lead:
		}
		g.mu.Lock()
	}
	g.leading = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	g.commit(batch)
	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return r.step, r.err
}

// commit records batch in one transaction; when that fails, each step alone, so one bad
// step fails only its sender.
func (g *stepper) commit(batch []*stepReq) {
	// The callers' contexts may end (a job cancelled at shutdown): what was sent must still
	// be recorded, or it would be sent again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := make([]*store.SendStep, len(batch))
	for i, r := range batch {
		steps[i] = &r.step
	}
	err := g.st.SendSteps(ctx, steps)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.err = g.st.SendSteps(ctx, []*store.SendStep{&r.step})
			close(r.done)
		}
		return
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// commitSends records fs (with the jobs and events they need) and, when start is set, marks
// that row sending, in one group commit; it returns the start with its attempt.
func (s *Service) commitSends(ctx context.Context, fs []store.Finish, start *store.Start) (store.Start, error) {
	step := store.SendStep{Finish: fs}
	var evs []contactEvent
	if len(fs) > 0 {
		evs = s.sendFailedEvents(context.WithoutCancel(ctx), fs)
		step.InTx = s.outcomeTx(fs, evs)
	}
	if start != nil {
		step.Start = []store.Start{*start}
	}
	done, err := s.steps.do(step)
	if err != nil {
		return store.Start{}, err
	}
	if len(evs) > 0 {
		s.wakeEvents()
	}
	if start == nil {
		return store.Start{}, nil
	}
	return done.Start[0], nil
}

// record records send outcomes (commitSends without a start).
func (s *Service) record(ctx context.Context, fs []store.Finish) error {
	if len(fs) == 0 {
		return nil
	}
	_, err := s.commitSends(ctx, fs, nil)
	return err
}

// finishRelease records fs (commitSends without a start) and releases refs' leases for
// owner in the same commit (store.FinishAndRelease): a round's last commit. It returns the
// contacts that still have pending events and stay claimed.
func (s *Service) finishRelease(ctx context.Context, fs []store.Finish, refs []store.ContactRef, owner string) ([]store.ContactRef, error) {
	var evs []contactEvent
	var inTx func(context.Context, *sql.Tx) error
	if len(fs) > 0 {
		evs = s.sendFailedEvents(ctx, fs)
		inTx = s.outcomeTx(fs, evs)
	}
	more, err := s.st.FinishAndRelease(ctx, fs, inTx, refs, owner)
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		s.wakeEvents()
	}
	return more, nil
}

// outcomeTx runs with the outcomes fs: a row left open (a retry, a pacing wait, an unclear
// send) gets its gtc_send job (unique per row: an existing one is kept, and works it), and
// a failure or refusal its send.failed event.
func (s *Service) outcomeTx(fs []store.Finish, evs []contactEvent) func(context.Context, *sql.Tx) error {
	var params []river.InsertManyParams
	for _, f := range fs {
		switch f.Result.State {
		case store.OutRetrying:
			params = append(params, s.sendParams(f.ID, f.Result.NextAttemptAt))
		case store.OutAmbiguous:
			// At the shortest window of all: a number with a longer one snoozes the job on.
			params = append(params, s.sendParams(f.ID, f.Result.NextAttemptAt.Add(s.minWindow)))
		}
	}
	if len(params) == 0 && len(evs) == 0 {
		return nil
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if len(params) > 0 {
			if _, err := s.ins.InsertManyTx(ctx, tx, params); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if err := store.AddOutbox(ctx, tx, e.ref, []store.OutboxEvent{e.ev}, s.now()); err != nil {
				return err
			}
		}
		return nil
	}
}

// sendArgs is a gtc_send job: see one recorded reply through, from its first retry or
// pacing wait (or its recovery) until it is final. Jobs are unique per reply (by args), so a
// reply has at most one; the reply's row, not the job, says what to do next (Work).
type sendArgs struct {
	OutboundID int64 `json:"outbound_id"`
}

func (sendArgs) Kind() string { return "gtc_send" }

// sendJobAttempts is River's bound on a send job's errors; the reply's own bound
// (Config.MaxAttempts, on the row) ends it first.
const sendJobAttempts = 100

// sendParams is the job for reply id, runnable at next (at once when next has come: never
// left to River's scheduler, which runs only on the leader and every few seconds).
func (s *Service) sendParams(id int64, next time.Time) river.InsertManyParams {
	opts := &river.InsertOpts{MaxAttempts: sendJobAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
	if now := s.now(); next.After(now) {
		opts.ScheduledAt = s.wallClock(next) // River schedules on the wall clock; Config.Now may be a test clock
	}
	return river.InsertManyParams{Args: sendArgs{OutboundID: id}, InsertOpts: opts}
}

// wallClock turns a time on the service's clock into the wall clock's.
func (s *Service) wallClock(t time.Time) time.Time { return time.Now().Add(t.Sub(s.now())) }

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	s *Service
}

// errRetry asks River to run a send job again at its reply's next attempt (NextRetry).
var errRetry = errors.New("send will be retried")

// busyWait is how long a send job waits for another sender to finish with its reply.
const busyWait = time.Second

// Work moves the job's reply on by what its row says: a final reply ends the job; an
// unclear send within its window snoozes the job until the window ends; an open one is sent
// (attempt), and its outcome decides: a clear failure to retry returns
// an error, River's retry at NextRetry; a pacing wait snoozes; an unclear send snoozes for
// its reconciliation window. The row is claimed for the job (store.Start) before each
// request, so a duplicate job or another sender never sends it twice.
func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	s := w.s
	o, err := s.st.OutboundByID(ctx, job.Args.OutboundID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.now()
	p := s.provider(o.Tenant, o.Team)
	switch o.State {
	case store.OutPending, store.OutRetrying:
		// Due: the job runs at the row's time (inserted, retried and snoozed for it); only
		// the job moves a row on once it has one.
	case store.OutAmbiguous:
		due := o.NextAttemptAt.Add(s.window(p))
		if due.After(now) {
			return river.JobSnooze(due.Sub(now))
		}
		if o.Attempts >= s.cfg.MaxAttempts {
			f := store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutFailed, ErrorClass: "unconfirmed",
				ErrorMessage: "no status webhook confirmed any of its sends"}}
			s.logReply(o, f, time.Time{})
			return s.record(ctx, []store.Finish{f})
		}
		s.log.Warn("no status for an unclear send within its window: sending again", "tenant", o.Tenant, "team", o.Team,
			"outbound_id", o.ID, "attempt", o.Attempts+1, "window", s.window(p))
	case store.OutSending:
		return river.JobSnooze(busyWait) // another sender has it; its outcome decides
	default:
		return nil // final
	}
	c, err := s.st.Contact(ctx, o.Tenant, o.Team, o.ContactKey)
	if err != nil {
		return err
	}
	var carry []store.Finish
	oc, err := s.attempt(ctx, o, c.OptedOut, c, fmt.Sprintf("%s:send-%d", s.instance, job.ID), &carry)
	if err != nil {
		return err
	}
	if oc.kind == sendLost {
		return river.JobSnooze(busyWait)
	}
	s.logReply(o, oc.fin, time.Time{})
	if err := s.record(ctx, []store.Finish{oc.fin}); err != nil {
		return err
	}
	switch oc.kind {
	case sendRetry:
		return errRetry
	case sendPaced, sendUnclear:
		return river.JobSnooze(max(oc.next.Sub(s.now()), 0))
	}
	return nil
}

// NextRetry is when River runs a send job again after errRetry: its reply's next attempt,
// as recorded (the row is the one record of the backoff, whatsapp.RetryDelay's).
func (w *sendWorker) NextRetry(job *river.Job[sendArgs]) time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := w.s.st.OutboundByID(ctx, job.Args.OutboundID)
	if err != nil || o.State != store.OutRetrying {
		return time.Now().Add(busyWait) // the row decides when the job runs
	}
	return w.s.wallClock(o.NextAttemptAt)
}
