package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
)

// The two-instance scenario's size: modest, so that the whole test (build once, then one
// run per kill point: load, the survivor's takeover after --dead-after, the checks) stays
// around a minute on a 2-core machine, also under -race (only this driver is
// instrumented; the gtc processes are built without it).
const (
	scaleMessages    = 1500 // load messages, one per POST
	scaleContacts    = 100  // their senders
	scaleBothEvery   = 5    // every 5th POST goes to both instances, as a retry of Meta's would
	scaleConcurrency = 8
	scaleOptOuts     = 6 // contacts that send STOP to A, then a message to B
	scaleReplyWait   = 45 * time.Second
	scaleGraphDelay  = 20 * time.Millisecond // per send
	// scaleDeadAfter is the instances' --dead-after: B takes A over this long after the
	// kill (15 s by default; shorter here so that several kills fit in the test's time).
	scaleDeadAfter = 3 * time.Second
)

// scaleKills are the kill points of TestTwoInstancesOnePostgres, in acknowledged POSTs (of
// about 1,800): early (A dies with its first jobs running), in the middle, and late (with
// most of its backlog acknowledged and unfinished). Each is a run of its own on a fresh
// schema; three keep the test near a minute (GTC_LOAD_TAKEOVER_RUNS runs more).
var scaleKills = []int{150, 700, 1300}

// EnvTakeoverRuns names the variable that repeats the two-instance test's kill more often
// than once per kill point (a soak: GTC_LOAD_TAKEOVER_RUNS=20 runs 20 kills, the kill points
// in turn); see docs/testing.md.
const EnvTakeoverRuns = "GTC_LOAD_TAKEOVER_RUNS"

// TestTwoInstancesOnePostgres runs two `gtc serve` processes on one PostgreSQL database
// (issue 7), once per kill point (scaleKills): signed webhooks are spread over both, every
// 5th message is sent to both, a few contacts opt out on instance A and then write to
// instance B, and A is SIGKILLed once part of the load has been acknowledged; what A did
// not acknowledge is resent to B (as Meta resends unacknowledged webhooks, through a load
// balancer that now only knows B), and B must take over A's acknowledged but unfinished
// work once A's heartbeat is stale.
//
// Each run then checks, from the database and from what reached graphfake, that every
// acknowledged message was recorded once, processed, and had exactly one flow run (one
// outbound row per inbound event: the echo flow answers each text once), that every load
// message's echo reached Graph (at least once: a kill between Graph's 200 and the commit
// of the wamid resends that reply; those are counted, not failed), and that the opted-out
// contacts got their confirmation and no echo.
//
// What it catches: with a database per instance instead of a shared one, a message sent to
// both is processed twice, A's acknowledged backlog is never processed, and B echoes the
// opted-out contacts. GTC_LOAD_SELFCHECK=1 runs TestTwoInstancesSeparateSQLite, which does
// exactly that and requires checkScaleout to report all three (it did when written).
func TestTwoInstancesOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("the two-instance test builds gtc and runs it as subprocesses; skipped with -short")
	}
	storetest.PostgresDSN(t) // skips without PostgreSQL before building anything
	runs := len(scaleKills)
	if v := os.Getenv(EnvTakeoverRuns); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a number of runs, at least 1", EnvTakeoverRuns, v)
		}
		runs = n
	}
	rig := newScaleRig(t, time.Duration(runs)*2*time.Minute)
	resent := 0
	for i := range runs {
		kill := scaleKills[i%len(scaleKills)]
		t.Run(fmt.Sprintf("run %d kill after %d", i+1, kill), func(t *testing.T) {
			dsn := storetest.PostgresDSN(t)
			f := rig.run(t, fmt.Sprintf("scale%d", i+1), dsn, dsn, kill, scaleReplyWait)
			for _, p := range f.Problems {
				t.Error(p)
			}
			resent += f.Resent
			t.Logf("%d messages checked: one recorded event, one flow run each; %d echo replies reached Graph more than once (at-least-once sends across the kill)",
				f.Checked, f.Resent)
		})
	}
	t.Logf("%d runs, %d echo replies sent twice in all", runs, resent)
}

