package delivery

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/events"
	"github.com/greentic/gtc/pkg/events/eventstest"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const sinkSecret = "s3cret-for-tests"

// fastEvents is a retry schedule for tests: the harness clock moves by hand.
var fastEvents = &events.Schedule{Base: time.Second, Max: time.Second, GiveUpAfter: time.Hour}

// withEvents points the harness's provider at sink (before Start).
func (h *harness) withEvents(sink *eventstest.Sink) {
	p := h.svc.providers["acme/support"]
	p.EventsURL = sink.URL()
	p.EventsSecret = func() (string, error) { return sinkSecret, nil }
	h.svc.cfg.EventPoll, h.svc.cfg.EventSchedule = 10*time.Millisecond, fastEvents
}

// waitEvents moves the harness clock a second at a time (so retries come due) until the
// sink has n distinct events.
func (h *harness) waitEvents(sink *eventstest.Sink, n int) []*events.Event {
	h.t.Helper()
	h.eventually("events at the sink", func() bool {
		if len(sink.Events()) >= n {
			return true
		}
		h.now.Add(1000)
		time.Sleep(5 * time.Millisecond)
		return false
	})
	return sink.Events()
}

func types(evs []*events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Type))
	}
	return out
}

// The handoff flow's events reach a real listener signed, in order, after a 500 is retried:
// the message, the handoff, a message while handed off, the release and the end.
func TestEventWebhooksOfAHandoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		sink := eventstest.New(t, eventstest.Options{Secret: sinkSecret})
		h := newHarness(t, be.DSN(t), false)
		set := handoffHarnessSet(t)
		h.svc.cfg.Runner, h.svc.cfg.Flows = SetRunner(set), set
		h.withEvents(sink)
		sink.FailNext(1, 500)
		if err := h.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		const a = "4915100991"
		h.say("e1", a, "human", 1)
		h.say("e2", a, "are you there?", 1)
		if err := h.svc.Release(context.Background(), "acme", "support", "+"+a, "", "api"); err != nil {
			t.Fatal(err)
		}
		h.waitBodies(a, 2)
		got := h.waitEvents(sink, 5)
		want := []string{"message.received", "handoff.requested", "message.received", "handoff.released"}
		if tys := types(got); len(tys) < 4 || !slices.Equal(tys[:4], want) {
			t.Fatalf("event types %q, want %q first", tys, want)
		}
		var states []string
		for _, r := range got {
			if d, ok := r.Data.(*events.MessageReceived); ok {
				states = append(states, d.State)
			}
		}
		if !slices.Equal(states, []string{"bot", "handoff"}) {
			t.Fatalf("message states %q", states)
		}
		if rq := got[1].Data.(*events.HandoffRequested); rq.By != "flow" || rq.Queue != "support" || rq.Node != "escalate" {
			t.Fatalf("handoff.requested = %+v", rq)
		}
		if rl := got[3].Data.(*events.HandoffReleased); rl.By != "api" || rl.Node != "back" {
			t.Fatalf("handoff.released = %+v", rl)
		}
		order := sink.ByContact()[a]
		for i := 1; i < len(order); i++ {
			if seq(order[i]) < seq(order[i-1]) {
				t.Fatalf("out of order: %q", order)
			}
		}
		var scripted int
		for _, r := range sink.Requests() {
			if r.Scripted {
				scripted++
			}
		}
		if scripted != 1 || len(sink.Received()) < 5 {
			t.Fatalf("scripted failures %d, received %d", scripted, len(sink.Received()))
		}
		if sink.Received()[0].Header.Get(events.SignatureHeader) == "" {
			t.Fatal("unsigned")
		}
		h.eventually("the outbox drained", func() bool {
			b, err := h.st.EventBacklog(context.Background())
			return err == nil && b.Pending == 0
		})
	})
}

func seq(id string) int {
	var n int
	json.Unmarshal([]byte(id[len("evt_"):]), &n)
	return n
}

