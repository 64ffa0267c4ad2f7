package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

// TestSendAPICrashIdempotencyKey SIGKILLs gtc serve while a send API request with an
// Idempotency-Key is at Graph (recorded, key reserved, no answer given), restarts it, and
// retries the request as its client would: the retry answers the recorded message (same
// id, its state) and records and sends nothing new.
func TestSendAPICrashIdempotencyKey(t *testing.T) {
	rig := newCrashRig(t, 2*time.Minute)
	ctx, dir, gtc, graph, bundle := rig.ctx, rig.dir, rig.gtc, rig.graph, rig.bundle
	logPath := filepath.Join(dir, "serve.log")
	db := filepath.Join(bundle, "state", "gtc.db")
	p, err := StartServe(ctx, gtc, bundle, logPath, "--database", db)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()

	// The contact writes first, so its 24-hour window is open for free-form text.
	const contact = "4915100000777"
	in := TextBatch(LoadPhoneNumberID, Inbound{ID: MessageID("apicrash", 0), From: contact, Text: "hi " + MessageID("apicrash", 0)})
	cfg := LoadConfig{URL: p.WebhookURL(), AppSecret: LoadAppSecret, PhoneNumberID: LoadPhoneNumberID, Concurrency: 1, Timeout: 10 * time.Second}
	if r := Drive(ctx, cfg, []Batch{in}); r.Failed != 0 {
		t.Fatalf("webhook POST failed: %s", r.FirstError)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if graph.Recorder.WaitFor(wctx, in.IDs) != 1 {
		t.Fatal("the contact's echo never reached Graph")
	}

	const key = "order-crash-1"
	body := `{"to": "+` + contact + `", "message": "your order ships today"}`
	// Graph holds the send until the kill: the message is recorded, its key reserved, and
	// no answer is given.
	graph.Recorder.SetDelay(time.Minute)
	first := make(chan error, 1)
	go func() { _, _, err := postAPI(ctx, p.APIURL(), key, body); first <- err }()
	rows := func() []*store.Outbound {
		t.Helper()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		outs, err := st.OutboundMessages(ctx, store.OutboundFilter{ContactKey: contact})
		if err != nil {
			t.Fatal(err)
		}
		var api []*store.Outbound
		for _, o := range outs {
			if o.Origin == store.OriginAPI {
				api = append(api, o)
			}
		}
		return api
	}
	for deadline := time.Now().Add(20 * time.Second); len(rows()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("the send API request was never recorded; server log:\n%s", tail(string(logs), 30))
		}
	}
	time.Sleep(200 * time.Millisecond) // the send is at Graph now
	p.Kill()
	if err := <-first; err == nil {
		t.Fatal("the first request was answered before the kill: the test proves nothing")
	}
	graph.Recorder.SetDelay(0)
	recorded := rows()
	if len(recorded) != 1 {
		t.Fatalf("%d rows recorded for the first request, want 1", len(recorded))
	}

	p2, err := StartServe(ctx, gtc, bundle, logPath, "--database", db)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Stop(30 * time.Second)
	code, ans, err := postAPI(ctx, p2.APIURL(), key, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(recorded[0].ID, 10); code != http.StatusAccepted || ans["id"] != want {
		t.Errorf("retry after the restart answered %d %v, want 202 with the recorded message's id %s", code, ans, want)
	}
	// The recorded message goes out by recovery; give a second send time to show up.
	time.Sleep(2 * time.Second)
	if got := rows(); len(got) != 1 {
		t.Errorf("after the retry %d messages are recorded for the key, want 1", len(got))
	}
	if n := countText(graph.Recorder.TextsTo("+"+contact), "your order ships today"); n > 1 {
		t.Errorf("Graph accepted the keyed message %d times, want at most 1", n)
	}
}

// postAPI posts body to the send API with Idempotency-Key key and returns the answer.
func postAPI(ctx context.Context, url, key, body string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+LoadAPIKey)
	req.Header.Set("Idempotency-Key", key)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer %d is not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, m, nil
}

func countText(texts []string, want string) int {
	n := 0
	for _, s := range texts {
		if s == want {
			n++
		}
	}
	return n
}
