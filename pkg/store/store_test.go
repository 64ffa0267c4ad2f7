package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/greentic/gtc/pkg/store/storetest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func openTest(t *testing.T, b storetest.Backend, opts Options) (*Store, string) {
	t.Helper()
	path := b.DSN(t)
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	st, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func msg(id, from string, ts time.Time) InboundEvent {
	return InboundEvent{Kind: KindMessage, DedupeKey: "msg:" + id, Raw: []byte(`{"kind":"message"}`), ContactKey: from,
		MessageID: id, MessageType: "text", WaID: from, Timestamp: ts}
}

func TestOpenMigratesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, dsn := openTest(t, b, Options{})
		want := latestVersion(t, st)
		v, err := st.SchemaVersion(context.Background())
		if err != nil || v != want {
			t.Fatalf("version = %d, %v; want %d", v, err, want)
		}
		st.Close()
		st2, err := Open(context.Background(), dsn, Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer st2.Close()
		if v, _ := st2.SchemaVersion(context.Background()); v != want {
			t.Fatalf("after reopen version = %d", v)
		}
	})
}

// Instances started together on one PostgreSQL database migrate one at a time.
func TestOpenConcurrentlyOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Open(context.Background(), dsn, Options{})
			if err != nil {
				errs <- err
				return
			}
			st.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent open: %v", err)
	}
}

func TestOpenRefusesBadDSNs(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"", "no database path given"},
		{"postgres://gtc:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "postgres://gtc:xxxxx@127.0.0.1:1/db"},
		{"postgres://gtc:s3cret@[::1", "not a valid PostgreSQL URL"},
	}
	for _, tt := range tests {
		_, err := Open(context.Background(), tt.dsn, Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", tt.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %q; want it to contain %q and never the password", tt.dsn, err, tt.want)
		}
	}
}

func TestIngestDedupesAndUpdatesContacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var enqueued []ContactRef
		st, _ := openTest(t, b, Options{Enqueue: func(ctx context.Context, tx *sql.Tx, c []ContactRef) error {
			enqueued = append(enqueued, c...)
			return nil
		}})
		tests := []struct {
			name       string
			events     []InboundEvent
			wantNew    int
			wantDup    int
			wantEnqued int
		}{
			{"two contacts", []InboundEvent{msg("a1", "111", t0), msg("a2", "111", t0.Add(time.Second)), msg("b1", "222", t0)}, 3, 0, 2},
			{"all duplicates", []InboundEvent{msg("a1", "111", t0), msg("b1", "222", t0)}, 0, 2, 0},
			{"duplicate inside one call", []InboundEvent{msg("c1", "333", t0), msg("c1", "333", t0)}, 1, 1, 1},
			{"status without outbound", []InboundEvent{{Kind: KindStatus, DedupeKey: "status:w:sent", Raw: []byte(`{}`),
				Status: &StatusUpdate{WAMID: "w", Status: "sent", At: t0}}}, 1, 0, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				enqueued = nil
				res, err := st.Ingest(ctx, "acme", "support", tt.events)
				if err != nil {
					t.Fatal(err)
				}
				if res.New != tt.wantNew || res.Duplicates != tt.wantDup || len(enqueued) != tt.wantEnqued {
					t.Fatalf("got new=%d dup=%d enqueued=%d; want %d %d %d", res.New, res.Duplicates, len(enqueued), tt.wantNew, tt.wantDup, tt.wantEnqued)
				}
			})
		}
		c, err := st.Contact(ctx, "acme", "support", "111")
		if err != nil {
			t.Fatal(err)
		}
		if !c.Known || !c.LastInboundAt.Equal(t0.Add(time.Second)) || !c.WindowOpen(t0.Add(time.Hour)) || c.WindowOpen(t0.Add(25*time.Hour)) {
			t.Fatalf("contact = %+v", c)
		}
		if c, _ := st.Contact(ctx, "acme", "support", "999"); c.Known || c.WindowOpen(t0) {
			t.Fatalf("unknown contact = %+v", c)
		}
		evs, _ := st.PendingEvents(ctx, ContactRef{"acme", "support", "111"}, 10)
		if len(evs) != 2 || evs[0].MessageID != "a1" || evs[1].MessageID != "a2" {
			t.Fatalf("pending events = %+v", evs)
		}
	})
}

func TestIngestEnqueueErrorRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{Enqueue: func(context.Context, *sql.Tx, []ContactRef) error { return fmt.Errorf("boom") }})
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("x", "1", t0)}); err == nil {
			t.Fatal("want error")
		}
		if evs, _ := st.InboundEvents(ctx, EventFilter{}); len(evs) != 0 {
			t.Fatalf("rolled back batch left %d events", len(evs))
		}
	})
}

func TestIngestGroupCommitConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var mu sync.Mutex
		calls := 0
		st, _ := openTest(t, b, Options{Enqueue: func(context.Context, *sql.Tx, []ContactRef) error {
			mu.Lock()
			calls++
			mu.Unlock()
			return nil
		}})
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Every message is sent twice, by two callers: exactly one records it.
				id := fmt.Sprintf("m%d", i/2)
				if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg(id, fmt.Sprint(i/2), t0)}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		evs, _ := st.InboundEvents(ctx, EventFilter{Limit: 1000})
		if len(evs) != n/2 {
			t.Fatalf("recorded %d events, want %d", len(evs), n/2)
		}
		t.Logf("%d callers, %d transactions", n, calls)
		if calls > n/2 {
			t.Fatalf("%d enqueue calls for %d new messages: no grouping at all?", calls, n/2)
		}
	})
}

func TestStatusesMoveOutboundForwardOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		ids, err := st.RecordOutbound(ctx, "t", "t", []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FinishOutbound(ctx, ids[0], OutboundResult{State: OutSent, WAMID: "wamid.1", Attempted: true}); err != nil {
			t.Fatal(err)
		}
		status := func(s string, code int, class string, unreachable bool) InboundEvent {
			return InboundEvent{Kind: KindStatus, DedupeKey: "status:wamid.1:" + s, Raw: []byte(`{}`),
				Status: &StatusUpdate{WAMID: "wamid.1", Status: s, At: t0, ErrorCode: code, ErrorClass: class, Unreachable: unreachable}}
		}
		steps := []struct {
			status    string
			code      int
			class     string
			wantState string
		}{
			{"read", 0, "", "read"},
			{"delivered", 0, "", "read"}, // late: does not move back
			{"sent", 0, "", "read"},
			{"failed", 131026, "unreachable", "failed"},
		}
		for _, s := range steps {
			t.Run(s.status, func(t *testing.T) {
				if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{status(s.status, s.code, s.class, s.code == 131026)}); err != nil {
					t.Fatal(err)
				}
				o, err := st.OutboundByID(ctx, ids[0])
				if err != nil {
					t.Fatal(err)
				}
				if o.State != s.wantState || o.Attempts != 1 {
					t.Fatalf("state = %s attempts = %d, want %s", o.State, o.Attempts, s.wantState)
				}
			})
		}
		o, _ := st.OutboundByID(ctx, ids[0])
		if o.ErrorClass != "unreachable" || o.ErrorCode != 131026 {
			t.Fatalf("failed status not recorded: %+v", o)
		}
		c, _ := st.Contact(ctx, "t", "t", "1")
		if c.UnreachableCode != 131026 {
			t.Fatalf("contact not marked unreachable: %+v", c)
		}
		if sts, _ := st.Statuses(ctx, "wamid.1"); len(sts) != 4 {
			t.Fatalf("statuses = %+v", sts)
		}
	})
}

func TestCompleteEventOnceAndLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		ref := ContactRef{"t", "t", "1"}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("a", "1", t0)}); err != nil {
			t.Fatal(err)
		}
		ok, err := st.ClaimContact(ctx, ref, "job1", t0.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("claim = %v %v", ok, err)
		}
		if ok, _ := st.ClaimContact(ctx, ref, "job2", t0.Add(time.Minute)); ok {
			t.Fatal("second owner claimed a held lease")
		}
		if more, _ := st.ReleaseContact(ctx, ref, "job1"); !more {
			t.Fatal("release with a pending event must report more")
		}
		evs, _ := st.PendingEvents(ctx, ref, 10)
		reply := []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginOptOut, MessageType: "text", Request: []byte(`{}`)}}
		ids, done, err := st.CompleteEvent(ctx, evs[0], &OptChange{OptedOut: true, At: t0}, reply)
		if err != nil || !done || len(ids) != 1 {
			t.Fatalf("complete = %v %v %v", ids, done, err)
		}
		if _, done, _ := st.CompleteEvent(ctx, evs[0], nil, reply); done {
			t.Fatal("event completed twice")
		}
		if open, _ := st.OpenOutbound(ctx); len(open) != 1 {
			t.Fatalf("open outbound = %d, want 1", len(open))
		}
		if c, _ := st.Contact(ctx, "t", "t", "1"); !c.OptedOut {
			t.Fatal("opt-out not recorded")
		}
		if more, _ := st.ReleaseContact(ctx, ref, "job1"); more {
			t.Fatal("nothing pending, release must succeed")
		}
		if ok, _ := st.ClaimContact(ctx, ref, "job2", t0.Add(time.Minute)); !ok {
			t.Fatal("released lease not claimable")
		}
		if err := st.ClearLeases(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.ClaimContact(ctx, ref, "job3", t0.Add(time.Minute)); !ok {
			t.Fatal("cleared lease not claimable")
		}
		d, _ := st.QueueDepth(ctx)
		if d.PendingEvents != 0 || d.OpenOutbound != 1 {
			t.Fatalf("depth = %+v", d)
		}
	})
}

