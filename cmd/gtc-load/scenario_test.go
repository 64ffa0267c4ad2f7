package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
)

// scenarioDir holds the gtc the scenario tests build once (TestMain removes it).
var scenarioDir string

// scenarioGTC builds gtc once for the scenario tests.
var scenarioGTC = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gtc-load-scenario-test-")
	if err != nil {
		return "", err
	}
	scenarioDir = dir
	return BuildGTC(context.Background(), dir)
})

func TestMain(m *testing.M) {
	code := m.Run()
	if scenarioDir != "" {
		os.RemoveAll(scenarioDir)
	}
	os.Exit(code)
}

func TestConversationMessages(t *testing.T) {
	triggers, answers := ConversationMessages("r", 2)
	want := []Inbound{{ID: "wamid.load.r.q.0", From: "4915100000000", Text: "status"}, {ID: "wamid.load.r.q.1", From: "4915100000001", Text: "status"}}
	if !slices.Equal(triggers, want) {
		t.Errorf("triggers = %v, want %v", triggers, want)
	}
	want = []Inbound{{ID: "wamid.load.r.a.0", From: "4915100000000", Text: "10000000"}, {ID: "wamid.load.r.a.1", From: "4915100000001", Text: "10000001"}}
	if !slices.Equal(answers, want) {
		t.Errorf("answers = %v, want %v", answers, want)
	}
	// The recorder finds the inbound id at the end of each expected reply.
	for i, text := range ConversationTexts("r", 1) {
		if got, want := inboundIDIn(text), []string{"wamid.load.r.q.1", "wamid.load.r.a.1"}[i]; got != want {
			t.Errorf("inboundIDIn(%q) = %q, want %q", text, got, want)
		}
	}
	if got := len(groupBatches(LoadPhoneNumberID, append(triggers, answers...), 3)); got != 2 {
		t.Errorf("4 messages at 3 per POST: %d POSTs, want 2", got)
	}
}

func TestScenarioFlags(t *testing.T) {
	for _, tt := range []struct {
		o    options
		want string
	}{
		{options{mode: "baseline", scenario: ScenarioConversation}, "use it with -mode serve"},
		{options{mode: "serve", scenario: ScenarioHTTP, instances: 2, database: "postgres://x"}, "drop -instances and -numbers"},
		{options{mode: "serve", scenario: "chat"}, `unknown -scenario "chat"`},
	} {
		o := tt.o
		o.contacts, o.messages, o.batch, o.concurrency, o.numbers = 2, 2, 1, 1, 1
		if o.instances == 0 {
			o.instances = 1
		}
		if err := run(context.Background(), o, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.o, err, tt.want)
		}
	}
}

// TestConversationScenario runs -scenario conversation at a tiny count: the echo, then 20
// two-turn conversations, each contact getting exactly the question and the confirmation;
// with -overlap, each answer goes out when its question arrives.
func TestConversationScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gtc and runs gtc serve twice; skipped with -short")
	}
	gtc, err := scenarioGTC()
	if err != nil {
		t.Fatal(err)
	}
	for _, overlap := range []bool{false, true} {
		t.Run(map[bool]string{false: "turns", true: "overlap"}[overlap], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			o := options{mode: "serve", scenario: ScenarioConversation, gtc: gtc, contacts: 20, messages: 40, batch: 2, concurrency: 4,
				instances: 1, numbers: 1, replyTimeout: time.Minute, overlap: overlap}
			var out strings.Builder
			if err := run(ctx, o, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, want := range []string{"replies delivered: 40 of 40 acknowledged messages",
				"turn 2: the answer, answered by the confirmation", "40 webhooks acknowledged", "40 replies at",
				"turn latency (answer webhook → its confirmation): p50",
				"every contact got exactly its 2 replies (question, confirmation), once each, in order"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no %q in:\n%s", want, out.String())
				}
			}
			if overlap != strings.Contains(out.String(), "each answer sent when its question arrived") {
				t.Errorf("overlap %v, but:\n%s", overlap, out.String())
			}
		})
	}
}

