package flow

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

const convDir = "../../testdata/flows/conversations"

func convSet(t testing.TB) *Set {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(convDir, "*.ygtc"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no flows in %s: %v", convDir, err)
	}
	s, probs, err := CheckFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs.All()) > 0 {
		t.Fatalf("example flows have problems:\n%s", dump(probs.All()))
	}
	return s
}

// chat drives one contact's conversation through Step, storing the state as JSON between
// inputs as a caller would.
type chat struct {
	t    *testing.T
	s    *Set
	conv *Conversation
	user map[string]any
	now  int64
	ids  int
	last Outcome
}

func newChat(t *testing.T) *chat {
	return &chat{t: t, s: convSet(t), user: map[string]any{}, now: 1_800_000_000}
}

func (c *chat) ctx() Context {
	return Context{Tenant: "default", Team: "default", To: "4915112345678", Now: c.now, User: c.user,
		Secret: func(name string) (string, bool) {
			if name == "SHOP_TOKEN" {
				return "tok-s3cret", true
			}
			return "", false
		},
		NewID: func() string { c.ids++; return "c" + string(rune('0'+c.ids)) }}
}

func (c *chat) step(in Input) Outcome {
	c.t.Helper()
	out, err := c.s.Step(c.conv, in, c.ctx())
	if err != nil {
		c.t.Fatalf("step %s: %v", in.Kind, err)
	}
	c.apply(out)
	return out
}

func (c *chat) apply(out Outcome) {
	c.t.Helper()
	for k, v := range out.UserUpdates {
		c.user[k] = v
	}
	c.conv = nil
	if out.Next != nil {
		data, err := json.Marshal(out.Next)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := json.Unmarshal(data, &c.conv); err != nil {
			c.t.Fatal(err)
		}
	}
	c.last = out
}

func (c *chat) say(s string) Outcome { return c.step(MessageInput(textEv(s))) }

func (c *chat) tap(id, title string) Outcome {
	return c.step(MessageInput(Event{Type: "interactive", From: "4915112345678", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: id, Title: title}}))
}

// texts are the bodies of the replies (text, or the interactive body).
func texts(out Outcome) []string {
	var s []string
	for _, r := range out.Replies {
		switch {
		case r.Message.Text != nil:
			s = append(s, r.Message.Text.Body)
		case r.Message.Interactive != nil:
			s = append(s, "["+r.Message.Interactive.Body.Text+"]")
		}
	}
	return s
}

func (c *chat) expect(out Outcome, replies []string, flow, node, state string) {
	c.t.Helper()
	if got := texts(out); !equal(got, replies) {
		c.t.Errorf("replies = %q, want %q", got, replies)
	}
	if node == "" {
		if c.conv != nil {
			c.t.Errorf("conversation goes on at %s.%s (%s), want it ended", c.conv.Flow, c.conv.Node, c.conv.State)
		}
		return
	}
	if c.conv == nil {
		c.t.Fatalf("conversation ended (%+v), want it at %s.%s", out.Ended, flow, node)
	}
	if c.conv.Flow != flow || c.conv.Node != node || c.conv.State != state {
		c.t.Errorf("at %s.%s (%s), want %s.%s (%s)", c.conv.Flow, c.conv.Node, c.conv.State, flow, node, state)
	}
}

func endReasons(out Outcome) []string {
	var s []string
	for _, e := range out.Ended {
		s = append(s, string(e.Reason))
	}
	return s
}

const askOrder = "What is your order number? (like A-1234)"
const retryOrder = "That does not look like an order number (like A-1234)."

