package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/greentic/gtc/pkg/store"
)

// inboundArgs is a gtc_inbound job: process the pending messages of a few contacts.
type inboundArgs struct {
	Contacts []store.ContactRef `json:"contacts"`
}

func (inboundArgs) Kind() string { return "gtc_inbound" }

// sendArgs is a gtc_send job: (re)send one recorded reply, usually at a scheduled time. At
// is the reply's next_attempt_at (Unix ms, 0 for a first send) the job was made for: the
// job claims the reply only while that is still its next attempt, so a duplicate job (from
// recovery, or a takeover) finds nothing to do instead of sending twice. Jobs are not made
// unique by River: a retry of a retry has the same outbound id, and uniqueness would drop it.
type sendArgs struct {
	OutboundID int64 `json:"outbound_id"`
	At         int64 `json:"at,omitempty"`
}

func (sendArgs) Kind() string { return "gtc_send" }

// enqueueTx runs inside the store's Ingest transaction. On SQLite the jobs are written by
// the store's prepared insert (store.InsertJobs), which costs a fraction of River's
// InsertManyTx in the group commit; on PostgreSQL River inserts them.
func (s *Service) enqueueTx(ctx context.Context, tx *sql.Tx, contacts []store.ContactRef) error {
	if !s.shared {
		jobs := make([]store.Job, 0, len(contacts)/contactsPerJob+1)
		for c := range slices.Chunk(contacts, contactsPerJob) {
			args, err := json.Marshal(inboundArgs{Contacts: c})
			if err != nil {
				return err
			}
			jobs = append(jobs, store.Job{Kind: inboundArgs{}.Kind(), Args: args, MaxAttempts: s.cfg.MaxAttempts})
		}
		return s.st.InsertJobs(ctx, tx, jobs)
	}
	params := make([]river.InsertManyParams, 0, len(contacts)/contactsPerJob+1)
	for c := range slices.Chunk(contacts, contactsPerJob) {
		params = append(params, river.InsertManyParams{Args: inboundArgs{Contacts: c}})
	}
	_, err := s.ins.InsertManyTx(ctx, tx, params)
	return err
}

type inboundWorker struct {
	river.WorkerDefaults[inboundArgs]
	s *Service
}

func (w *inboundWorker) Work(ctx context.Context, job *river.Job[inboundArgs]) error {
	return w.s.processContacts(ctx, job.Args.Contacts, fmt.Sprintf("%s:job-%d", w.s.instance, job.ID))
}

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	s *Service
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	s := w.s
	var at time.Time
	if job.Args.At != 0 {
		at = time.UnixMilli(job.Args.At)
	}
	// The job's id makes the claim its own: a retry of this job after a cancelled send
	// claims again; another job for the same reply does not.
	ok, err := s.st.ClaimOutbound(ctx, job.Args.OutboundID, at, fmt.Sprintf("%s:send-%d", s.instance, job.ID))
	if err != nil || !ok {
		return err
	}
	o, err := s.st.OutboundByID(ctx, job.Args.OutboundID)
	if err != nil {
		return err
	}
	if o.State != store.OutPending && o.State != store.OutRetrying {
		return nil
	}
	c, err := s.st.Contact(ctx, o.Tenant, o.Team, o.ContactKey)
	if err != nil {
		return err
	}
	f, retryAt := s.attempt(ctx, o, c.OptedOut, c)
	if ctx.Err() != nil && f.Result.State == store.OutRetrying && f.Result.Attempted {
		return ctx.Err() // cancelled mid-send: River retries this job
	}
	s.logReply(o, f, time.Time{})
	return s.finish(context.WithoutCancel(ctx), []store.Finish{f}, []retry{{o.ID, retryAt}})
}

// finish records send outcomes and, in the same transaction, inserts the jobs of the
// scheduled retries: a retrying reply always has its job.
func (s *Service) finish(ctx context.Context, fs []store.Finish, rs []retry) error {
	if len(fs) == 0 {
		return nil
	}
	_, err := s.finishRelease(ctx, fs, rs, nil, "")
	return err
}

// finishRelease is finish, and with refs the release of those contacts' leases in the same
// transaction (store.FinishAndRelease); it returns the contacts that still have pending
// events and stay claimed.
func (s *Service) finishRelease(ctx context.Context, fs []store.Finish, rs []retry, refs []store.ContactRef, owner string) ([]store.ContactRef, error) {
	var params []river.InsertManyParams
	for _, r := range rs {
		if !r.at.IsZero() {
			params = append(params, s.sendParams(r.id, r.at))
		}
	}
	var inTx func(context.Context, *sql.Tx) error
	if len(params) > 0 {
		inTx = func(ctx context.Context, tx *sql.Tx) error {
			_, err := s.ins.InsertManyTx(ctx, tx, params)
			return err
		}
	}
	evs := s.sendFailedEvents(ctx, fs)
	if len(evs) > 0 {
		jobs := inTx
		inTx = func(ctx context.Context, tx *sql.Tx) error {
			if jobs != nil {
				if err := jobs(ctx, tx); err != nil {
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
	var more []store.ContactRef
	var err error
	if refs == nil {
		err = s.st.FinishOutbounds(ctx, fs, inTx)
	} else {
		more, err = s.st.FinishAndRelease(ctx, fs, inTx, refs, owner)
	}
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		s.wakeEvents()
	}
	return more, nil
}
