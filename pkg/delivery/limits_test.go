package delivery

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Two numbers of one business portfolio share its messaging limit: a template that would
// open a conversation beyond it is refused (messaging_limit) on either number; a recipient
// already reached, or inside a window, costs nothing; a send Graph refuses gives its place
// back.
func TestMessagingLimitSharedByPortfolio(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		sender := newFakeSender()
		clock := func() time.Time { return tBase }
		in := startInstanceWith(t, be.DSN(t), "a", sender, &echoFlows{}, clock, 2, time.Minute, func(c *Config) {
			c.Providers = []Provider{
				{Tenant: "acme", Team: "sales", PhoneNumberID: "111", Sender: sender, LimitScope: "portfolio:9", MessagingLimit: 2},
				{Tenant: "acme", Team: "support", PhoneNumberID: "222", Sender: sender, LimitScope: "portfolio:9", MessagingLimit: 2},
				{Tenant: "other", Team: "x", PhoneNumberID: "333", Sender: sender, LimitScope: "phone:333", MessagingLimit: 1},
			}
		})
		ctx := context.Background()
		send := func(team, to string) *store.Outbound {
			t.Helper()
			tenant := "acme"
			if team == "x" {
				tenant = "other"
			}
			out, err := in.svc.Send(ctx, tenant, team, helloTo(to))
			if err != nil {
				t.Fatal(err)
			}
			return out[0]
		}
		if o := send("sales", "+4915100000001"); o.State != store.OutSent {
			t.Fatalf("first: %s/%s", o.State, o.ErrorClass)
		}
		if o := send("support", "+4915100000002"); o.State != store.OutSent {
			t.Fatalf("second, other number: %s/%s", o.State, o.ErrorClass)
		}
		o := send("support", "+4915100000003")
		if o.State != store.OutRefused || o.ErrorClass != ReasonMessagingLimit {
			t.Fatalf("third: %s/%s, want refused messaging_limit", o.State, o.ErrorClass)
		}
		if err := Refused([]*store.Outbound{o}); err == nil || err.(*RefusedError).Reason != ReasonMessagingLimit {
			t.Fatalf("Refused: %v", err)
		}
		// Already reached in the last 24 hours (from the other number): no new conversation.
		if o := send("support", "+4915100000001"); o.State != store.OutSent {
			t.Fatalf("already reached: %s/%s", o.State, o.ErrorClass)
		}
		// Another scope has its own limit.
		if o := send("x", "+4915100000003"); o.State != store.OutSent {
			t.Fatalf("other scope: %s/%s", o.State, o.ErrorClass)
		}
		if n, err := in.st.LimitUse(ctx, "portfolio:9", tBase); err != nil || n != 2 {
			t.Fatalf("use %d %v", n, err)
		}
	})
}

// A send Graph refuses does not use the limit; a recipient inside the window costs nothing.
func TestMessagingLimitGivenBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		sender := newFakeSender()
		var now atomic.Int64
		now.Store(tBase.UnixMilli())
		clock := func() time.Time { return time.UnixMilli(now.Load()).UTC() }
		in := startInstanceWith(t, be.DSN(t), "a", sender, &echoFlows{}, clock, 2, time.Minute, func(c *Config) {
			c.Providers[0].LimitScope, c.Providers[0].MessagingLimit = "phone:123", 1
			c.Classify = ClassifyError
		})
		ctx := context.Background()
		refuseOnce(sender, "+4915100000001")
		out, err := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000001"))
		if err != nil || out[0].State != store.OutFailed {
			t.Fatalf("refused by Graph: %+v %v", out, err)
		}
		// The customer writes: inside the window a template costs nothing.
		if err := in.svc.Ingest(ctx, "acme", "support", []whatsapp.Event{textEvent("wamid.lim1", "4915100000009", "hi", tBase)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the message processed", func() bool {
			c, _ := in.st.Contact(ctx, "acme", "support", "4915100000009")
			return c != nil && c.WindowOpen(tBase)
		})
		if out, _ := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000009")); out[0].State != store.OutSent {
			t.Fatalf("inside the window: %s/%s", out[0].State, out[0].ErrorClass)
		}
		if out, _ := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000002")); out[0].State != store.OutSent {
			t.Fatalf("the place Graph's refusal gave back: %s/%s", out[0].State, out[0].ErrorClass)
		}
		if out, _ := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000003")); out[0].State != store.OutRefused {
			t.Fatalf("over the limit: %s/%s", out[0].State, out[0].ErrorClass)
		}
		// A day later the window rolled: room again.
		now.Store(tBase.Add(25 * time.Hour).UnixMilli())
		if out, _ := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000003")); out[0].State != store.OutSent {
			t.Fatalf("a day later: %s/%s", out[0].State, out[0].ErrorClass)
		}
	})
}

