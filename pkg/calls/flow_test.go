package calls

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/fakes/llm"
	"github.com/greentic/gtc/pkg/fakes/orderapi"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/secret"
)

// The engine stops at the node, the Runner runs the call, the result goes back in: the
// conversation goes to next (found, 404) or on_error (API down).
func TestWithTheEngine(t *testing.T) {
	api := orderapi.New(orderapi.Options{Token: "shop-token"})
	defer api.Close()
	src := `name: status
nodes:
  - id: lookup
    type: http
    config:
      url: "` + api.OrdersURL() + `/{{vars.order_id}}"
      headers: {Authorization: "Bearer {{secrets.SHOP_TOKEN}}"}
      timeout: 1s
      save_as: order
      on_error: down
    next: tell
  - id: tell
    type: branch
    config:
      conditions: [{expression: "vars.order.ok", next: found}]
      default: missing
  - {id: found, type: reply, config: {message: "Order {{vars.order.body.id}} is {{vars.order.body.status}}."}}
  - {id: missing, type: reply, config: {message: "No order {{vars.order_id}} ({{vars.order.status}})."}}
  - {id: down, type: reply, config: {message: "The shop does not answer: {{vars.order.error}}"}}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "status.ygtc"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flow.LoadFiles([]string{filepath.Join(dir, "status.ygtc")})
	if err != nil {
		t.Fatal(err)
	}
	r, _, logs := newRunner(t)
	tests := []struct {
		id     string
		faults []orderapi.Fault
		want   string
	}{
		{"12345", nil, "Order 12345 is shipped."},
		{"77", nil, "No order 77 (404)."},
		{"12345", []orderapi.Fault{{Status: 500}}, "Order 12345 is shipped."},
		{"12345", []orderapi.Fault{{Status: 500, Times: 3}}, "The shop does not answer: status 500"},
	}
	for _, tt := range tests {
		api.Reset()
		for _, f := range tt.faults {
			api.Fail(f)
		}
		c := flow.Context{To: "491701234567", Now: 100, Vars: map[string]any{"order_id": tt.id},
			Secret: func(n string) (string, bool) { return "shop-token", n == "SHOP_TOKEN" }}
		out, err := set.Step(nil, flow.StartInput("status", "", nil), c)
		if err != nil || out.Call == nil {
			t.Fatalf("%s: %v %+v", tt.id, err, out)
		}
		res := run(t, r, out.Call)
		out, err = set.Step(out.Next, flow.ResultInput(out.Call.Step, res), c)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Replies) != 1 || out.Replies[0].Message.Text == nil || out.Replies[0].Message.Text.Body != tt.want {
			t.Errorf("%s %v: replies %+v", tt.id, tt.faults, out.Replies)
		}
		for _, q := range api.Requests() {
			if q.Problem != "" {
				t.Errorf("the API refused: %s", q.Problem)
			}
		}
	}
	if strings.Contains(logs.String(), "shop-token") {
		t.Error("the token is in the logs")
	}
}

func TestAIWithTheEngine(t *testing.T) {
	fake := llm.New(llm.Options{APIKey: testKey})
	defer fake.Close()
	src := `name: support
nodes:
  - id: answer
    type: ai
    config:
      system: "You are the support assistant of Example Shop."
      history: 6
      on_error: sorry
    next: more
  - {id: more, type: ask, config: {message: "Anything else?", save_as: q}, next: answer}
  - {id: sorry, type: reply, config: {message: "Sorry, no answer now."}}
triggers:
  - {type: message, target: answer}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "support.ygtc"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := flow.LoadFiles([]string{filepath.Join(dir, "support.ygtc")})
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := newRunner(t)
	r.LLM = &answers.LLM{BaseURL: fake.BaseURL(), Model: "m", APIKey: secret.New(testKey)}
	var conv *flow.Conversation
	var got []string
	for i, text := range []string{"hi", "where is my parcel?"} {
		c := flow.Context{To: "491701234567", Now: int64(100 + i)}
		ev := flow.Event{Type: "text", Text: text, MessageID: "wamid." + text}
		out, err := set.Step(conv, flow.MessageInput(ev), c)
		if err != nil || out.Call == nil {
			t.Fatalf("%q: %v %+v", text, err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := r.Run(ctx, out.Call)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out, err = set.Step(out.Next, flow.ResultInput(out.Call.Step, res), c)
		if err != nil {
			t.Fatal(err)
		}
		for _, rep := range out.Replies {
			got = append(got, rep.Message.Text.Body)
		}
		conv = out.Next
	}
	want := []string{`You said "hi" (history: 0 messages, system prompt: yes).`, "Anything else?",
		`You said "where is my parcel?" (history: 3 messages, system prompt: yes).`, "Anything else?"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies %q", got)
	}
	// the second request carried the turns so far: hi, the answer, the question
	msgs := fake.Requests()[1].Chat.Messages
	if len(msgs) != 5 || msgs[1].Content != "hi" || msgs[2].Role != "assistant" || msgs[4].Content != "where is my parcel?" {
		t.Errorf("messages %+v", msgs)
	}
}
