package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/fakes/orderapi"
)

// TestCallCrashIdempotencyKey SIGKILLs gtc serve while its http node's calls are at the
// order API, restarts it, and checks that each call is made again with the same
// Idempotency-Key (so a backend that dedupes on it sees one order lookup) and that every
// contact still gets exactly one reply.
func TestCallCrashIdempotencyKey(t *testing.T) {
	rig := newCrashRig(t, 3*time.Minute)
	ctx, dir, gtc, graph, bundle := rig.ctx, rig.dir, rig.gtc, rig.graph, rig.bundle
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	// The first calls hang at the order API until serve is killed under them.
	api.SetDelay(time.Minute)
	var mu sync.Mutex
	arrived := map[string]int{} // Idempotency-Key → requests that reached the API
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		api.Handler().ServeHTTP(w, r)
	}))
	defer front.Close()
	ordersURL := front.URL + strings.TrimPrefix(api.OrdersURL(), api.URL)

	if err := os.WriteFile(filepath.Join(bundle, "flows", "load_lookup.ygtc"), []byte(HTTPFlow(ordersURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "serve.log")
	p, err := StartServe(ctx, gtc, bundle, logPath)
	if err != nil {
		t.Fatal(err)
	}
	const contacts = 3
	var msgs []Inbound
	var ids []string
	for c := range contacts {
		id := MessageID("callcrash", c)
		ids = append(ids, id)
		msgs = append(msgs, Inbound{ID: id, From: ContactNumber(c), Text: "lookup " + id})
	}
	cfg := LoadConfig{URL: p.WebhookURL(), AppSecret: LoadAppSecret, PhoneNumberID: LoadPhoneNumberID,
		RunID: "callcrash", Contacts: contacts, Messages: contacts, Batch: 1, Concurrency: 1, Timeout: 10 * time.Second}
	if r := Drive(ctx, cfg, groupBatches(LoadPhoneNumberID, msgs, 1)); r.Failed != 0 {
		t.Fatalf("POSTs failed: %s", r.FirstError)
	}
	keysNow := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, n := range arrived {
			out[k] = n
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(keysNow()) < contacts; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("%d of %d calls reached the order API; server log:\n%s", len(keysNow()), contacts, tail(string(logs), 30))
		}
	}
	before := keysNow()
	p.Kill()
	if got := graph.Recorder.Replies(); len(got) != 0 {
		t.Fatalf("replies before the calls answered: %v", got)
	}

	api.SetDelay(0)
	p2, err := StartServe(ctx, gtc, bundle, logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Stop(30 * time.Second)
	wctx, wcancel := context.WithTimeout(ctx, 90*time.Second)
	defer wcancel()
	if got := graph.Recorder.WaitFor(wctx, ids); got != contacts {
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("%d of %d contacts got their reply after the restart; server log:\n%s", got, contacts, tail(string(logs), 40))
	}
	time.Sleep(500 * time.Millisecond) // a second reply, if any, would come now
	for _, id := range ids {
		if n := len(graph.Recorder.Replies()[id]); n != 1 {
			t.Errorf("%s: %d replies, want 1", id, n)
		}
	}
	after := keysNow()
	if len(after) != contacts {
		t.Errorf("the calls used %d Idempotency-Keys, want %d (one per call, the same after the crash): %v", len(after), contacts, after)
	}
	for k, n := range before {
		if k == "" || !strings.HasPrefix(k, "gtc-") {
			t.Errorf("Idempotency-Key %q does not look like gtc-<conversation>-<step>", k)
		}
		if after[k] < n+1 {
			t.Errorf("key %s: %d requests after the restart, want the call made again with the same key (%d before)", k, after[k], n)
		}
	}
}