// gtc serve applies retention at start and then periodically: old content goes, open work
// stays.
func TestRetentionLoop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		dsn := be.DSN(t)
		var now atomic.Int64
		now.Store(tBase.Add(-100 * 24 * time.Hour).UnixMilli())
		clock := func() time.Time { return time.UnixMilli(now.Load()).UTC() }
		st, err := store.Open(context.Background(), dsn, store.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		ids, err := st.RecordOutbound(ctx, "acme", "support", []store.NewOutbound{
			{ContactKey: "1", Recipient: "+1", Origin: store.OriginSend, MessageType: "text", Request: []byte(`{"text":{"body":"old"}}`)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FinishOutbound(ctx, ids[0], store.OutboundResult{State: store.OutSent, WAMID: "wamid.old", Attempted: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SaveIdempotent(ctx, "acme", "support", "k", "h", 202, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		st.Close()
		now.Store(tBase.UnixMilli())
		in := startInstanceWith(t, dsn, "a", newFakeSender(), &echoFlows{}, clock, 2, time.Minute, func(c *Config) {
			c.Retention = store.Retention{Messages: 90 * 24 * time.Hour, IdempotencyKeys: 24 * time.Hour}
			c.RetentionEvery = 10 * time.Millisecond
		})
		waitFor(t, "the old reply deleted", func() bool {
			_, err := in.st.OutboundByID(ctx, ids[0])
			return err != nil
		})
		waitFor(t, "the old key deleted", func() bool {
			_, err := in.st.IdempotentAnswer(ctx, "acme", "support", "k")
			return err != nil
		})
	})
}

// A status's pricing and conversation are recorded with the message, once.
func TestStatusPricingRecorded(t *testing.T) {
	h := newHarness(t, "", true)
	ctx := context.Background()
	st := func(status string, ts int64) whatsapp.Event {
		return whatsapp.Event{Kind: whatsapp.EventStatus, Field: "messages", PhoneNumberID: "123", Status: &whatsapp.Status{
			ID: "wamid.P1", Status: status, Timestamp: ts, RecipientID: "4915100000001",
			Pricing:      &whatsapp.Pricing{Billable: true, PricingModel: "CBP", Category: "marketing"},
			Conversation: &whatsapp.Conversation{ID: "conv-9", ExpirationTimestamp: ts + 86400, OriginType: "marketing"}}}
	}
	if err := h.svc.Ingest(ctx, "acme", "support", []whatsapp.Event{st("sent", tBase.Unix()), st("delivered", tBase.Unix()+5)}); err != nil {
		t.Fatal(err)
	}
	ps, err := h.st.PricingOf(ctx, "acme", "support", []string{"wamid.P1"})
	if err != nil {
		t.Fatal(err)
	}
	p := ps["wamid.P1"]
	if p == nil || !p.Billable || p.Category != "marketing" || p.PricingModel != "CBP" || p.Status != "delivered" ||
		p.ConversationID != "conv-9" || p.ConversationOrigin != "marketing" || !p.ConversationExpires.Equal(tBase.Add(24*time.Hour+5*time.Second)) ||
		!p.At.Equal(tBase) {
		t.Fatalf("pricing %+v", p)
	}
	rows, err := h.st.PricingSummary(ctx, store.PricingFilter{Tenant: "acme", Team: "support"})
	if err != nil || len(rows) != 1 || rows[0].Messages != 1 {
		t.Fatalf("summary %+v %v", rows, err)
	}
}

// A reply the pacer holds books no place in the messaging limit while it waits: the
// attempt that sends books it, so Graph's refusal of that send gives it back (booked at the
// paced attempt, the place stayed taken).
func TestPacedSendBooksItsPlaceWhenSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		sender := newFakeSender()
		ps := &pacedSender{fakeSender: sender, slow: "+4915100000001"}
		ps.delay.Store(int64(1500 * time.Millisecond)) // over MaxInlineWait: a scheduled send
		in := startInstanceWith(t, be.DSN(t), "a", ps, &echoFlows{}, time.Now, 2, time.Minute, func(c *Config) {
			c.Providers[0].LimitScope, c.Providers[0].MessagingLimit = "phone:123", 1
			c.Classify = ClassifyError
		})
		ctx := context.Background()
		refuseOnce(sender, "+4915100000001")
		out, err := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000001"))
		if err != nil || out[0].State != store.OutRetrying || out[0].ErrorClass != "paced" {
			t.Fatalf("held by the pacer: %+v %v", out, err)
		}
		if n, err := in.st.LimitUse(ctx, "phone:123", time.Now()); err != nil || n != 0 {
			t.Errorf("a paced reply booked %d place(s) while it waits (%v), want 0", n, err)
		}
		id := out[0].ID
		waitFor(t, "the paced send, refused by Graph", func() bool {
			o, err := in.st.OutboundByID(ctx, id)
			return err == nil && o.State == store.OutFailed
		})
		if n, err := in.st.LimitUse(ctx, "phone:123", time.Now()); err != nil || n != 0 {
			t.Errorf("after Graph refused the send: %d place(s) used (%v), want 0", n, err)
		}
		if out, err := in.svc.Send(ctx, "acme", "support", helloTo("+4915100000002")); err != nil || out[0].State != store.OutSent {
			t.Fatalf("the place Graph's refusal gave back: %+v %v", out, err)
		}
	})
}

// helloTo is a send API request of the template hello to to.
func helloTo(to string) []OutboundMessage {
	return []OutboundMessage{{Message: whatsapp.Message{Type: "template", To: to,
		Template: &whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "en"}}}}}
}

// refuseOnce makes Graph refuse the next send to to (132001, a 400: nothing went out).
func refuseOnce(sender *fakeSender, to string) {
	sender.mu.Lock()
	defer sender.mu.Unlock()
	sender.fails[to] = []error{&whatsapp.GraphError{HTTPStatus: 400, Code: 132001, Message: "template does not exist", Class: whatsapp.ClassOfCode(132001)}}
}