// A contact whose event is retried holds its later events; another contact's go on.
func TestEventWebhooksOrderPerContact(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: sinkSecret})
	h := newHarness(t, "", false)
	h.withEvents(sink)
	const a, b = "4915100992", "4915100993"
	// Statuses make events at ingest, no flow needed: the first POST fails three times.
	st := func(wamid, to, status string) whatsapp.Event {
		return whatsapp.Event{Kind: whatsapp.EventStatus, Status: &whatsapp.Status{ID: wamid, Status: status, Timestamp: tBase.Unix(), RecipientID: to}}
	}
	h.ingest(st("wamid.A1", a, "sent"), st("wamid.A1", a, "delivered"), st("wamid.A1", a, "read"))
	sink.FailNext(3, 503)
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.ingest(st("wamid.B1", b, "sent"))
	h.waitEvents(sink, 4)
	if got := sink.ByContact()[a]; !slices.IsSortedFunc(got, func(x, y string) int { return seq(x) - seq(y) }) || len(got) != 3 {
		t.Fatalf("contact a: %q", got)
	}
	var statuses []string
	for _, r := range sink.Events() {
		if r.Contact.Key() == a {
			statuses = append(statuses, r.Data.(*events.MessageStatus).Status)
		}
	}
	if !slices.Equal(statuses, []string{"sent", "delivered", "read"}) {
		t.Fatalf("statuses of a in order %q", statuses)
	}
}

// An event recorded by an instance that died before delivering it (or while delivering it,
// holding its lease) is delivered by the next start on the same database.
func TestEventWebhooksSurviveARestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		sink := eventstest.New(t, eventstest.Options{Secret: sinkSecret})
		dsn := be.DSN(t)
		h := newHarness(t, dsn, false)
		h.withEvents(sink)
		const a = "4915100994"
		for _, s := range []string{"sent", "delivered", "read"} {
			h.ingest(whatsapp.Event{Kind: whatsapp.EventStatus, Status: &whatsapp.Status{ID: "wamid.R1", Status: s, Timestamp: tBase.Unix(), RecipientID: a}})
		}
		// The first is being delivered by the instance when it dies: its lease holds it.
		due, err := h.st.DueOutbox(context.Background(), h.clock(), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("due %d, %v", len(due), err)
		}
		if ok, err := h.st.ClaimOutbox(context.Background(), due[0].ID, h.clock(), events.Lease); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		h.close()
		if len(sink.Received()) != 0 {
			t.Fatal("delivered before the restart")
		}

		h2 := newHarness(t, dsn, false)
		h2.now.Store(h.now.Load())
		h2.withEvents(sink)
		if err := h2.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := h2.waitEvents(sink, 3)
		if got[0].ID != events.SeqID(due[0].ID) {
			t.Fatalf("first delivered %s, want the leased %s", got[0].ID, events.SeqID(due[0].ID))
		}
	})
}

