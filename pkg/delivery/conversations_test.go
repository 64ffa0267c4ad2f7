package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// bodies is what the fake sender sent to, as text: a text's body, an interactive's body
// text, "template:NAME".
func (f *fakeSender) bodies(to string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		if m.To != to {
			continue
		}
		switch {
		case m.Text != nil:
			out = append(out, m.Text.Body)
		case m.Interactive != nil && m.Interactive.Body != nil:
			out = append(out, m.Interactive.Body.Text)
		case m.Template != nil:
			out = append(out, "template:"+m.Template.Name)
		}
	}
	return out
}

func buttonEvent(id, from, button, title string, ts time.Time) whatsapp.Event {
	return whatsapp.Event{Kind: whatsapp.EventMessage, Field: "messages", PhoneNumberID: "123",
		Message: &whatsapp.InboundMessage{ID: id, Type: "interactive", From: from, Timestamp: ts.Unix(),
			Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: button, Title: title}}}
}

// convHarness is a harness running set with conversations.
func convHarness(t *testing.T, dsn string, set *flow.Set) *harness {
	t.Helper()
	h := newHarness(t, dsn, false)
	h.svc.cfg.Runner, h.svc.cfg.Flows = SetRunner(set), set
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// say ingests text from contact and waits until the pipeline is idle with want replies in
// all to that contact.
func (h *harness) say(id, from, text string, want int) []string {
	h.t.Helper()
	h.ingest(textEvent(id, from, text, h.clock()))
	return h.waitBodies(from, want)
}

func (h *harness) waitBodies(from string, want int) []string {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%d replies to %s", want, from), func() bool {
		return h.idle() && len(h.sender.bodies("+"+from)) >= want
	})
	return h.sender.bodies("+" + from)
}

func (h *harness) conversation(key string) *store.Conversation {
	h.t.Helper()
	c, err := h.st.ConversationOf(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: key})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

const (
	askOrder   = "What is your order number? It has 5 to 10 digits, like 12345."
	retryOrder = "That does not look like an order number. Please send just the digits, like 12345."
	apology    = "Sorry, I could not read an order number. Write \"status\" to try again or \"menu\" for other options."
	confirmed  = "Order lookup is not configured yet, sorry. We have noted order 12345: write \"menu\" for other options."
)

// The starter's Check Status conversation through the pipeline: the question waits in the
// store, two invalid answers are re-asked, the third valid one is confirmed and kept in
// user.*; three invalid answers end with the apology.
func TestCheckStatusConversation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := convHarness(t, be.DSN(t), loadStarter(t))
		const a, b = "4915100801", "4915100802"
		h.say("a1", a, "status", 1)
		c := h.conversation(a)
		if c.Flow != "check_status" || c.Node != "ask_order" || c.Status != flow.StateWaiting ||
			!c.Deadline.Equal(h.clock().Add(30*time.Minute).Truncate(time.Second)) {
			t.Fatalf("waiting conversation = %+v", c)
		}
		h.say("a2", a, "abc", 2)
		h.say("a3", a, "12", 3)
		got := h.say("a4", a, "12345", 4)
		want := []string{askOrder, retryOrder, retryOrder, confirmed}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("replies =\n%q\nwant\n%q", got, want)
		}
		c = h.conversation(a)
		if c.State != nil || c.LastEnd.Reason != string(flow.EndCompleted) || c.User["last_order"] != "12345" {
			t.Fatalf("after the answer: %+v", c)
		}

		h.say("b1", b, "status", 1)
		h.say("b2", b, "x", 2)
		h.say("b3", b, "y", 3)
		got = h.say("b4", b, "z", 4)
		if got[3] != apology {
			t.Fatalf("after three invalid answers: %q", got)
		}
		if c := h.conversation(b); c.State != nil {
			t.Fatalf("conversation still waits: %+v", c)
		}
	})
}

// STOP in the middle of a question ends the conversation (nothing more is asked) and the
// end is kept; menu interrupts a question and starts its own flow.
func TestStopAndInterruptMidQuestion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := convHarness(t, be.DSN(t), loadStarter(t))
		const a, b = "4915100811", "4915100812"
		h.say("s1", a, "status", 1)
		h.say("s2", a, "STOP", 2)
		c := h.conversation(a)
		if c.State != nil || c.LastEnd.Reason != EndOptedOut || c.LastEnd.Node != "ask_order" {
			t.Fatalf("after STOP: %+v", c)
		}

		h.say("i1", b, "status", 1)
		got := h.say("i2", b, "menu", 2)
		if got[1] != "Please select an option:" {
			t.Fatalf("menu during a question: %q", got)
		}
		c = h.conversation(b)
		if c.State != nil || c.LastEnd.Reason != string(flow.EndInterrupted) || c.LastEnd.Node != "ask_order" {
			t.Fatalf("after the interrupt: %+v", c)
		}
	})
}

