package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/riverqueue/river"

	"github.com/greentic/gtc/pkg/store"
)

// inboundArgs is a gtc_inbound job: process the pending messages of a few contacts.
type inboundArgs struct {
	Contacts []store.ContactRef `json:"contacts"`
}

func (inboundArgs) Kind() string { return "gtc_inbound" }

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