func TestStepAskRetriesThenValid(t *testing.T) {
	c := newChat(t)
	out := c.say("status")
	c.expect(out, []string{askOrder}, "check_status", "ask_order", StateWaiting)
	if out.WaitUntil != c.now+1800 || c.conv.Deadline != c.now+1800 || c.conv.WaitingSince != c.now {
		t.Errorf("wait until %d, deadline %d, want now+30m", out.WaitUntil, c.conv.Deadline)
	}
	for i := 1; i <= 2; i++ {
		out = c.say("my order")
		c.expect(out, []string{retryOrder}, "check_status", "ask_order", StateWaiting)
		if c.conv.Retries != i || out.Invalid == "" {
			t.Errorf("retries = %d, invalid %q", c.conv.Retries, out.Invalid)
		}
	}
	out = c.say("A-1234")
	c.expect(out, nil, "check_status", "lookup", StateCalling)
	if !reflect.DeepEqual(out.UserUpdates, map[string]any{"last_order": "A-1234"}) {
		t.Errorf("user updates = %v", out.UserUpdates)
	}
	if c.conv.Vars["order_id"] != "A-1234" || c.conv.Vars["lookups"] != 1.0 {
		t.Errorf("vars = %v", c.conv.Vars)
	}
	call := out.Call
	if call == nil || call.Kind != CallHTTP || call.HTTP == nil {
		t.Fatalf("call = %+v", call)
	}
	h := call.HTTP
	if h.Method != "GET" || h.URL != "https://shop.example.com/api/orders/A-1234?source=whatsapp" || h.Timeout != 5*time.Second || h.Retries != 2 || h.Body != nil {
		t.Errorf("request = %+v", h)
	}
	want := []HTTPHeader{{Name: "Authorization", Value: "Bearer tok-s3cret", Secret: true}, {Name: "Accept", Value: "application/json"}}
	if !reflect.DeepEqual(h.Headers, want) {
		t.Errorf("headers = %+v", h.Headers)
	}
	if call.IdempotencyKey != IdempotencyKey(c.conv.ID, c.conv.Step) || call.Step != c.conv.Step || c.conv.ID != "c1" {
		t.Errorf("key %s step %d, conversation %s step %d", call.IdempotencyKey, call.Step, c.conv.ID, c.conv.Step)
	}
	if got := call.Redact("Authorization: Bearer tok-s3cret"); strings.Contains(got, "s3cret") {
		t.Errorf("redact = %q", got)
	}
	// Data of the stored conversation never holds the secret.
	data, _ := json.Marshal(c.conv)
	if strings.Contains(string(data), "s3cret") {
		t.Errorf("conversation state holds the secret: %s", data)
	}
	// A stale result (another step) changes nothing.
	out = c.step(ResultInput(call.Step+7, CallResult{Status: 200}))
	if out.Ignored == "" || c.conv == nil || c.conv.State != StateCalling {
		t.Fatalf("stale result: %+v", out)
	}
	out = c.step(ResultInput(call.Step, CallResult{Status: 200, Body: map[string]any{"status": "shipped"}, Headers: map[string]string{"Content-Type": "application/json"}}))
	c.expect(out, []string{"Order A-1234 is shipped."}, "", "", "")
	if !equal(endReasons(out), []string{"completed"}) {
		t.Errorf("ended = %+v", out.Ended)
	}
}

func TestStepInvalidThreeTimesGoesToOnInvalid(t *testing.T) {
	c := newChat(t)
	c.say("status")
	c.say("one")
	c.say("two")
	out := c.say("three")
	c.expect(out, []string{"Sorry, I could not read an order number. Type menu to start again."}, "", "", "")
}

func TestStepInvalidWithoutOnInvalidEnds(t *testing.T) {
	c := newChat(t)
	c.say("feedback")
	c.say("great") // max_retries: 1
	out := c.say("super")
	c.expect(out, nil, "", "", "")
	if !equal(endReasons(out), []string{"invalid"}) {
		t.Errorf("ended = %+v", out.Ended)
	}
}

func TestStepChoiceRetryResendsTheButtons(t *testing.T) {
	c := newChat(t)
	c.say("feedback")
	out := c.say("great")
	c.expect(out, []string{"Please choose one of the options.", "[How did we do?]"}, "feedback", "ask_rating", StateWaiting)
	if len(c.conv.Choices) != 3 {
		t.Errorf("choices = %v", c.conv.Choices)
	}
}