// TestTwoInstancesSeparateSQLite is the self-check of the test above: the same scenario
// with a SQLite file per instance (nothing shared) must be reported broken. It is opt-in
// (GTC_LOAD_SELFCHECK=1) because it waits for replies that never come.
func TestTwoInstancesSeparateSQLite(t *testing.T) {
	if os.Getenv("GTC_LOAD_SELFCHECK") == "" {
		t.Skip("set GTC_LOAD_SELFCHECK=1 to check that the two-instance test detects unshared state")
	}
	rig := newScaleRig(t, 4*time.Minute)
	f := rig.run(t, "scale", filepath.Join(rig.dir, "a.db"), filepath.Join(rig.dir, "b.db"), 500, 20*time.Second)
	want := []string{"recorded 2 times", "never got its echo", "reached opted-out contact"}
	all := strings.Join(f.Problems, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("separate databases: no problem %q reported; got:\n%s", w, all)
		}
	}
	t.Logf("separate databases, as expected:\n%s", all)
}

// scaleRig is what every run of the two-instance scenario shares: gtc built once. Each run
// has its own graphfake, status relay and bundle, so nothing of one run (a status webhook
// still queued, a wamid) reaches the next.
type scaleRig struct {
	ctx context.Context
	dir string
	gtc string
}

func newScaleRig(t *testing.T, timeout time.Duration) *scaleRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	r := &scaleRig{ctx: ctx, dir: t.TempDir()}
	var err error
	if r.gtc, err = BuildGTC(ctx, r.dir); err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs the scenario once, as run (its message ids and opted-out contacts are its own),
