package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// lifecycleHarness runs the service with a real Cloud API client against graphfake, whose
// account has the template echoFlows sends (hello, en) in category; marketing turns on the
// Marketing Messages API for the number.
func lifecycleHarness(t *testing.T, be storetest.Backend, category string, marketing bool, opts graphfake.Options) (*harness, *graphfake.Server) {
	t.Helper()
	if v, err := metaschema.Default(); err == nil {
		opts.Schema = v
	}
	opts.Templates = []graphfake.Template{
		{ID: "2000000000000001", Name: "hello", Language: "en", Status: "APPROVED", Category: category,
			Components: []graphfake.TemplateComponent{{Type: "BODY", Text: "Hello from us!"}}},
	}
	g := graphfake.New(opts)
	t.Cleanup(g.Close)
	h := &harness{t: t, path: be.DSN(t), flows: &echoFlows{}}
	h.now.Store(time.Now().UnixMilli())
	st, err := store.Open(context.Background(), h.path, store.Options{Now: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: g.URL, PhoneNumberID: graphfake.DefaultPhoneNumberID,
		BusinessAccountID: graphfake.DefaultBusinessAccountID, Token: graphfake.DefaultToken, MarketingMessages: marketing})
	svc, err := New(Config{
		Providers: []Provider{{Tenant: "acme", Team: "support", PhoneNumberID: graphfake.DefaultPhoneNumberID,
			MarketingMessages: marketing, Sender: ClientSender(c)}},
		Runner: h.flows, Store: st, Now: h.clock, Workers: 2, PollInterval: 5 * time.Millisecond,
		Backoff: func(int, int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.svc = st, svc
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h, g
}

// hook parses a webhook body graphfake built and ingests its events, as gtc serve does.
func (h *harness) hook(body []byte, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	evs, err := whatsapp.ParseWebhook(body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.ingest(evs...)
}

func (h *harness) at() time.Time { return time.UnixMilli(h.now.Load()) }

func callsTo(g *graphfake.Server, endpoint string) int {
	n := 0
	for _, c := range g.Calls() {
		if c.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// A template Meta pauses (as its webhook says) is refused for flow replies and the send API
// with its status, reason and date, and sent again once Meta approves it.
func TestTemplatePausedByWebhookRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, g := lifecycleHarness(t, be, "UTILITY", false, graphfake.Options{})
		const from = "4915100021"
		h.ingest(textEvent("wamid.t1", from, "template", h.at()))
		h.eventually("idle", h.idle)
		if out := h.outbound(from); len(out) != 1 || out[0].State != store.OutSent {
			t.Fatalf("approved template: %+v", out)
		}
		paused := h.at().Add(time.Second)
		h.hook(g.TemplateStatus("hello", "en", "PAUSED", "FLAGGED_BY_CUSTOMERS", paused))
		st, err := h.st.TemplateState(context.Background(), "acme", "support", "hello", "en")
		if err != nil || st.Status != "PAUSED" || st.Reason != "FLAGGED_BY_CUSTOMERS" || st.Category != "UTILITY" || st.WABAID != graphfake.DefaultBusinessAccountID {
			t.Fatalf("recorded %+v, %v", st, err)
		}
		h.ingest(textEvent("wamid.t2", from, "template", h.at()))
		h.eventually("idle", h.idle)
		out := h.outbound(from)
		if len(out) != 2 || out[1].State != store.OutRefused || out[1].ErrorClass != ReasonTemplateNotSendable || out[1].Attempts != 0 ||
			!strings.Contains(out[1].ErrorMessage, "template hello (en) is PAUSED since "+paused.UTC().Format(time.RFC3339)+" (reason: FLAGGED_BY_CUSTOMERS)") {
			t.Fatalf("paused template reply: %+v", out[len(out)-1])
		}
		// The send API: a refusal with the reason, typed.
		rows, err := h.svc.Send(context.Background(), "acme", "support", []OutboundMessage{{Message: whatsapp.Message{To: "+" + from,
			Type: "template", Template: &whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "en"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		var refused *RefusedError
		if err := Refused(rows); !errors.As(err, &refused) || refused.Reason != ReasonTemplateNotSendable || !strings.Contains(refused.Error(), "is PAUSED since") {
			t.Fatalf("send API refusal: %v", err)
		}
		if n := sentTo(g, "+"+from); n != 1 {
			t.Fatalf("%d sends reached Graph, want only the first", n)
		}
		// An older APPROVED arriving late changes nothing; a newer one makes it sendable.
		h.hook(g.TemplateStatus("hello", "en", "APPROVED", "", paused.Add(-time.Minute)))
		if st, _ := h.st.TemplateState(context.Background(), "acme", "support", "hello", "en"); st.Status != "PAUSED" {
			t.Fatalf("a late older webhook won: %+v", st)
		}
		h.hook(g.TemplateStatus("hello", "en", "APPROVED", "", paused.Add(time.Minute)))
		h.ingest(textEvent("wamid.t3", from, "template", h.at()))
		h.eventually("idle", h.idle)
		if out := h.outbound(from); out[len(out)-1].State != store.OutSent || sentTo(g, "+"+from) != 2 {
			t.Fatalf("approved again: %+v", out[len(out)-1])
		}
	})
}

// With marketing_messages, a marketing-category template a flow sends goes through
// /{phone}/marketing_messages; the category comes from Graph's list once (recorded), or
// from a category webhook; utility templates and text stay on /messages.
func TestMarketingTemplatesThroughMarketingMessages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, g := lifecycleHarness(t, be, "MARKETING", true, graphfake.Options{})
		const from = "4915100022"
		h.ingest(textEvent("wamid.m1", from, "both", h.at()))
		h.eventually("idle", h.idle)
		if got := callsTo(g, graphfake.EndpointMarketing); got != 1 {
			t.Fatalf("%d marketing_messages calls, want 1", got)
		}
		if got := callsTo(g, graphfake.EndpointMessages); got != 1 {
			t.Fatalf("%d messages calls, want 1 (the text)", got)
		}
		if got := callsTo(g, graphfake.EndpointTemplates); got != 1 {
			t.Fatalf("%d template list reads, want 1", got)
		}
		if st, _ := h.st.TemplateState(context.Background(), "acme", "support", "hello", "en"); st == nil || st.Category != "MARKETING" || st.StatusSource != store.TemplateSourceGraph {
			t.Fatalf("Graph's list not recorded: %+v", st)
		}
		// Meta recategorises it as utility: /messages, and no new list read.
		h.hook(g.TemplateCategory("hello", "en", "MARKETING", "UTILITY", h.at().Add(time.Second)))
		h.ingest(textEvent("wamid.m2", from, "template", h.at()))
		h.eventually("idle", h.idle)
		if got := callsTo(g, graphfake.EndpointMarketing); got != 1 {
			t.Fatalf("%d marketing_messages calls after the recategorisation, want still 1", got)
		}
		if got := callsTo(g, graphfake.EndpointTemplates); got != 1 {
			t.Fatalf("%d template list reads, want still 1", got)
		}
		if out := h.outbound(from); out[len(out)-1].State != store.OutSent {
			t.Fatalf("utility template: %+v", out[len(out)-1])
		}
	})
}

// Conversation Routing: a standby copy is recorded and never answered, and while another
// responder has the thread the contact's messages are recorded without a flow run or a
// reply (an opt-out still counts, silently); control_passed gives the thread to gtc; a
// thread idle for 24 hours goes back to routing.
func TestThreadControlledByAnotherResponder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, g := lifecycleHarness(t, be, "UTILITY", false, graphfake.Options{})
		ctx := context.Background()
		f := graphfake.Sender{WaID: "4915100023", Name: "Ada"}
		ref := store.ContactRef{Tenant: "acme", Team: "support", Key: f.WaID}
		h.hook(g.StandbyText(f, "wamid.s1", "hello other app", h.at()), nil)
		h.eventually("idle", h.idle)
		if n := h.flows.runs.Load(); n != 0 {
			t.Fatalf("a standby copy ran %d flows", n)
		}
		if th, _ := h.st.ThreadOf(ctx, ref); th.Owner != store.ThreadOther || th.Why != "standby" {
			t.Fatalf("thread after standby: %+v", th)
		}
		if c, _ := h.st.Contact(ctx, "acme", "support", f.WaID); !c.WindowOpen(h.at()) {
			t.Fatal("a standby message did not open the window")
		}
		h.hook(g.InboundText(f, "wamid.s2", "hi", h.at()), nil)
		h.hook(g.InboundText(f, "wamid.s3", "STOP", h.at()), nil)
		h.eventually("idle", h.idle)
		if n, out := h.flows.runs.Load(), h.outbound(f.WaID); n != 0 || len(out) != 0 {
			t.Fatalf("answered a thread another responder has: %d runs, %+v", n, out)
		}
		if c, _ := h.st.Contact(ctx, "acme", "support", f.WaID); !c.OptedOut {
			t.Fatal("STOP in another's thread did not opt out")
		}
		h.hook(g.InboundText(f, "wamid.s4", "START", h.at()), nil)
		h.eventually("idle", h.idle) // the thread is decided when a message is processed
		h.hook(g.Handover(f, "control_passed", "escalation_partner", "primary", "back to you", h.at().Add(time.Second)), nil)
		h.hook(g.InboundText(f, "wamid.s5", "hi again", h.at().Add(2*time.Second)), nil)
		h.eventually("idle", h.idle)
		if out := h.outbound(f.WaID); len(out) != 1 || out[0].State != store.OutSent || h.flows.runs.Load() != 1 {
			t.Fatalf("after control_passed: %+v", out)
		}
		// The escalation partner takes it: quiet again, until the thread is idle a day.
		h.hook(g.Handover(f, "control_taken", "primary", "escalation_partner", "", h.at().Add(3*time.Second)), nil)
		h.hook(g.InboundText(f, "wamid.s6", "anyone?", h.at().Add(4*time.Second)), nil)
		h.eventually("idle", h.idle)
		if n := h.flows.runs.Load(); n != 1 {
			t.Fatalf("answered after control_taken: %d runs", n)
		}
		h.now.Add((25 * time.Hour).Milliseconds())
		h.hook(g.InboundText(f, "wamid.s7", "hello tomorrow", h.at()), nil)
		h.eventually("idle", h.idle)
		if n := h.flows.runs.Load(); n != 2 {
			t.Fatalf("an idle thread was not answered: %d runs", n)
		}
	})
}

// A handoff while another responder has the thread takes it first (the escalation partner
// may; a primary app is refused and nothing changes); releasing gives it back to routing.
func TestHandoffTakesThread(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		for _, partner := range []bool{false, true} {
			h, g := lifecycleHarness(t, be, "UTILITY", false, graphfake.Options{EscalationPartner: partner})
			ctx := context.Background()
			f := graphfake.Sender{WaID: "4915100024", Name: "Ada"}
			ref := store.ContactRef{Tenant: "acme", Team: "support", Key: f.WaID}
			h.hook(g.Handover(f, "control_taken", "primary", "meta_business_agent", "", h.at()), nil)
			err := h.svc.Handoff(ctx, "acme", "support", "+"+f.WaID, "support", "", "Bea")
			conv, _ := h.st.ConversationOf(ctx, ref)
			th, _ := h.st.ThreadOf(ctx, ref)
			if !partner {
				var tce *ThreadControlError
				if !errors.As(err, &tce) || !strings.Contains(err.Error(), "escalation partner") || conv.Status == store.StatusHandoff || th.Owner != store.ThreadOther {
					t.Fatalf("take as primary: %v; conversation %q, thread %+v", err, conv.Status, th)
				}
				continue
			}
			if err != nil || conv.Status != store.StatusHandoff || th.Owner != store.ThreadGTC || th.Why != whatsapp.ThreadTake || g.ThreadOwner(f.WaID) != graphfake.ThreadApp {
				t.Fatalf("take as escalation partner: %v; conversation %q, thread %+v", err, conv.Status, th)
			}
			if err := h.svc.ThreadControl(ctx, "acme", "support", "+"+f.WaID, whatsapp.ThreadRelease, ""); err != nil {
				t.Fatal(err)
			}
			if th, _ := h.st.ThreadOf(ctx, ref); th.Owner != store.ThreadReleased || g.ThreadOwner(f.WaID) != graphfake.ThreadIdle {
				t.Fatalf("after release: %+v, fake %q", th, g.ThreadOwner(f.WaID))
			}
			if n := callsTo(g, graphfake.EndpointThreadControl); n != 2 {
				t.Fatalf("%d thread control calls, want 2", n)
			}
		}
	})
}