func TestStepTimeout(t *testing.T) {
	c := newChat(t)
	c.say("status")
	deadline := c.conv.Deadline
	// Too early, or for an older deadline: nothing happens.
	out := c.step(TimeoutInput(deadline))
	if out.Ignored == "" || c.conv == nil {
		t.Fatalf("early timeout: %+v", out)
	}
	c.now = deadline + 5
	out = c.step(TimeoutInput(deadline - 60))
	if out.Ignored == "" || c.conv == nil {
		t.Fatalf("stale timeout: %+v", out)
	}
	out = c.step(TimeoutInput(deadline))
	c.expect(out, []string{"No worries, type menu when you have the order number at hand."}, "", "", "")
}

func TestStepTimeoutWithoutOnTimeoutEndsSilently(t *testing.T) {
	c := newChat(t)
	c.say("help")
	if c.conv.Deadline != c.now+3600 {
		t.Errorf("default timeout: deadline %d, want now+1h", c.conv.Deadline-c.now)
	}
	c.now = c.conv.Deadline
	out := c.step(TimeoutInput(0))
	c.expect(out, nil, "", "", "")
	if !equal(endReasons(out), []string{"timeout"}) {
		t.Errorf("ended = %+v", out.Ended)
	}
}

func TestStepInterrupt(t *testing.T) {
	c := newChat(t)
	c.say("status")
	out := c.say(" MENU ")
	c.expect(out, []string{"[What would you like to do?]"}, "menu", "show_menu", StateWaiting)
	if out.Replies[0].Flow != "menu" {
		t.Fatalf("replies = %+v", out.Replies)
	}
	if len(out.Ended) != 1 || out.Ended[0].Reason != EndInterrupted || out.Ended[0].Flow != "check_status" {
		t.Errorf("ended = %+v", out.Ended)
	}
	// A keyword that is not an interrupt ("feedback") is an answer while a question waits.
	out = c.say("feedback")
	c.expect(out, []string{"Please choose one of the options.", "[What would you like to do?]"}, "menu", "show_menu", StateWaiting)
}

func TestStepGotoAcrossFlows(t *testing.T) {
	c := newChat(t)
	out := c.say("hello")
	c.expect(out, []string{"[What would you like to do?]"}, "menu", "show_menu", StateWaiting)
	out = c.tap("status", "Check Status")
	c.expect(out, []string{askOrder}, "check_status", "ask_order", StateWaiting)
	if c.conv.Vars["choice"] != "status" {
		t.Errorf("vars = %v", c.conv.Vars)
	}
	// Typing a button's title counts as tapping it.
	c.say("menu")
	out = c.say("give feedback")
	c.expect(out, []string{"[How did we do?]"}, "feedback", "ask_rating", StateWaiting)
}

func TestStepSetVarsAndUser(t *testing.T) {
	c := newChat(t)
	c.user["feedback_count"] = 2.0
	c.say("feedback")
	out := c.tap("good", "Good")
	c.expect(out, []string{"Anything you would like to add? (or type skip)"}, "feedback", "ask_comment", StateWaiting)
	if !reflect.DeepEqual(out.UserUpdates, map[string]any{"rating": "good", "feedback_count": 3.0}) {
		t.Errorf("user updates = %#v", out.UserUpdates)
	}
	out = c.say("Fast delivery")
	c.expect(out, []string{"Thank you! You rated us good."}, "", "", "")
	if c.user["comment"] != "Fast delivery" {
		t.Errorf("user = %v", c.user)
	}
}

