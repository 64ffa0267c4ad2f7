package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

type testJobArgs struct {
	Contacts []ContactRef `json:"contacts"`
}

func (testJobArgs) Kind() string { return "gtc_test" }

// The rows InsertJobs writes in an Ingest transaction are River's own: River's client reads
// them back as the same job its Insert makes from the same args (kind, args, queue,
// priority, state, attempts, tags, metadata), scheduled now, and its workers run both.
func TestInsertJobsAreRiverJobs(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	driver := riversqlite.New(st.DB())
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PrepareJobs(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var worked []testJobArgs
	done := make(chan struct{}, 2)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[testJobArgs]) error {
		mu.Lock()
		worked = append(worked, job.Args)
		mu.Unlock()
		done <- struct{}{}
		return nil
	}))
	client, err := river.NewClient(driver, &river.Config{Logger: slog.New(slog.DiscardHandler), MaxAttempts: 7,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}, Workers: workers,
		FetchPollInterval: 20 * time.Millisecond, FetchCooldown: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	args := testJobArgs{Contacts: []ContactRef{{"t", "t", "4915200000001"}, {"t", "t", "4915200000002"}}}
	raw, _ := json.Marshal(args)
	st.SetEnqueue(func(ctx context.Context, tx *sql.Tx, refs []ContactRef) error {
		return st.InsertJobs(ctx, tx, []Job{{Kind: args.Kind(), Args: raw, MaxAttempts: 7}})
	})
	before := time.Now().Add(-time.Second)
	if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m1", "4915200000001", t0)}); err != nil {
		t.Fatal(err)
	}
	ref, err := client.Insert(ctx, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(args.Kind()).OrderBy(river.JobListOrderByID, river.SortOrderAsc))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 2 || res.Jobs[1].ID != ref.Job.ID {
		t.Fatalf("jobs = %d, want the ingest's and River's", len(res.Jobs))
	}
	ours, theirs := res.Jobs[0], res.Jobs[1]
	if ours.State != rivertype.JobStateAvailable || ours.ScheduledAt.Before(before) || ours.ScheduledAt.After(time.Now().Add(time.Second)) {
		t.Errorf("ingest's job: state %s, scheduled %v; want available, now", ours.State, ours.ScheduledAt)
	}
	// River's SQLite insert also puts a nonce in the metadata, which only its unique inserts
	// read (to tell a new row from an existing one).
	norm := func(j *rivertype.JobRow) rivertype.JobRow {
		c := *j
		c.ID, c.CreatedAt, c.ScheduledAt = 0, time.Time{}, time.Time{}
		var md map[string]any
		if err := json.Unmarshal(c.Metadata, &md); err != nil {
			t.Fatalf("metadata %s: %v", c.Metadata, err)
		}
		delete(md, "river:unique_nonce")
		c.Metadata, _ = json.Marshal(md)
		return c
	}
	a, b := norm(ours), norm(theirs)
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	if string(aj) != string(bj) {
		t.Errorf("InsertJobs row differs from River's:\n ours   %s\n theirs %s", aj, bj)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(ctx)
	for range 2 {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the jobs were not run")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range worked {
		if len(w.Contacts) != 2 || w.Contacts[1].Key != "4915200000002" {
			t.Errorf("worker got %+v", w)
		}
	}
}