// A timeout fires through the contact's queue when its job runs (the River job, on the wall
// clock) and when gtc chat feeds it (FeedDueTimeouts); a stale timeout changes nothing.
func TestTimeoutFires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		dir := t.TempDir()
		writeFlow(t, dir, "quick.ygtc", quickFlow)
		set, err := flow.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		h := convHarness(t, be.DSN(t), set)
		const a, b = "4915100821", "4915100822"

		// The job: scheduled 1 s ahead on the wall clock; the service's clock moves past the
		// deadline so the engine takes it as due.
		h.say("t1", a, "quick", 1)
		h.now.Add(2000)
		got := h.waitBodies(a, 2)
		if got[1] != "Too slow." {
			t.Fatalf("after the timeout: %q", got)
		}
		if c := h.conversation(a); c.State != nil || c.LastEnd.Reason != string(flow.EndCompleted) {
			t.Fatalf("after the timeout: %+v", c)
		}

		// Answered in time: the timeout that comes later is stale.
		h.say("t2", b, "quick", 1)
		h.say("t3", b, "Ada", 2)
		h.now.Add(2000)
		if n, err := h.svc.FeedDueTimeouts(context.Background()); err != nil || n != 0 {
			t.Fatalf("nothing is due: %d %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
		h.eventually("idle", h.idle)
		if got := h.sender.bodies("+" + b); !reflect.DeepEqual(got, []string{"Quick, your name?", "Hello Ada"}) {
			t.Fatalf("replies = %q", got)
		}
	})
}

// FeedDueTimeouts feeds a due timeout at once (gtc chat's /wait).
func TestFeedDueTimeouts(t *testing.T) {
	h := convHarness(t, "", loadStarter(t))
	const a = "4915100831"
	h.say("f1", a, "status", 1)
	h.now.Add((31 * time.Minute).Milliseconds())
	if n, err := h.svc.FeedDueTimeouts(context.Background()); err != nil || n != 1 {
		t.Fatalf("fed %d, %v", n, err)
	}
	got := h.waitBodies(a, 2)
	if got[1] != "No worries, write \"status\" when you have the order number at hand." {
		t.Fatalf("after /wait: %q", got)
	}
	if c := h.conversation(a); c.LastEnd.Reason != string(flow.EndCompleted) || c.State != nil {
		t.Fatalf("after the timeout: %+v", c)
	}
}

// An explicit start (the send API, gtc chat /flow) starts a conversation that then waits
// for the answer; its vars are the conversation's.
func TestStartFlowWaitsForTheAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := convHarness(t, be.DSN(t), loadStarter(t))
		const a = "4915100841"
		h.ingest(textEvent("w1", a, "hi", h.clock())) // opens the window
		h.waitBodies(a, 2)
		out, err := h.svc.StartFlow(context.Background(), "acme", "support", FlowStart{Flow: "feedback", To: "+" + a,
			Vars: map[string]any{"campaign": "nov"}})
		if err != nil || len(out) != 1 || out[0].State != store.OutSent {
			t.Fatalf("start: %v %v", out, err)
		}
		if c := h.conversation(a); c.Flow != "feedback" || c.Node != "ask_rating" {
			t.Fatalf("after the start: %+v", c)
		}
		h.ingest(buttonEvent("w2", a, "good", "Good", h.clock()))
		h.waitBodies(a, 4)
		got := h.say("w3", a, "Quick and friendly", 5)
		if got[4] != "Thank you for your feedback!" {
			t.Fatalf("replies = %q", got)
		}
		c := h.conversation(a)
		if c.User["rating"] != "good" || c.User["comment"] != "Quick and friendly" || c.State != nil {
			t.Fatalf("user = %v, conversation %+v", c.User, c)
		}
		// Unknown flows are typed errors, as before.
		if _, err := h.svc.StartFlow(context.Background(), "acme", "support", FlowStart{Flow: "nosuch", To: "+" + a}); err == nil ||
			!strings.Contains(err.Error(), "nosuch") {
			t.Fatalf("unknown flow: %v", err)
		}
	})
}