// BenchmarkIngest measures acknowledged events per second through the group commit: one
// event per call from 16, 32 or 64 concurrent callers (webhook connections), durable (the
// answer waits for the disk) or not, to show what the sync costs; "+worker" adds a
// goroutine that commits a small transaction for every 10 events ingested, as the job
// workers do.
func BenchmarkIngest(b *testing.B) {
	for _, durable := range []bool{true, false} {
		for _, callers := range []int{16, 32, 64} {
			for _, worker := range []bool{false, true} {
				name := fmt.Sprintf("durable=%v/callers=%d", durable, callers)
				if worker {
					name += "+worker"
				}
				b.Run(name, func(b *testing.B) { benchIngest(b, durable, callers, worker) })
			}
		}
	}
}

func benchIngest(b *testing.B, durable bool, callers int, worker bool) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(b.TempDir(), "gtc.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if !durable {
		// The ingest connection is the one idb connection: the setting stays.
		if _, err := st.idb.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
			b.Fatal(err)
		}
	}
	work := make(chan int64, 1<<16)
	var workerDone sync.WaitGroup
	commits := 0
	if worker {
		workerDone.Add(1)
		go func() {
			defer workerDone.Done()
			for i := range work {
				ref := ContactRef{"t", "t", fmt.Sprint(i % 1000)}
				if _, err := st.ClaimContacts(ctx, []ContactRef{ref}, "w", t0.Add(time.Minute)); err != nil {
					b.Error(err)
					return
				}
				commits++
			}
		}()
	}
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var n atomic.Int64
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg(fmt.Sprint("m", i), fmt.Sprint(i%1000), t0)}); err != nil {
				b.Fatal(err)
			}
			if worker && i%10 == 0 {
				work <- i
			}
		}
	})
	elapsed := time.Since(start)
	close(work)
	workerDone.Wait()
	b.ReportMetric(float64(n.Load())/elapsed.Seconds(), "events/s")
	if worker {
		b.ReportMetric(float64(commits)/time.Since(start).Seconds(), "worker-commits/s")
	}
}

func TestStatusBeforeSendIsRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		tests := []struct {
			name      string
			statuses  []string
			code      int
			wantState string
		}{
			{"sent only", []string{"sent"}, 0, "sent"},
			{"delivered and read early", []string{"delivered", "read"}, 0, "read"},
			{"failed early", []string{"sent", "failed"}, 131026, "failed"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st, _ := openTest(t, b, Options{})
				wamid := fmt.Sprint("wamid.early", i)
				ids, err := st.RecordOutbound(ctx, "t", "t", []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range tt.statuses {
					u := &StatusUpdate{WAMID: wamid, Status: s, At: t0}
					if s == "failed" {
						u.ErrorCode, u.ErrorClass, u.Unreachable = tt.code, "unreachable", true
					}
					if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{{Kind: KindStatus, DedupeKey: "status:" + wamid + ":" + s, Raw: []byte(`{}`), Status: u}}); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.FinishOutbound(ctx, ids[0], OutboundResult{State: OutSent, WAMID: wamid, Attempted: true}); err != nil {
					t.Fatal(err)
				}
				o, _ := st.OutboundByID(ctx, ids[0])
				if o.State != tt.wantState || o.ErrorCode != tt.code {
					t.Fatalf("state = %s code %d, want %s %d", o.State, o.ErrorCode, tt.wantState, tt.code)
				}
				if c, _ := st.Contact(ctx, "t", "t", "1"); (tt.code != 0) != (c.UnreachableCode != 0) {
					t.Fatalf("contact unreachable = %d", c.UnreachableCode)
				}
			})
		}
	})
}