// with instance A on database dbA and B on dbB, A killed after killAfter acknowledged
// POSTs, and returns what checkScaleout found. It fails t only when the scenario itself
// cannot run.
func (rig *scaleRig) run(t *testing.T, run, dbA, dbB string, killAfter int, replyWait time.Duration) scaleFindings {
	ctx := rig.ctx
	dir := filepath.Join(rig.dir, run)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Graph's status webhooks go to the live instance, as Meta's reach the load balancer:
	// they settle the sends a killed instance left unclear, instead of a second send.
	relay := startStatusRelay(t)
	graph, err := StartGraphWith(Numbers(1), func(o *graphfake.Options) {
		o.StatusWebhook = graphfake.StatusWebhook{URL: relay.URL, AppSecret: LoadAppSecret, Statuses: []string{"sent"}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer graph.Close()
	bundle, err := MakeBundle(ctx, rig.gtc, dir, graph.URL)
	if err != nil {
		t.Fatal(err)
	}
	// A slow Graph keeps sends in flight, so that A dies holding contacts and unsent
	// replies that B must take over (without it A keeps up and dies with nothing open).
	graph.Recorder.SetDelay(scaleGraphDelay)
	deadAfter := "--dead-after=" + scaleDeadAfter.String()
	a, err := StartServe(ctx, rig.gtc, bundle, filepath.Join(dir, "a.log"), "--database", dbA, deadAfter)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Kill()
	b, err := StartServe(ctx, rig.gtc, bundle, filepath.Join(dir, "b.log"), "--database", dbB, deadAfter)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop(30 * time.Second)
	urlA, urlB := a.WebhookURL(), b.WebhookURL()
	relay.SetTarget(urlB)
	base := LoadConfig{AppSecret: LoadAppSecret, PhoneNumberID: LoadPhoneNumberID, Timeout: 10 * time.Second}
	acked := map[string]bool{}
	mustAck := func(what string, bs []Batch, conc int) {
		t.Helper()
		cfg := base
		cfg.Concurrency = conc
		r := Drive(ctx, cfg, bs)
		if r.Failed != 0 {
			t.Fatalf("%s: %d of %d POSTs failed: %s", what, r.Failed, r.Posts, r.FirstError)
		}
		for _, id := range r.AckedIDs {
			acked[id] = true
		}
	}

	// Opt-outs: STOP to A; half the contacts write to B at once (B must see the opt-out
	// through the database, ordered by the events' sequence), the other half after A's kill.
	var stops, followNow, followLater []Batch
	var followIDs, optOutTo []string
	for i := range scaleOptOuts {
		from := ContactNumber(100000 + i)
		optOutTo = append(optOutTo, "+"+from)
		stop := TextBatch(LoadPhoneNumberID, Inbound{ID: MessageID(run+"-stop", i), From: from, Text: "STOP"})
		stop.URL = urlA
		stops = append(stops, stop)
		id := MessageID(run+"-after-stop", i)
		followIDs = append(followIDs, id)
		fb := TextBatch(LoadPhoneNumberID, Inbound{ID: id, From: from, Text: "load " + id})
		fb.URL = urlB
		if i%2 == 0 {
			followNow = append(followNow, fb)
		} else {
			followLater = append(followLater, fb)
		}
	}
	mustAck("STOP to instance A", stops, scaleOptOuts)
	mustAck("messages after STOP to instance B", followNow, scaleOptOuts)

	// The load: each message to A or B in turn, every 5th to both, A killed mid-load.
	cfg := base
	cfg.RunID, cfg.Contacts, cfg.Messages, cfg.Batch, cfg.Concurrency = run, scaleContacts, scaleMessages, 1, scaleConcurrency
	var posts []Batch
	var loadIDs []string
	for i, bt := range Batches(cfg) {
		loadIDs = append(loadIDs, bt.IDs...)
		if i%scaleBothEvery == scaleBothEvery-1 {
			toA, toB := bt, bt
			toA.URL, toB.URL = urlA, urlB
			posts = append(posts, toA, toB)
			continue
		}
		bt.URL = []string{urlA, urlB}[i%2]
		posts = append(posts, bt)
	}
	var once sync.Once
	cfg.OnAck = func(n int) {
		if n >= killAfter {
			once.Do(a.Kill)
		}
	}
	r := Drive(ctx, cfg, posts)
	once.Do(a.Kill) // in case the run finished before the threshold
	for _, id := range r.AckedIDs {
		acked[id] = true
	}
	if r.Acked < killAfter {
		t.Fatalf("only %d POSTs acknowledged before the kill (first failure: %s)", r.Acked, r.FirstError)
	}
	if len(r.UnackedBatches) == 0 {
		t.Fatal("the kill came after the whole run: nothing was in flight on A, the test proves nothing")
	}
	t.Logf("A killed after %d acknowledged POSTs; %d POSTs were not acknowledged (A's in flight and after the kill)", killAfter, len(r.UnackedBatches))

	// Meta resends what was not acknowledged; only B answers now.
	for i := range r.UnackedBatches {
		r.UnackedBatches[i].URL = urlB
	}
	mustAck("resending unacknowledged POSTs to B", r.UnackedBatches, scaleConcurrency)
	mustAck("messages after STOP to B after the kill", followLater, scaleOptOuts)

	// Wait for every echo, then until the database has no pending event or open reply
	// (the opted-out contacts' messages are processed too, with a refused reply).
	wctx, wcancel := context.WithTimeout(ctx, replyWait)
	defer wcancel()
	start := time.Now()
	got := graph.Recorder.WaitFor(wctx, loadIDs)
	t.Logf("%d of %d echoes reached Graph after %s", got, len(loadIDs), time.Since(start).Round(100*time.Millisecond))
	dbs := []string{dbA}
	if dbB != dbA {
		dbs = append(dbs, dbB)
	}
	if err := waitQuiet(wctx, dbs); err != nil {
		t.Log(err)
	}
	if err := b.Stop(30 * time.Second); err != nil {
		t.Errorf("instance B did not exit 0 on SIGTERM: %v", err)
	}
	if log, err := os.ReadFile(b.Log); err == nil {
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, "took over the work of a dead instance") {
				t.Logf("B: %s", l)
			}
		}
	}

	in := scaleCheck{Replies: graph.Recorder.Replies(), LoadIDs: loadIDs, RefusedIDs: followIDs, OptedOut: map[string][]string{}}
	for id := range acked {
		in.IDs = append(in.IDs, id)
	}
	slices.Sort(in.IDs)
	for _, to := range optOutTo {
		in.OptedOut[to] = graph.Recorder.TextsTo(to)
	}
	for _, db := range dbs {
		evs, outs, err := readState(ctx, db, 10*len(in.IDs))
		if err != nil {
			t.Fatal(err)
		}
		in.DBs = append(in.DBs, dbState{Events: evs, Outbound: outs})
	}
	f := checkScaleout(in)
	if len(f.Problems) > 0 {
		t.Logf("server logs: %s, %s", a.Log, b.Log)
	}
	return f
}

// waitQuiet waits until no database in dsns has a pending event or an open reply.
func waitQuiet(ctx context.Context, dsns []string) error {
	for {
		busy := ""
		for _, dsn := range dsns {
			d, err := queueDepth(ctx, dsn)
			if err != nil {
				return err
			}
			if d.PendingEvents > 0 || d.OpenOutbound > 0 {
				busy = fmt.Sprintf("%d pending events, %d open replies", d.PendingEvents, d.OpenOutbound)
			}
		}
		if busy == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not quiet: %s", busy)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func queueDepth(ctx context.Context, dsn string) (store.Depth, error) {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return store.Depth{}, err
	}
	defer st.Close()
	return st.QueueDepth(ctx)
}

// readState reads every inbound event and outbound message of database dsn.
func readState(ctx context.Context, dsn string, limit int) ([]*store.StoredEvent, []*store.Outbound, error) {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	evs, err := st.InboundEvents(ctx, store.EventFilter{Kind: store.KindMessage, Limit: limit})
	if err != nil {
		return nil, nil, err
	}
	outs, err := st.OutboundMessages(ctx, store.OutboundFilter{Limit: limit})
	if err != nil {
		return nil, nil, err
	}
	if len(evs) >= limit || len(outs) >= limit {
		return nil, nil, fmt.Errorf("%s: more than %d rows, raise the limit", dsn, limit)
	}
	return evs, outs, nil
}

// scaleCheck is what the two-instance scenario observed.
type scaleCheck struct {
	IDs        []string               // every message acknowledged at least once
	LoadIDs    []string               // messages whose echo must reach Graph
	RefusedIDs []string               // messages of opted-out contacts: one flow run, its reply refused
	DBs        []dbState              // each instance's database (one when shared)
	Replies    map[string][]time.Time // echoes that reached Graph, by inbound id
	OptedOut   map[string][]string    // texts that reached each opted-out recipient
}

// dbState is what one database holds.
type dbState struct {
	Events   []*store.StoredEvent
	Outbound []*store.Outbound
}

// scaleFindings is what checkScaleout found: failures, and duplicates that are allowed.
type scaleFindings struct {
	Problems []string
	Checked  int // messages checked
	Resent   int // load messages whose echo reached Graph more than once
}

// checkScaleout judges the scenario: each acknowledged message recorded once, processed,
// with exactly one outbound row (the echo flow's one reply, or the opt-out confirmation);
// each load message's echo delivered; opted-out contacts sent their confirmation only.
// Problems of one kind are summarised after the first few.
func checkScaleout(in scaleCheck) scaleFindings {
	var f scaleFindings
	counts := map[string]int{}
	add := func(kind, format string, args ...any) {
		counts[kind]++
		if counts[kind] <= 5 {
			f.Problems = append(f.Problems, fmt.Sprintf(format, args...))
		}
	}
	type seqKey struct {
		db  int
		seq int64
	}
	events := map[string][]seqKey{}
	state := map[seqKey]string{}
	outs := map[seqKey][]*store.Outbound{}
	for db, d := range in.DBs {
		for _, e := range d.Events {
			k := seqKey{db, e.Seq}
			events[e.MessageID] = append(events[e.MessageID], k)
			state[k] = e.State
		}
		for _, o := range d.Outbound {
			if o.InboundSeq != 0 {
				k := seqKey{db, o.InboundSeq}
				outs[k] = append(outs[k], o)
			}
		}
	}
	refused := map[string]bool{}
	for _, id := range in.RefusedIDs {
		refused[id] = true
	}
	for _, id := range in.IDs {
		f.Checked++
		evs := events[id]
		if len(evs) != 1 {
			add("recorded", "message %s recorded %d times, want once", id, len(evs))
		}
		runs := 0
		for _, k := range evs {
			if state[k] != "processed" {
				add("state", "message %s is %q, want processed", id, state[k])
			}
			for _, o := range outs[k] {
				runs++
				if refused[id] && (o.State != store.OutRefused || o.ErrorClass != "opted_out") {
					add("refusal", "message %s of an opted-out contact: reply %s/%s, want refused/opted_out", id, o.State, o.ErrorClass)
				}
			}
		}
		if len(evs) == 1 && runs != 1 {
			add("runs", "message %s had %d flow runs, want exactly 1", id, runs)
		}
	}
	for _, id := range in.LoadIDs {
		switch n := len(in.Replies[id]); {
		case n == 0:
			add("echo", "message %s never got its echo", id)
		case n > 1:
			f.Resent++
		}
	}
	recipients := make([]string, 0, len(in.OptedOut))
	for to := range in.OptedOut {
		recipients = append(recipients, to)
	}
	slices.Sort(recipients)
	for _, to := range recipients {
		texts := in.OptedOut[to]
		if len(texts) == 0 {
			add("confirm", "opted-out contact %s got no confirmation", to)
		}
		for _, tx := range texts {
			if strings.HasPrefix(tx, "echo ") {
				add("optout", "an echo reached opted-out contact %s: %q", to, tx)
			}
		}
	}
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		if n > 5 {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		f.Problems = append(f.Problems, fmt.Sprintf("… %d problems of kind %q in all", counts[k], k))
	}
	return f
}

// TestCheckScaleout shows that each broken outcome of the scenario is reported, and that a
// reply sent twice is counted, not failed.
func TestCheckScaleout(t *testing.T) {
	ev := func(seq int64, id, state string) *store.StoredEvent {
		return &store.StoredEvent{Seq: seq, MessageID: id, State: state}
	}
	out := func(seq int64, state, class string) *store.Outbound {
		return &store.Outbound{InboundSeq: seq, State: state, ErrorClass: class}
	}
	now := time.Now()
	good := func() scaleCheck {
		return scaleCheck{
			IDs: []string{"m1", "m2", "s1"}, LoadIDs: []string{"m1"}, RefusedIDs: []string{"m2"},
			DBs: []dbState{{
				Events:   []*store.StoredEvent{ev(1, "m1", "processed"), ev(2, "s1", "processed"), ev(3, "m2", "processed")},
				Outbound: []*store.Outbound{out(1, store.OutSent, ""), out(2, store.OutSent, ""), out(3, store.OutRefused, "opted_out")},
			}},
			Replies:  map[string][]time.Time{"m1": {now, now}},
			OptedOut: map[string][]string{"+1": {"You have unsubscribed"}},
		}
	}
	tests := []struct {
		name   string
		mutate func(c *scaleCheck)
		want   string // a problem containing this; "" for none
	}{
		{"clean, one reply resent", func(c *scaleCheck) {}, ""},
		{"recorded twice", func(c *scaleCheck) {
			c.DBs = append(c.DBs, dbState{Events: []*store.StoredEvent{ev(1, "m1", "processed")}, Outbound: []*store.Outbound{out(1, store.OutSent, "")}})
		}, "m1 recorded 2 times"},
		{"never processed", func(c *scaleCheck) { c.DBs[0].Events[0].State = "pending"; c.DBs[0].Outbound[0].InboundSeq = 0 }, `m1 is "pending"`},
		{"two flow runs", func(c *scaleCheck) { c.DBs[0].Outbound = append(c.DBs[0].Outbound, out(2, store.OutSent, "")) }, "s1 had 2 flow runs"},
		{"echo missing", func(c *scaleCheck) { c.Replies = nil }, "m1 never got its echo"},
		{"reply to opted-out sent", func(c *scaleCheck) { c.DBs[0].Outbound[2].State = store.OutSent }, "m2 of an opted-out contact"},
		{"echo to opted-out", func(c *scaleCheck) { c.OptedOut["+1"] = append(c.OptedOut["+1"], "echo load m2") }, "an echo reached opted-out contact +1"},
		{"no confirmation", func(c *scaleCheck) { c.OptedOut["+1"] = nil }, "+1 got no confirmation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mutate(&c)
			f := checkScaleout(c)
			all := strings.Join(f.Problems, "\n")
			switch {
			case tt.want == "" && len(f.Problems) > 0:
				t.Errorf("problems reported:\n%s", all)
			case tt.want != "" && !strings.Contains(all, tt.want):
				t.Errorf("want a problem %q, got:\n%s", tt.want, all)
			}
			if f.Checked != 3 {
				t.Errorf("checked %d, want 3", f.Checked)
			}
			if tt.want == "" && f.Resent != 1 {
				t.Errorf("resent = %d, want 1", f.Resent)
			}
		})
	}
}