// A flow edited while a conversation waits: the node is gone, the conversation ends with
// flow_edited (kept for gtc contacts) and the message goes to the triggers.
func TestFlowEditedWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	h := convHarness(t, filepath.Join(dir, "gtc.db"), loadStarter(t))
	const a = "4915100851"
	h.say("e1", a, "status", 1)
	h.close()

	edited := t.TempDir()
	writeFlow(t, edited, "check_status.ygtc", `name: check_status
version: "1.0"
nodes:
  - id: ask_number
    type: ask
    config:
      message: "Your order number?"
      save_as: order_id
triggers:
  - type: text
    keywords: [status]
    target: ask_number
`)
	set, err := flow.LoadDir(edited)
	if err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, path: h.path, sender: h.sender, flows: h.flows}
	h2.now.Store(h.now.Load())
	h2.open(false)
	h2.svc.cfg.Runner, h2.svc.cfg.Flows = SetRunner(set), set
	if err := h2.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2.say("e2", a, "status", 2)
	c := h2.conversation(a)
	if c.Node != "ask_number" || c.State == nil || c.LastEnd.Reason != string(flow.EndFlowEdited) || c.LastEnd.Node != "ask_order" {
		t.Fatalf("after the edit: %+v", c)
	}
	h2.say("e3", a, "12345", 2)
	if c := h2.conversation(a); c.LastEnd.Reason != string(flow.EndCompleted) {
		t.Fatalf("answered: %+v", c)
	}
}

func writeFlow(t testing.TB, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two instances on one PostgreSQL database: the question instance A asked is answered
// through instance B (the state is in the database, the lease serialises the contact).
func TestTwoInstancesShareAConversation(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	set := loadStarter(t)
	sender := newFakeSender()
	clock := func() time.Time { return tBase }
	a := startInstance(t, dsn, "a", sender, SetRunner(set), clock, 2, time.Minute)
	b := startInstance(t, dsn, "b", sender, SetRunner(set), clock, 2, time.Minute)
	const key = "4915100861"
	idle := func() bool {
		d, err := a.st.QueueDepth(context.Background())
		return err == nil && d.PendingEvents == 0 && d.OpenOutbound == 0
	}
	wait := func(n int) []string {
		deadline := time.Now().Add(15 * time.Second)
		for !(idle() && len(sender.bodies("+"+key)) >= n) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %d replies: %q", n, sender.bodies("+"+key))
			}
			time.Sleep(5 * time.Millisecond)
		}
		return sender.bodies("+" + key)
	}
	if err := a.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{textEvent("x1", key, "status", tBase)}); err != nil {
		t.Fatal(err)
	}
	wait(1)
	a.svc.Stop(context.Background()) // only B is left to answer
	if err := b.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{textEvent("x2", key, "12345", tBase)}); err != nil {
		t.Fatal(err)
	}
	got := wait(2)
	if !reflect.DeepEqual(got, []string{askOrder, confirmed}) {
		t.Fatalf("replies = %q", got)
	}
	c, err := b.st.ConversationOf(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: key})
	if err != nil || c.User["last_order"] != "12345" || c.State != nil {
		t.Fatalf("conversation = %+v %v", c, err)
	}
}

// A number without a call runner (no calls.Runner wired) fails every call: the
// conversation ends with call_failed and says why in the detail, never waits forever.
func TestCallWithoutRunnerFails(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "lookup.ygtc", `name: lookup
version: "1.0"
nodes:
  - id: ask
    type: ask
    config:
      message: "Order?"
      save_as: order_id
    next: call
  - id: call
    type: http
    config:
      url: "https://shop.example.com/orders/{{vars.order_id}}"
      save_as: order
    next: tell
  - id: tell
    type: reply
    config:
      message: "Status {{vars.order.body}}"
triggers:
  - type: text
    keywords: [lookup]
    target: ask
`)
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := convHarness(t, "", set)
	const a = "4915100871"
	h.say("c1", a, "lookup", 1)
	h.say("c2", a, "A-1", 1)
	h.eventually("the call to fail", func() bool { return h.conversation(a).LastEnd.Reason == string(flow.EndCallFailed) })
	if c := h.conversation(a); c.State != nil || !strings.Contains(c.LastEnd.Detail, "calls are not configured") {
		t.Fatalf("conversation: %+v", c)
	}
}

