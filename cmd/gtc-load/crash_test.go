package main

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

// TestCrashRecovery builds gtc, runs `gtc serve` against graphfake, SIGKILLs it while
// webhooks are being acknowledged, restarts it, resends what was not acknowledged (as Meta
// would), and checks that every message got exactly one flow run: one echo reply each.
func TestCrashRecovery(t *testing.T) {
	rig := newCrashRig(t, 3*time.Minute)
	ctx, dir, gtc, graph, bundle := rig.ctx, rig.dir, rig.gtc, rig.graph, rig.bundle
	logPath := filepath.Join(dir, "serve.log")
	p, err := StartServe(ctx, gtc, bundle, logPath)
	if err != nil {
		t.Fatal(err)
	}

	cfg := LoadConfig{URL: p.WebhookURL(), AppSecret: LoadAppSecret, PhoneNumberID: LoadPhoneNumberID,
		RunID: "crash", Contacts: 40, Messages: 3000, Batch: 5, Concurrency: 8, Timeout: 10 * time.Second}
	var once sync.Once
	cfg.OnAck = func(acked int) {
		if acked >= 120 {
			once.Do(p.Kill)
		}
	}
	batches := Batches(cfg)
	r := Drive(ctx, cfg, batches)
	once.Do(p.Kill) // in case the run finished before the threshold
	if r.Acked < 120 {
		t.Fatalf("only %d POSTs acknowledged before the kill (first failure: %s)", r.Acked, r.FirstError)
	}
	if len(r.UnackedBatches) == 0 {
		t.Fatalf("the kill came after the whole run: nothing was in flight, the test proves nothing")
	}
	t.Logf("killed after %d acknowledged POSTs; %d POSTs not acknowledged", r.Acked, len(r.UnackedBatches))

	p2, err := StartServe(ctx, gtc, bundle, logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Stop(30 * time.Second)
	cfg.URL, cfg.OnAck = p2.WebhookURL(), nil
	r2 := Drive(ctx, cfg, r.UnackedBatches)
	if r2.Failed != 0 {
		t.Fatalf("%d resent POSTs failed after the restart: %s", r2.Failed, r2.FirstError)
	}

	var all []string
	for _, b := range batches {
		all = append(all, b.IDs...)
	}
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if got := graph.Recorder.WaitFor(wctx, all); got != len(all) {
		t.Errorf("%d of %d messages got a reply (server log: %s)", got, len(all), logPath)
	}
	if err := p2.Stop(30 * time.Second); err != nil {
		t.Errorf("gtc serve did not exit 0 on SIGTERM: %v", err)
	}

	// Flow runs: the outbound log holds one reply row per flow run.
	st, err := store.Open(ctx, filepath.Join(bundle, "state", "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out, err := st.OutboundMessages(ctx, store.OutboundFilter{Limit: 10 * len(all)})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, o := range out {
		runs[inboundIDIn(string(o.Request))]++
	}
	replies := graph.Recorder.Replies()
	acked := map[string]bool{}
	for _, id := range r.AckedIDs {
		acked[id] = true
	}
	var missingAcked, twice, resent int
	for _, id := range all {
		if runs[id] != 1 {
			twice++
			if twice <= 5 {
				t.Errorf("message %s had %d flow runs, want exactly 1", id, runs[id])
			}
		}
		n := len(replies[id])
		if n == 0 && acked[id] {
			missingAcked++
		}
		if n > 1 {
			resent++
		}
	}
	if missingAcked > 0 {
		t.Errorf("%d messages acknowledged before the crash never got their reply", missingAcked)
	}
	if twice > 0 {
		t.Errorf("%d messages did not have exactly one flow run", twice)
	}
	// Sends are at least once (Graph has no idempotency key): a reply whose 200 came back
	// but whose wamid was not committed before the kill is sent again after the restart.
	t.Logf("%d of %d messages: exactly one flow run each; %d replies were sent twice across the crash (at-least-once sends)", len(all), len(all), resent)
}