func TestStepHTTPErrorsAndHandoff(t *testing.T) {
	tests := []struct {
		name    string
		result  CallResult
		replies []string
		handoff bool
	}{
		{"404 goes to next", CallResult{Status: 404, Body: "not found"}, []string{"I could not find order A-1234."}, false},
		{"500 goes to on_error", CallResult{Status: 503}, []string{"Our order system is not answering. A member of our team will reply here shortly."}, true},
		{"transport error goes to on_error", CallResult{Err: "connection refused"}, []string{"Our order system is not answering. A member of our team will reply here shortly."}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChat(t)
			c.say("status")
			out := c.say("A-1234")
			out = c.step(ResultInput(out.Call.Step, tt.result))
			if got := texts(out); !equal(got, tt.replies) {
				t.Fatalf("replies = %q, want %q", got, tt.replies)
			}
			if !tt.handoff {
				return
			}
			if order, _ := c.conv.Vars["order"].(map[string]any); order == nil || order["ok"] != false || order["error"] == nil {
				t.Errorf("vars.order = %v", order)
			}
			h := out.Handoff
			if h == nil || h.Queue != "support" || h.Note != "Lookup of order A-1234 failed" || h.Timeout != 8*time.Hour {
				t.Fatalf("handoff = %+v", h)
			}
			if c.conv.State != StateHuman || out.WaitUntil != c.now+8*3600 || c.conv.Queue != "support" {
				t.Errorf("state %s, wait until %d", c.conv.State, out.WaitUntil)
			}
			// With a person: messages, even trigger keywords, change nothing.
			out = c.say("menu")
			if out.Ignored == "" || len(out.Replies) > 0 || c.conv.State != StateHuman {
				t.Errorf("message while with a person: %+v", out)
			}
			out = c.step(ReleaseInput("", ""))
			c.expect(out, []string{"Thanks for your patience! Type menu to start again."}, "", "", "")
		})
	}
}

func TestStepHandoffTimeoutAndReleaseToNode(t *testing.T) {
	c := newChat(t)
	c.say("help")
	c.say("Where is my parcel?")
	out := c.step(ResultInput(c.conv.Step, CallResult{Err: "timeout"}))
	if out.Handoff == nil || c.conv.State != StateHuman {
		t.Fatalf("ai error did not hand off: %+v", out)
	}
	// Release to a node of another flow.
	out = c.step(ReleaseInput("menu", "show_menu"))
	c.expect(out, []string{"[What would you like to do?]"}, "menu", "show_menu", StateWaiting)
	if _, err := c.s.Step(&Conversation{ID: "x", Flow: "support", Node: "escalate", State: StateHuman}, ReleaseInput("", "nope"), c.ctx()); err == nil {
		t.Error("release to a missing node: no error")
	} else if nf := new(NotFoundError); !errors.As(err, &nf) {
		t.Errorf("release error %T %v", err, err)
	}
	// The handoff's timeout releases to on_release.
	c2 := newChat(t)
	c2.say("help")
	c2.say("?")
	c2.step(ResultInput(0, CallResult{Err: "timeout"}))
	c2.now = c2.conv.Deadline
	out = c2.step(TimeoutInput(c2.conv.Deadline))
	c2.expect(out, []string{"Glad I could help. Type menu any time."}, "", "", "")
}