func handoffHarnessSet(t *testing.T) *flow.Set {
	t.Helper()
	dir := t.TempDir()
	writeFlow(t, dir, "human.ygtc", humanFlow)
	writeFlow(t, dir, "hello.ygtc", helloFlow)
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Two instances on PostgreSQL: a handoff started through A (a handoff node), the customer's
// message and an agent's reply and release through B, the bot answering again through A;
// the receiver gets every event once per claim, in order for the contact.
func TestHandoffAcrossTwoInstances(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	sink := eventstest.New(t, eventstest.Options{Secret: sinkSecret})
	set := handoffHarnessSet(t)
	sender := newFakeSender()
	clock := func() time.Time { return time.Now() }
	withEvents := func(c *Config) {
		c.Flows, c.EventPoll, c.EventSchedule = set, 10*time.Millisecond, fastEvents
		c.Providers[0].EventsURL = sink.URL()
		c.Providers[0].EventsSecret = func() (string, error) { return sinkSecret, nil }
	}
	a := startInstanceWith(t, dsn, "a", sender, SetRunner(set), clock, 4, time.Minute, withEvents)
	b := startInstanceWith(t, dsn, "b", sender, SetRunner(set), clock, 4, time.Minute, withEvents)
	ctx := context.Background()
	const from = "4915100995"
	ingest := func(in *instance, id, text string) {
		t.Helper()
		if err := in.svc.Ingest(ctx, "acme", "support", []whatsapp.Event{textEvent(id, from, text, time.Now())}); err != nil {
			t.Fatal(err)
		}
	}
	idle := func() bool {
		d, err := a.st.QueueDepth(ctx)
		return err == nil && d.PendingEvents == 0 && d.OpenOutbound == 0
	}
	conv := func(in *instance) string {
		c, err := in.st.ConversationOf(ctx, store.ContactRef{Tenant: "acme", Team: "support", Key: from})
		if err != nil {
			t.Fatal(err)
		}
		return c.Status
	}

	ingest(a, "x1", "human")
	waitFor(t, "the handoff", func() bool { return idle() && conv(b) == store.StatusHandoff })
	ingest(b, "x2", "hello")
	waitFor(t, "the message recorded", idle)
	if got := sender.bodies("+" + from); len(got) != 1 {
		t.Fatalf("the bot answered during the handoff: %q", got)
	}
	msg := whatsapp.Message{To: "+" + from, Type: "text", Text: &whatsapp.Text{Body: "Hi, Sam here."}}
	if _, err := b.svc.Send(ctx, "acme", "support", []OutboundMessage{{Message: msg, Origin: store.OriginSend}}); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.Release(ctx, "acme", "support", "+"+from, "", "api"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bot back", func() bool { return idle() && len(sender.bodies("+"+from)) == 3 })
	if err := a.svc.Release(ctx, "acme", "support", "+"+from, "", "api"); err != ErrNotWithPerson {
		t.Fatalf("released twice: %v", err)
	}
	ingest(a, "x3", "hello")
	waitFor(t, "the bot answering", func() bool { return idle() && len(sender.bodies("+"+from)) == 4 })
	if got := sender.bodies("+" + from); got[1] != "Hi, Sam here." || got[2] != "The bot is back." || got[3] != "hi there" {
		t.Fatalf("replies %q", got)
	}

	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := sink.Wait(wctx, 6); err != nil {
		t.Fatalf("events: %v (got %q)", err, types(sink.Events()))
	}
	waitFor(t, "the outbox drained", func() bool {
		bl, err := a.st.EventBacklog(ctx)
		return err == nil && bl.Pending == 0
	})
	tys := types(sink.Events())
	want := []string{"message.received", "handoff.requested", "message.received", "handoff.released"}
	var got []string
	for _, ty := range tys {
		if ty == "message.received" || strings.HasPrefix(ty, "handoff.") {
			got = append(got, ty)
		}
	}
	if len(got) < 4 || !slices.Equal(got[:4], want) {
		t.Fatalf("events %q", tys)
	}
	if n := len(sink.Received()); n != len(sink.Events()) {
		t.Errorf("%d deliveries of %d events: an event went out twice without a failure", n, len(sink.Events()))
	}
	order := sink.ByContact()[from]
	if !slices.IsSortedFunc(order, func(x, y string) int { return seq(x) - seq(y) }) {
		t.Fatalf("out of order: %q", order)
	}
}

// An event that fails for its whole schedule is given up (counted, kept for gtc doctor) and
// no longer holds its contact's later events.
func TestEventWebhookGivenUp(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: sinkSecret})
	h := newHarness(t, "", false)
	h.withEvents(sink)
	h.svc.cfg.EventSchedule = &events.Schedule{Base: time.Second, Max: time.Second, GiveUpAfter: 5 * time.Second}
	const a = "4915100996"
	st := func(status string) whatsapp.Event {
		return whatsapp.Event{Kind: whatsapp.EventStatus, Status: &whatsapp.Status{ID: "wamid.G1", Status: status, Timestamp: tBase.Unix(), RecipientID: a}}
	}
	h.ingest(st("sent"))
	sink.FailNext(1000, 500)
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The clock moves a second after each attempt, so the test does not depend on speed.
	// (or, should the attempt be recorded after the move, when nothing happened for a while).
	seen, ingested, moved := 0, false, time.Now()
	h.eventually("the first given up", func() bool {
		b, err := h.st.EventBacklog(context.Background())
		if err == nil && b.GaveUpDay >= 1 {
			return true
		}
		if n := len(sink.Requests()); n > seen || time.Since(moved) > 300*time.Millisecond {
			seen = n
			if n >= 4 && !ingested {
				ingested = true
				h.ingest(st("delivered")) // made later: it has its own 5 s "day"
			}
			h.now.Add(1000)
			moved = time.Now()
		}
		return false
	})
	b, _ := h.st.EventBacklog(context.Background())
	if !strings.Contains(b.LastError, "500") || b.Pending != 1 {
		t.Fatalf("backlog %+v", b)
	}
	sink.FailNext(0, 0)
	h.now.Add(1000) // the second's retry is due
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := sink.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0].Data.(*events.MessageStatus); d.Status != "delivered" {
		t.Fatalf("after the give-up the sink got %+v", d)
	}
}