// TestHTTPScenario runs -scenario http at a tiny count. Until delivery runs http nodes, the
// conversations stop at the call and the test skips.
func TestHTTPScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gtc and runs gtc serve; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gtc, err := scenarioGTC()
	if err != nil {
		t.Fatal(err)
	}
	o := options{mode: "serve", scenario: ScenarioHTTP, gtc: gtc, contacts: 20, messages: 20, batch: 1, concurrency: 4,
		instances: 1, numbers: 1, replyTimeout: time.Minute, callDelay: 50 * time.Millisecond}
	var out strings.Builder
	err = run(ctx, o, &out)
	if errors.Is(err, errCallsNotWired) {
		t.Skipf("%v\n%s", err, out.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"replies delivered: 20 of 20 acknowledged messages; 0 with more than one reply", "calls/s:",
		"order API: 20 requests, 20 distinct Idempotency-Keys (0 repeated), 0 refused",
		"every contact got exactly one reply with the order's status; one call per message"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}

// TestScenarioFlowsStep runs the scenarios' flows through the engine (flow.Set.Step, as
// delivery does) beside the echo flow: the replies are the texts the load tool expects,
// and the http flow's call is one GET of the order, whose result gives the reply. This
// checks the http flow even while delivery does not run calls.
func TestScenarioFlowsStep(t *testing.T) {
	dir := t.TempDir()
	const orders = "http://127.0.0.1:9/orders"
	for name, text := range map[string]string{"echo.ygtc": EchoFlow, "load_order.ygtc": ConversationFlow, "load_lookup.ygtc": HTTPFlow(orders)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := flow.Context{Tenant: LoadTenant, Team: LoadTeam, To: ContactNumber(3), Now: 1_800_000_000}
	texts := func(out flow.Outcome) []string {
		var s []string
		for _, r := range out.Replies {
			if r.Message.Text != nil {
				s = append(s, r.Message.Text.Body)
			}
		}
		return s
	}
	// Round-trip the state through JSON, as the store keeps it.
	keep := func(out flow.Outcome) *flow.Conversation {
		if out.Next == nil {
			return nil
		}
		data, err := json.Marshal(out.Next)
		if err != nil {
			t.Fatal(err)
		}
		var c *flow.Conversation
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	step := func(cur *flow.Conversation, in flow.Input) flow.Outcome {
		t.Helper()
		out, err := set.Step(cur, in, ctx)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	text := func(id, body string) flow.Input {
		return flow.MessageInput(flow.Event{Type: "text", MessageID: id, From: ContactNumber(3), Text: body})
	}

	triggers, answers := ConversationMessages("r", 4)
	want := ConversationTexts("r", 3)
	out := step(nil, text(triggers[3].ID, triggers[3].Text))
	if got := texts(out); !slices.Equal(got, want[:1]) || out.Next == nil {
		t.Fatalf("keyword: replies %q (waiting: %v), want %q", got, out.Next != nil, want[:1])
	}
	out = step(keep(out), text(answers[3].ID, answers[3].Text))
	if got := texts(out); !slices.Equal(got, want[1:]) {
		t.Fatalf("answer: replies %q, want %q", got, want[1:])
	}

	out = step(nil, text("wamid.load.r.e.1", "load wamid.load.r.e.1"))
	if got := texts(out); !slices.Equal(got, []string{"echo load wamid.load.r.e.1"}) {
		t.Fatalf("echo: replies %q", got)
	}

	const id = "wamid.load.r.h.3"
	out = step(nil, text(id, "lookup "+id))
	if out.Call == nil || out.Call.HTTP == nil || len(out.Replies) != 0 {
		t.Fatalf("lookup: call %+v, replies %q; want one http call and no reply yet", out.Call, texts(out))
	}
	if h := out.Call.HTTP; h.Method != "GET" || h.URL != orders+"/"+HTTPOrderID {
		t.Fatalf("lookup: %s %s, want GET %s/%s", h.Method, h.URL, orders, HTTPOrderID)
	}
	body := map[string]any{"id": HTTPOrderID, "status": "shipped", "carrier": "DHL"}
	out = step(keep(out), flow.ResultInput(out.Call.Step, flow.CallResult{Status: 200, Body: body,
		Headers: map[string]string{"Content-Type": "application/json"}}))
	if got, want := texts(out), []string{"order " + HTTPOrderID + " is shipped, ref " + id}; !slices.Equal(got, want) {
		t.Fatalf("lookup result: replies %q, want %q", got, want)
	}
}

// TestDriveChanOnReply: the recorder reports each recorded reply's inbound id, and
// DriveChan posts what arrives on its channel until it is closed.
func TestDriveChanOnReply(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"messages":[{"id":"wamid.x"}]}`)) })
	rec := NewReplyRecorder(inner)
	var mu sync.Mutex
	var seen []string
	rec.OnReply(func(id string) { mu.Lock(); seen = append(seen, id); mu.Unlock() })
	graph := httptest.NewServer(rec)
	defer graph.Close()
	// The "server" answers every webhook message by sending its id to the Graph double.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Entry []struct {
				Changes []struct {
					Value struct {
						Messages []struct{ ID string }
					}
				}
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, m := range v.Entry[0].Changes[0].Value.Messages {
			resp, err := http.Post(graph.URL+"/v18.0/1/messages", "application/json", strings.NewReader(`{"to":"1","text":{"body":"re `+m.ID+`"}}`))
			if err == nil {
				resp.Body.Close()
			}
		}
	}))
	defer srv.Close()
	ch := make(chan Batch, 3)
	for i := range 3 {
		ch <- TextBatch("1", Inbound{ID: MessageID("c", i), From: "1", Text: "x"})
	}
	close(ch)
	r := DriveChan(context.Background(), LoadConfig{URL: srv.URL, Concurrency: 2, Timeout: 5 * time.Second}, ch)
	if r.Acked != 3 || r.Failed != 0 || len(r.SentAt) != 3 {
		t.Fatalf("acked %d, failed %d, sent %d; want 3, 0, 3 (%s)", r.Acked, r.Failed, len(r.SentAt), r.FirstError)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(seen)
	if want := []string{MessageID("c", 0), MessageID("c", 1), MessageID("c", 2)}; !slices.Equal(seen, want) {
		t.Errorf("OnReply saw %q, want %q", seen, want)
	}
}