// A start's vars are the conversation's: the question and the reply after the answer both
// read them.
func TestStartVarsLastTheConversation(t *testing.T) {
	dir := t.TempDir()
	writeFlow(t, dir, "code.ygtc", `name: code
version: "1.0"
nodes:
  - id: ask_code
    type: ask
    config:
      message: "Hi {{vars.name}}, your code?"
      save_as: code
    next: thanks
  - id: thanks
    type: reply
    config:
      message: "Thanks {{vars.name}}, got {{vars.code}}."
`)
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := convHarness(t, "", set)
	const a = "4915100881"
	h.ingest(textEvent("v0", a, "hi", h.clock())) // opens the window; no trigger
	h.eventually("idle", h.idle)
	if _, err := h.svc.StartFlow(context.Background(), "acme", "support", FlowStart{Flow: "code", To: "+" + a,
		Vars: map[string]any{"name": "Ada"}}); err != nil {
		t.Fatal(err)
	}
	got := h.say("v1", a, "X-42", 2)
	if want := []string{"Hi Ada, your code?", "Thanks Ada, got X-42."}; !reflect.DeepEqual(got, want) {
		t.Fatalf("replies = %q, want %q", got, want)
	}
}

const quickFlow = `name: quick
version: "1.0"
nodes:
  - id: ask
    type: ask
    config:
      message: "Quick, your name?"
      save_as: name
      timeout: 1s
      on_timeout: late
    next: hello
  - id: hello
    type: reply
    config:
      message: "Hello {{vars.name}}"
  - id: late
    type: reply
    config:
      message: "Too slow."
triggers:
  - type: text
    keywords: [quick]
    target: ask
`

// A timeout job lost with its database (gtc migrate copies no jobs) is made again when the
// service starts; a job that exists is not doubled.
func TestStartRecoversTimeoutJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		dir := t.TempDir()
		writeFlow(t, dir, "quick.ygtc", quickFlow)
		set, err := flow.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		h := convHarness(t, be.DSN(t), set)
		const a = "4915100891"
		h.say("r1", a, "quick", 1)
		timeoutJobs := func() int {
			var n int
			if err := h.st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'gtc_timeout'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := timeoutJobs(); n != 1 {
			t.Fatalf("%d timeout jobs after the question, want 1", n)
		}
		restart := func() {
			h.close()
			h2 := &harness{t: t, path: h.path, sender: h.sender, flows: h.flows}
			h2.now.Store(h.now.Load())
			h2.open(false)
			h2.svc.cfg.Runner, h2.svc.cfg.Flows = SetRunner(set), set
			if err := h2.svc.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			h = h2
		}
		restart()
		if n := timeoutJobs(); n != 1 {
			t.Fatalf("%d timeout jobs after a restart, want 1 (not doubled)", n)
		}
		// Lost, as in a copied database: the start makes it again.
		if _, err := h.st.DB().Exec(`DELETE FROM river_job WHERE kind = 'gtc_timeout'`); err != nil {
			t.Fatal(err)
		}
		restart()
		if n := timeoutJobs(); n != 1 {
			t.Fatalf("%d timeout jobs after recovery, want 1", n)
		}
		h.now.Add(2000)
		if got := h.waitBodies(a, 2); got[1] != "Too slow." {
			t.Fatalf("after the recovered timeout: %q", got)
		}
	})
}

// A timeout event handled by an instance whose clock lags the scheduler's a little still
// times the question out (the event is the proof its deadline passed).
func TestTimeoutOnALaggingClock(t *testing.T) {
	h := convHarness(t, "", loadStarter(t))
	const a = "4915100901"
	h.say("l1", a, "status", 1)
	c := h.conversation(a)
	conv, err := decodeConversation(c.State)
	if err != nil || conv == nil {
		t.Fatal(conv, err)
	}
	// The job fired (somewhere else); this instance's clock is still a second before.
	h.now.Store(time.Unix(conv.Deadline, 0).Add(-time.Second).UnixMilli())
	if err := h.svc.queueTimeout(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: a}, conv.ID, conv.Deadline); err != nil {
		t.Fatal(err)
	}
	if got := h.waitBodies(a, 2); got[1] != "No worries, write \"status\" when you have the order number at hand." {
		t.Fatalf("replies = %q", got)
	}
}

// Several answers of one contact in one job: each step re-asks with a deadline at the same
// second, and the round commits once (one timeout job per contact, the last state's).
func TestSeveralAnswersInOneRound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := convHarness(t, be.DSN(t), loadStarter(t))
		const a = "4915100911"
		now := h.clock()
		h.ingest(textEvent("m1", a, "status", now), textEvent("m2", a, "abc", now), textEvent("m3", a, "12", now))
		got := h.waitBodies(a, 3)
		if want := []string{askOrder, retryOrder, retryOrder}; !reflect.DeepEqual(got, want) {
			t.Fatalf("replies = %q, want %q", got, want)
		}
		var n int
		if err := h.st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'gtc_timeout'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d timeout jobs (%v), want 1", n, err)
		}
	})
}