// A send is marked (sending, with its attempt) by one owner at a time; its outcome counts
// only while the row is still that send; an ambiguous row is taken again only after its
// window; a status webhook carrying the current attempt settles it; a dead owner's sends
// become ambiguous.
func TestSendSteps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		ids, err := st.RecordOutbound(ctx, "t", "t", []NewOutbound{
			{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)},
			{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		id := ids[0]
		start := func(owner string, unclearBefore time.Time) int {
			t.Helper()
			step := &SendStep{Start: []Start{{ID: id, Owner: owner, UnclearBefore: unclearBefore}}}
			if err := st.SendSteps(ctx, []*SendStep{step}); err != nil {
				t.Fatal(err)
			}
			return step.Start[0].Attempt
		}
		finish := func(f Finish) {
			t.Helper()
			if err := st.SendSteps(ctx, []*SendStep{{Finish: []Finish{f}}}); err != nil {
				t.Fatal(err)
			}
		}
		row := func() *Outbound {
			t.Helper()
			o, err := st.OutboundByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
		if a := start("i1:send-1", time.Time{}); a != 1 {
			t.Fatalf("first start = attempt %d", a)
		}
		if o := row(); o.State != OutSending || o.Attempts != 1 || o.Sender != "i1:send-1" {
			t.Fatalf("marked row = %+v", o)
		}
		if a := start("i2:send-2", time.Time{}); a != 0 {
			t.Fatal("another owner took a row being sent")
		}
		finish(Finish{ID: id, Owner: "i2:send-2", Attempt: 1, Result: OutboundResult{State: OutFailed}})
		if o := row(); o.State != OutSending {
			t.Fatalf("another owner's outcome counted: %+v", o)
		}
		finish(Finish{ID: id, Owner: "i1:send-1", Attempt: 1, Result: OutboundResult{State: OutAmbiguous, ErrorClass: "unclear", NextAttemptAt: t0}})
		if o := row(); o.State != OutAmbiguous || o.Sender != "" || !o.NextAttemptAt.Equal(t0) {
			t.Fatalf("ambiguous row = %+v", o)
		}
		if a := start("i2:send-2", time.Time{}); a != 0 {
			t.Fatal("an ambiguous row was taken without its window")
		}
		if a := start("i2:send-2", t0); a != 0 {
			t.Fatal("an ambiguous row was taken before its window passed")
		}
		if a := start("i2:send-2", t0.Add(time.Millisecond)); a != 2 {
			t.Fatalf("resend after the window = attempt %d, want 2", a)
		}
		status := func(wamid string, attempt int) InboundEvent {
			return InboundEvent{Kind: KindStatus, DedupeKey: "status:" + wamid + ":sent", Raw: []byte(`{}`),
				Status: &StatusUpdate{WAMID: wamid, Status: "sent", At: t0, OutboundID: id, Attempt: attempt}}
		}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{status("wamid.first", 1)}); err != nil {
			t.Fatal(err)
		}
		if o := row(); o.State != OutSending || o.WAMID != "" {
			t.Fatalf("a status for an earlier attempt settled the row: %+v", o)
		}
		if _, err := st.Ingest(ctx, "other", "t", []InboundEvent{status("wamid.other", 2)}); err != nil {
			t.Fatal(err)
		}
		if o := row(); o.State != OutSending {
			t.Fatalf("another tenant's status settled the row: %+v", o)
		}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{status("wamid.second", 2)}); err != nil {
			t.Fatal(err)
		}
		if o := row(); o.State != OutSent || o.WAMID != "wamid.second" || o.Sender != "" {
			t.Fatalf("settled row = %+v", o)
		}
		finish(Finish{ID: id, Owner: "i2:send-2", Attempt: 2, Result: OutboundResult{State: OutAmbiguous, NextAttemptAt: t0}})
		if o := row(); o.State != OutSent {
			t.Fatalf("a late outcome undid the status: %+v", o)
		}

		// A dead owner's send under way becomes ambiguous, from the time it was marked.
		id = ids[1]
		if a := start("dead:job-1", time.Time{}); a != 1 {
			t.Fatalf("start = %d", a)
		}
		got, err := st.UnclearSends(ctx, nil, "dead:")
		if err != nil || len(got) != 1 || got[0].ID != id || !got[0].NextAttemptAt.Equal(t0) {
			t.Fatalf("unclear sends = %+v, %v", got, err)
		}
		if o := row(); o.State != OutAmbiguous || o.Sender != "" {
			t.Fatalf("after the owner died: %+v", o)
		}
	})
}