func TestStepAI(t *testing.T) {
	c := newChat(t)
	c.say("help")
	out := c.say("Where is my parcel?")
	c.expect(out, nil, "support", "answer", StateCalling)
	ai := out.Call.AI
	if out.Call.Kind != CallAI || ai == nil {
		t.Fatalf("call = %+v", out.Call)
	}
	want := []ChatMessage{
		{Role: "system", Content: "You are the support assistant of Example Shop. Answer in two sentences."},
		{Role: "user", Content: "help"},
		{Role: "assistant", Content: "What can I help you with?"},
		{Role: "user", Content: "Where is my parcel?"},
	}
	if !reflect.DeepEqual(ai.Messages, want) || ai.MaxTokens != 300 || ai.Temperature == nil || *ai.Temperature != 0.2 {
		t.Errorf("ai request = %+v", ai)
	}
	long := strings.Repeat("word ", 1000) // 5000 characters: two text messages
	out = c.step(ResultInput(out.Call.Step, CallResult{Text: long, FinishReason: "stop", Usage: map[string]any{"total_tokens": 900.0}}))
	if n := len(out.Replies); n != 3 || out.Replies[2].Message.Interactive == nil {
		t.Fatalf("replies = %d, want two parts and the list", n)
	}
	for _, r := range out.Replies[:2] {
		if l := len([]rune(r.Message.Text.Body)); l > 4096 {
			t.Errorf("part of %d characters", l)
		}
	}
	if ai, _ := c.conv.Vars["ai"].(map[string]any); ai["finish_reason"] != "stop" {
		t.Errorf("vars.ai = %v", c.conv.Vars["ai"])
	}
	// A list row's title typed instead of tapped.
	out = c.say("another QUESTION")
	c.expect(out, []string{"What can I help you with?"}, "support", "ask_question", StateWaiting)
}

func TestStepMessageWhileCalling(t *testing.T) {
	c := newChat(t)
	c.say("status")
	c.say("A-1234")
	if _, err := c.s.Step(c.conv, MessageInput(textEv("hello?")), c.ctx()); !errors.Is(err, ErrCallPending) {
		t.Errorf("err = %v, want ErrCallPending", err)
	}
	// An interrupt still works.
	out := c.say("cancel")
	c.expect(out, []string{"[What would you like to do?]"}, "menu", "show_menu", StateWaiting)
}

