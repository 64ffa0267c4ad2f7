package delivery

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
)

const humanFlow = `name: human
version: "1.0"
nodes:
  - id: escalate
    type: handoff
    config:
      message: "A person will reply here."
      queue: support
      note: "asked for a human"
      timeout: 2h
      on_release: back
  - id: back
    type: reply
    config:
      message: "The bot is back."
triggers:
  - type: text
    keywords: [human]
    target: escalate
`

func handoffHarness(t *testing.T, dsn string) *harness {
	t.Helper()
	dir := t.TempDir()
	writeFlow(t, dir, "human.ygtc", humanFlow)
	writeFlow(t, dir, "hello.ygtc", helloFlow)
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return convHarness(t, dsn, set)
}

// A handoff node gives the contact to a person: messages are recorded, not answered,
// triggers do not fire; an agent's note is in the history; a release resumes at on_release.
func TestHandoffAndRelease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := handoffHarness(t, be.DSN(t))
		const a = "4915100881"
		h.say("h1", a, "human", 1)
		c := h.conversation(a)
		if c.Status != store.StatusHandoff || c.Queue != "support" || c.Note != "asked for a human" || c.Deadline.IsZero() {
			t.Fatalf("after the handoff node: %+v", c)
		}
		h.now.Add(1000)
		h.say("h2", a, "hello", 1)
		h.now.Add(1000)
		h.say("h3", a, "is anyone there?", 1)
		h.now.Add(1000)
		if got := h.sender.bodies("+" + a); len(got) != 1 {
			t.Fatalf("the bot answered during the handoff: %q", got)
		}
		if c := h.conversation(a); c.Status != store.StatusHandoff || c.Note != "asked for a human" {
			t.Fatalf("a message changed the handoff: %+v", c)
		}
		ctx := context.Background()
		if err := h.svc.AddNote(ctx, "acme", "support", "+"+a, "Ana", "customer is upset"); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.Handoff(ctx, "acme", "support", "+"+a, "x", "", "Ana"); err != ErrWithPerson {
			t.Fatalf("second handoff: %v", err)
		}
		hist, _, err := h.st.History(ctx, store.ContactRef{Tenant: "acme", Team: "support", Key: a}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var dirs []string
		for _, e := range hist {
			dirs = append(dirs, e.Dir)
		}
		if want := []string{"in", "out", "in", "in", "note"}; !slices.Equal(dirs, want) {
			t.Fatalf("history directions %q, want %q", dirs, want)
		}
		if err := h.svc.Release(ctx, "acme", "support", "+"+a, "nope", "Ana"); err == nil {
			t.Fatal("release to an unknown node accepted")
		}
		if err := h.svc.Release(ctx, "acme", "support", "+"+a, "", "Ana"); err != nil {
			t.Fatal(err)
		}
		got := h.waitBodies(a, 2)
		if got[1] != "The bot is back." {
			t.Fatalf("after the release: %q", got)
		}
		if err := h.svc.Release(ctx, "acme", "support", "+"+a, "", "Ana"); err != ErrNotWithPerson {
			t.Fatalf("release when not handed off: %v", err)
		}
		if got := h.say("h4", a, "hello", 3); got[2] != "hi there" {
			t.Fatalf("triggers after the release: %q", got)
		}
	})
}

// An agent takes a contact over through the API and releases it to a node; the handoff's
// timeout releases like an agent; STOP during a handoff ends it.
func TestHandoffByAPITimeoutAndStop(t *testing.T) {
	h := handoffHarness(t, "")
	ctx := context.Background()
	const a, b, c = "4915100882", "4915100883", "4915100884"
	h.say("a1", a, "hello", 1)
	if err := h.svc.Handoff(ctx, "acme", "support", "+"+a, "billing", "VIP", "Ana"); err != nil {
		t.Fatal(err)
	}
	h.say("a2", a, "hello", 1)
	if conv := h.conversation(a); conv.Status != store.StatusHandoff || conv.Queue != "billing" {
		t.Fatalf("after the API handoff: %+v", conv)
	}
	if err := h.svc.Release(ctx, "acme", "support", "+"+a, "hello/hi", "Ana"); err != nil {
		t.Fatal(err)
	}
	if got := h.waitBodies(a, 2); got[1] != "hi there" {
		t.Fatalf("release to hello/hi: %q", got)
	}
	if conv := h.conversation(a); conv.Status != "" || conv.LastEnd.Reason != string(flow.EndReleased) {
		t.Fatalf("after the release: %+v", conv)
	}

	h.say("b1", b, "human", 1)
	h.now.Add((2*time.Hour + time.Minute).Milliseconds())
	if _, err := h.svc.FeedDueTimeouts(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.waitBodies(b, 2); got[1] != "The bot is back." {
		t.Fatalf("after the handoff timeout: %q", got)
	}

	h.say("c1", c, "human", 1)
	h.say("c2", c, "STOP", 2)
	if conv := h.conversation(c); conv.Status != "" || conv.LastEnd.Reason != EndOptedOut {
		t.Fatalf("STOP during a handoff: %+v", conv)
	}
}