// Instances are alive by the database's clock; a reap takes the dead one's leases and
// replies once.
func TestInstancesReap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		if err := st.RegisterInstance(ctx, "i1"); err != nil {
			t.Fatal(err)
		}
		ins, err := st.Instances(ctx)
		if err != nil || len(ins) != 1 {
			t.Fatalf("instances = %v, %v", ins, err)
		}
		if d := time.Since(ins["i1"]); d < -time.Minute || d > time.Minute {
			t.Fatalf("seen_at %v is not the database's now (off by %v)", ins["i1"], d)
		}
		if alive, err := st.Heartbeat(ctx, "i1"); err != nil || !alive {
			t.Fatalf("heartbeat = %v, %v", alive, err)
		}
		ref := ContactRef{Tenant: "t", Team: "t", Key: "1"}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m1", "1", t0)}); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.ClaimContact(ctx, ref, "i1:job-1", t0.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if got, err := st.ReapInstances(ctx, time.Hour, "", nil); err != nil || len(got) != 0 {
			t.Fatalf("reaped a live instance: %+v, %v", got, err)
		}
		// Dead after 0 means last seen before now: let the database's clock move on a tick.
		time.Sleep(2 * time.Millisecond)
		got, err := st.ReapInstances(ctx, 0, "", nil)
		if err != nil || len(got) != 1 || got[0].Instance != "i1" || len(got[0].Contacts) != 1 || got[0].Contacts[0] != ref {
			t.Fatalf("reap = %+v, %v", got, err)
		}
		if again, _ := st.ReapInstances(ctx, 0, "", nil); len(again) != 0 {
			t.Fatalf("reaped twice: %+v", again)
		}
		if alive, _ := st.Heartbeat(ctx, "i1"); alive {
			t.Fatal("a reaped instance's heartbeat must say so")
		}
		if ok, _ := st.ClaimContact(ctx, ref, "i2:job-9", t0); !ok {
			t.Fatal("the reaped lease is not free")
		}
	})
}

// FinishAndRelease records the sends and, in the same transaction, releases the contacts
// with nothing pending; a contact with a pending event stays claimed and is returned.
func TestFinishAndRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		done, busy := ContactRef{"t", "t", "1"}, ContactRef{"t", "t", "2"}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("a", "1", t0), msg("b", "2", t0)}); err != nil {
			t.Fatal(err)
		}
		got, err := st.ClaimContacts(ctx, []ContactRef{done, busy}, "job1", t0.Add(time.Minute))
		if err != nil || len(got) != 2 {
			t.Fatalf("claim = %v %v", got, err)
		}
		evs, _ := st.PendingEvents(ctx, done, 10)
		reply := []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginFlow, MessageType: "text", Request: []byte(`{}`), Sender: "job1"}}
		ids, ok, err := st.CompleteEvent(ctx, evs[0], nil, reply)
		if err != nil || !ok {
			t.Fatalf("complete = %v %v", ok, err)
		}
		ran := false
		more, err := st.FinishAndRelease(ctx, []Finish{{ID: ids[0], Result: OutboundResult{State: OutSent, WAMID: "wamid.1", Attempted: true}}},
			func(context.Context, *sql.Tx) error { ran = true; return nil }, []ContactRef{done, busy}, "job1")
		if err != nil {
			t.Fatal(err)
		}
		if !ran || len(more) != 1 || more[0] != busy {
			t.Fatalf("inTx ran %v, more = %v; want the contact with a pending event", ran, more)
		}
		if o, _ := st.OutboundByID(ctx, ids[0]); o.State != OutSent || o.WAMID != "wamid.1" || o.Sender != "" {
			t.Fatalf("outbound = %s %q sender %q", o.State, o.WAMID, o.Sender)
		}
		if ok, _ := st.ClaimContact(ctx, done, "job2", t0.Add(time.Minute)); !ok {
			t.Fatal("released contact not claimable")
		}
		if ok, _ := st.ClaimContact(ctx, busy, "job2", t0.Add(time.Minute)); ok {
			t.Fatal("contact with a pending event was released")
		}
	})
}