func TestStepMissingSecretFailsTheCall(t *testing.T) {
	c := newChat(t)
	c.say("status")
	ctx := c.ctx()
	ctx.Secret = nil
	out, err := c.s.Step(c.conv, MessageInput(textEv("A-1234")), ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.apply(out)
	if out.Call != nil || out.Handoff == nil {
		t.Fatalf("outcome = %+v", out)
	}
	order, _ := c.conv.Vars["order"].(map[string]any)
	if e, _ := order["error"].(string); !strings.Contains(e, "secret SHOP_TOKEN is not set") {
		t.Errorf("vars.order = %v", order)
	}
}

func TestStepFlowEdited(t *testing.T) {
	c := newChat(t)
	c.conv = &Conversation{ID: "old", Flow: "check_status", Node: "ask_removed", State: StateWaiting, Vars: map[string]any{}}
	out := c.say("hello")
	if len(out.Ended) != 1 || out.Ended[0].Reason != EndFlowEdited || !strings.Contains(out.Ended[0].Detail, "ask_removed") {
		t.Errorf("ended = %+v", out.Ended)
	}
	// The message then goes to the triggers.
	c.expect(out, []string{"[What would you like to do?]"}, "menu", "show_menu", StateWaiting)
	c.conv = &Conversation{ID: "old", Flow: "gone", Node: "x", State: StateWaiting}
	c.now += 10
	c.conv.Deadline = c.now
	out = c.step(TimeoutInput(0))
	if len(out.Ended) != 1 || out.Ended[0].Reason != EndFlowEdited || c.conv != nil {
		t.Errorf("timeout of a gone flow: %+v", out)
	}
}

func TestStepStart(t *testing.T) {
	c := newChat(t)
	c.say("status")
	out := c.step(StartInput("profile", "", map[string]any{"campaign": "spring"}))
	c.expect(out, []string{"Your email address?"}, "profile", "ask_email", StateWaiting)
	if len(out.Ended) != 1 || out.Ended[0].Reason != EndReplaced || c.conv.Vars["campaign"] != "spring" {
		t.Errorf("ended = %+v vars %v", out.Ended, c.conv.Vars)
	}
	var nf *NotFoundError
	if _, err := c.s.Step(nil, StartInput("nope", "", nil), c.ctx()); !errors.As(err, &nf) || !strings.Contains(err.Error(), "no flow nope: flows are") {
		t.Errorf("start of a missing flow: %v", err)
	}
	if _, err := c.s.Step(&Conversation{State: StateHuman}, StartInput("menu", "", nil), c.ctx()); !errors.Is(err, ErrWithPerson) {
		t.Errorf("start while with a person: %v", err)
	}
}

func TestStepEveryExpect(t *testing.T) {
	c := newChat(t)
	c.step(StartInput("profile", "", nil))
	steps := []struct {
		in   Event
		node string // where it waits after
	}{
		{textEv("Ada@Example.com"), "ask_phone"},
		{textEv("0151 23456789"), "ask_phone"}, // no country code: asked again
		{textEv("+49 151 23456789"), "ask_birthday"},
		{textEv("10.12.2021"), "ask_birthday"}, // validate: before 2020
		{textEv("10.12.1815"), "ask_people"},
		{textEv("2,5"), "ask_people"}, // validate: whole number
		{textEv("4"), "ask_place"},
		{Event{Type: "location", Location: &whatsapp.InboundLocation{Latitude: 52.52, Longitude: 13.405}}, "ask_photo"},
		{Event{Type: "document", MediaType: "document", Media: &whatsapp.InboundMedia{Type: "document", ID: "m1"}}, "ask_photo"},
	}
	for i, s := range steps {
		c.step(MessageInput(s.in))
		if c.conv == nil || c.conv.Node != s.node {
			t.Fatalf("step %d: at %+v, want %s (invalid: %s)", i, c.conv, s.node, c.last.Invalid)
		}
	}
	if got := texts(c.last); !equal(got, []string{"Please send a photo."}) {
		t.Errorf("retry = %q", got)
	}
	out := c.step(MessageInput(Event{Type: "image", MediaType: "image", Media: &whatsapp.InboundMedia{Type: "image", ID: "m2", MimeType: "image/png"}}))
	c.expect(out, []string{"Thanks! We have ada@example.com / +4915123456789, 4 people, delivery to 52.52,13.405."}, "", "", "")
	if c.user["birthday"] != "1815-12-10" || c.user["phone"] != "+4915123456789" {
		t.Errorf("user = %v", c.user)
	}
}

// Handle and Start keep working for flows with conversations: they run one step without a
// stored state (the question is sent; its answer then goes to the triggers).
func TestHandleStatelessAsk(t *testing.T) {
	s := convSet(t)
	got, err := s.Handle(textEv("status"), Context{To: "1"})
	if err != nil || len(got) != 1 || got[0].Node != "ask_order" {
		t.Fatalf("handle = %+v, %v", got, err)
	}
}

// Every question and reply of the example conversations renders to a body that passes gtc's
// limits and Meta's schema.
func TestConversationRepliesMatchMetaSchema(t *testing.T) {
	v := metaschema.Require(t)
	s := convSet(t)
	vars := map[string]any{"order_id": "A-1234", "order": map[string]any{"body": map[string]any{"status": "shipped"}},
		"summary": "a@b.c / +4915123456789", "people": 2.0, "place": map[string]any{"latitude": 52.5, "longitude": 13.4},
		"form": map[string]any{"flow_token": "signup-1", "name": "Ada", "email": "ada@example.com", "plan": "plus"}}
	env := NewEnv(nil, Context{To: "15550001234", Vars: vars, User: map[string]any{"rating": "good"}})
	n := 0
	for _, f := range s.Flows {
		for _, node := range f.Nodes {
			if node.Message() == nil {
				continue
			}
			n++
			t.Run(f.Name+"/"+node.ID, func(t *testing.T) {
				m, err := node.Render(env)
				if err != nil {
					t.Fatal(err)
				}
				m.To = "15550001234"
				if err := m.Validate(); err != nil {
					t.Errorf("whatsapp limits: %v", err)
				}
				body, _ := json.Marshal(m)
				if err := v.ValidateMessage(body); err != nil {
					t.Errorf("Meta schema: %v\n%s", err, body)
				}
			})
		}
	}
	if n < 15 {
		t.Errorf("only %d messages checked", n)
	}
}

func TestStepRendersCalls(t *testing.T) {
	src := `name: calls
nodes:
  - id: post
    type: http
    config:
      method: post
      url: "https://api.example.com/orders/{{vars.id}}/items?q={{vars.q}}"
      query: {page: "{{vars.n}}"}
      headers: {X-Key: "{{secrets.KEY}}", Content-Type: application/vnd.shop+json}
      json: {id: "{{vars.id}}", n: "{{vars.n}}", label: "n={{vars.n}}", flags: [true, "{{vars.q}}"], none: null, empty: {}}
      save_as: res
    next: ask_ai
  - id: ask_ai
    type: ai
    config:
      prompt: "Summarize {{vars.res.body.total}}"
      model: small
      send: false
      save_as: summary
    next: tell
  - id: tell
    type: reply
    config: {message: "{{vars.summary.text}}"}
`
	s, err := LoadFiles([]string{writeFlow(t, t.TempDir(), "calls.ygtc", src)})
	if err != nil {
		t.Fatal(err)
	}
	c := Context{To: "1", Now: 100, Vars: map[string]any{"id": "A 1/2", "q": "a&b=c", "n": 3},
		Secret: func(n string) (string, bool) { return "k-" + n, true }}
	out, err := s.Step(nil, StartInput("calls", "", nil), c)
	if err != nil {
		t.Fatal(err)
	}
	h := out.Call.HTTP
	if h.Method != "POST" || h.URL != "https://api.example.com/orders/A%201%2F2/items?page=3&q=a%26b%3Dc" {
		t.Errorf("request %s %s", h.Method, h.URL)
	}
	if string(h.Body) != `{"id":"A 1/2","n":3,"label":"n=3","flags":[true,"a&b=c"],"none":null,"empty":{}}` {
		t.Errorf("body = %s", h.Body)
	}
	if h.ContentType != "application/vnd.shop+json" || !h.Headers[0].Secret || h.Headers[1].Secret || h.URLSecret || h.BodySecret {
		t.Errorf("request = %+v", h)
	}
	if !equal(out.Call.Secrets, []string{"k-KEY"}) {
		t.Errorf("secrets = %v", out.Call.Secrets)
	}
	out, err = s.Step(out.Next, ResultInput(out.Call.Step, CallResult{Status: 200, Body: map[string]any{"total": 42.0}}), c)
	if err != nil {
		t.Fatal(err)
	}
	ai := out.Call.AI
	if ai == nil || ai.Model != "small" || !reflect.DeepEqual(ai.Messages, []ChatMessage{{Role: "user", Content: "Summarize 42"}}) {
		t.Fatalf("ai = %+v", ai)
	}
	out, err = s.Step(out.Next, ResultInput(0, CallResult{Text: "Total 42.", FinishReason: "stop"}), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(out); !equal(got, []string{"Total 42."}) || out.Next != nil {
		t.Errorf("replies %q, next %+v", got, out.Next)
	}
}

// A flow with errors is never run in production; the engine still answers with an error,
// not a panic.
func TestStepOnBrokenNodes(t *testing.T) {
	for _, typ := range []string{"ask", "set", "goto", "http", "ai"} {
		src := "name: t\nnodes:\n  - id: a\n    type: " + typ + "\n    config: [1]\n"
		f, probs := Parse("t.ygtc", []byte(src))
		if !probs.HasErrors() {
			t.Fatalf("%s: no errors", typ)
		}
		s, _ := newSet([]*Flow{f}, probs)
		if _, err := s.Step(nil, StartInput("t", "", nil), Context{To: "1"}); err == nil || !strings.Contains(err.Error(), "no valid config") {
			t.Errorf("%s: err = %v", typ, err)
		}
	}
}
