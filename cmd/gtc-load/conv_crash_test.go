package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

// TallyFlow keeps a conversation per contact: every text (the first starts it, the next
// ones answer its question) is counted once in vars.count and user.answers and echoed with
// its number, then the question is asked again; a question left unanswered for 20 s times
// out with the count.
const TallyFlow = `name: tally
version: "1.0"
nodes:
  - id: count
    type: set
    config:
      vars:
        count: "(vars.count ?? 0) + 1"
      user:
        answers: "(user.answers ?? 0) + 1"
    next: echo
  - id: echo
    type: reply
    config:
      message: "got {{message.text}} #{{vars.count}}"
    next: ask
  - id: ask
    type: ask
    config:
      message: "next?"
      save_as: last
      timeout: 20s
      on_timeout: late
    next: count
  - id: late
    type: reply
    config:
      message: "timed out after {{vars.count}}"
triggers:
  - type: text
    target: count
`

// TestConversationCrashRecovery SIGKILLs gtc serve while many conversations wait for
// answers and answers are being processed, restarts it and resends what was not
// acknowledged (as Meta would). Every answer must advance its conversation exactly once
// (user.answers and the echoed numbers count each message once, none skipped or doubled),
// and the questions' timeouts, scheduled before and after the crash, must still fire.
func TestConversationCrashRecovery(t *testing.T) {
	rig := newCrashRig(t, 4*time.Minute)
	ctx, dir, gtc, graph, bundle := rig.ctx, rig.dir, rig.gtc, rig.graph, rig.bundle
	flows := filepath.Join(bundle, "flows")
	if err := os.Remove(filepath.Join(flows, "echo.ygtc")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flows, "tally.ygtc"), []byte(TallyFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "serve.log")
	p, err := StartServe(ctx, gtc, bundle, logPath)
	if err != nil {
		t.Fatal(err)
	}

	// Batch 1 keeps each contact's messages in order across POSTs (Concurrency 1 would be
	// too slow; a contact's messages are Contacts apart, so with 4 in flight they arrive in
	// order unless a POST is retried, which the check below allows for).
	const contacts, perContact = 30, 12
	cfg := LoadConfig{URL: p.WebhookURL(), AppSecret: LoadAppSecret, PhoneNumberID: LoadPhoneNumberID,
		RunID: "conv", Contacts: contacts, Messages: contacts * perContact, Batch: 3, Concurrency: 4, Timeout: 10 * time.Second}
	// A few conversations start before the load: their questions' timeout jobs are
	// scheduled before the crash and must fire after it.
	const early = 5
	var earlyBatches []Batch
	var earlyIDs []string
	for i := range early {
		id := fmt.Sprintf("wamid.load.early.%d", i)
		earlyIDs = append(earlyIDs, id)
		earlyBatches = append(earlyBatches, TextBatch(LoadPhoneNumberID, Inbound{ID: id, From: ContactNumber(1000 + i), Text: "load " + id}))
	}
	if r0 := Drive(ctx, cfg, earlyBatches); r0.Failed != 0 {
		t.Fatalf("early POSTs failed: %s", r0.FirstError)
	}
	ectx, ecancel := context.WithTimeout(ctx, 30*time.Second)
	if got := graph.Recorder.WaitFor(ectx, earlyIDs); got != early {
		t.Fatalf("%d of %d early conversations answered", got, early)
	}
	ecancel()

	var once sync.Once
	cfg.OnAck = func(acked int) {
		if acked >= 40 {
			once.Do(p.Kill)
		}
	}
	batches := Batches(cfg)
	r := Drive(ctx, cfg, batches)
	once.Do(p.Kill)
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
	if r2 := Drive(ctx, cfg, r.UnackedBatches); r2.Failed != 0 {
		t.Fatalf("%d resent POSTs failed after the restart: %s", r2.Failed, r2.FirstError)
	}
	var all []string
	for _, b := range batches {
		all = append(all, b.IDs...)
	}
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if got := graph.Recorder.WaitFor(wctx, all); got != len(all) {
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("%d of %d answers got their echo; server log:\n%s", got, len(all), tail(string(logs), 40))
	}

	// Every conversation's last question times out 20 s after its answer, through a River
	// job (jobs scheduled before the crash for earlier questions are stale by now).
	late := regexp.MustCompile(`^timed out after (\d+)$`)
	lateCount := func(c int) int {
		for _, text := range graph.Recorder.TextsTo("+" + ContactNumber(c)) {
			if m := late.FindStringSubmatch(text); m != nil {
				n, _ := strconv.Atoi(m[1])
				return n
			}
		}
		return -1
	}
	deadline := time.Now().Add(90 * time.Second)
	for c := 0; c < contacts; c++ {
		for lateCount(c) < 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if n := lateCount(c); n != perContact {
			t.Errorf("contact %d: timeout said %d answers, want %d (-1: no timeout fired)", c, n, perContact)
		}
	}
	for i := range early {
		for lateCount(1000+i) < 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if n := lateCount(1000 + i); n != 1 {
			t.Errorf("early contact %d (its timeout job was scheduled before the crash): timeout said %d, want 1", i, n)
		}
	}
	if err := p2.Stop(30 * time.Second); err != nil {
		t.Errorf("gtc serve did not exit 0 on SIGTERM: %v", err)
	}

	st, err := store.Open(ctx, filepath.Join(bundle, "state", "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The outbound log (what the flows decided, not what was sent at least once): one echo
	// per answer, numbered 1..perContact per contact without a gap or a double.
	out, err := st.OutboundMessages(ctx, store.OutboundFilter{Limit: 10 * len(all)})
	if err != nil {
		t.Fatal(err)
	}
	echo := regexp.MustCompile(`"body":"got load (wamid\.load\.conv\.\d+) #(\d+)"`)
	numbers := map[string][]int{}
	perID := map[string]int{}
	for _, o := range out {
		m := echo.FindStringSubmatch(string(o.Request))
		if m == nil {
			continue
		}
		perID[m[1]]++
		n, _ := strconv.Atoi(m[2])
		numbers[o.ContactKey] = append(numbers[o.ContactKey], n)
	}
	for _, id := range all {
		if perID[id] != 1 {
			t.Errorf("answer %s advanced its conversation %d times, want exactly 1", id, perID[id])
		}
	}
	for c := 0; c < contacts; c++ {
		got := numbers[ContactNumber(c)]
		seen := map[int]bool{}
		for _, n := range got {
			seen[n] = true
		}
		if len(got) != perContact || len(seen) != perContact {
			t.Errorf("contact %d: echo numbers %v, want 1..%d once each", c, got, perContact)
		}
	}
	convs, err := st.Conversations(ctx, LoadTenant, LoadTeam)
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != contacts+early {
		t.Fatalf("%d conversation rows, want %d", len(convs), contacts+early)
	}
	for _, c := range convs {
		if c.ContactKey >= ContactNumber(1000) {
			continue // the early ones: one answer each, checked by their timeout
		}
		if c.User["answers"] != float64(perContact) || c.State != nil || c.LastEnd.Flow != "tally" {
			t.Errorf("contact %s: user.answers = %v, state %q, last end %+v", c.ContactKey, c.User["answers"], c.State, c.LastEnd)
		}
	}
	if t.Failed() {
		logs, _ := os.ReadFile(logPath)
		t.Logf("server log:\n%s", tail(string(logs), 40))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
