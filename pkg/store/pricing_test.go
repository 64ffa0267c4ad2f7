package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

func pricedStatus(wamid, status string, at time.Time, p *Pricing) InboundEvent {
	return InboundEvent{Kind: KindStatus, DedupeKey: "status:" + wamid + ":" + status, Raw: []byte(`{}`),
		Status: &StatusUpdate{WAMID: wamid, Status: status, At: at, Pricing: p}}
}

// Each message is counted once however many of its statuses carry pricing, on the day of
// the first; the highest status's pricing wins; statuses without pricing change nothing.
func TestPricingCountedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		day1 := time.Date(2026, 11, 23, 23, 59, 0, 0, time.UTC)
		day2 := day1.Add(2 * time.Minute)
		marketing := &Pricing{Billable: true, PricingModel: "PMP", Category: "marketing", Type: "regular"}
		service := &Pricing{Billable: false, PricingModel: "PMP", Category: "service", Type: "free_customer_service"}
		utility := &Pricing{Billable: true, PricingModel: "CBP", Category: "utility",
			ConversationID: "conv-1", ConversationOrigin: "utility", ConversationExpires: day2.Add(24 * time.Hour).Truncate(time.Second)}
		evs := []InboundEvent{
			pricedStatus("wamid.M1", "sent", day1, marketing),
			pricedStatus("wamid.M1", "delivered", day2, marketing),
			pricedStatus("wamid.M1", "read", day2, nil),
			pricedStatus("wamid.M2", "delivered", day2, marketing),
			pricedStatus("wamid.M2", "sent", day1, marketing), // out of order: still the earliest day
			pricedStatus("wamid.S1", "sent", day2, service),
			pricedStatus("wamid.U1", "delivered", day2, utility),
			pricedStatus("wamid.U1", "sent", day2, &Pricing{Billable: false, PricingModel: "CBP", Category: "utility"}), // lower rank: ignored
		}
		if _, err := st.Ingest(ctx, "acme", "sales", evs); err != nil {
			t.Fatal(err)
		}
		// Meta redelivers: nothing changes.
		if _, err := st.Ingest(ctx, "acme", "sales", evs[:2]); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(ctx, "other", "team", []InboundEvent{pricedStatus("wamid.O1", "sent", day2, marketing)}); err != nil {
			t.Fatal(err)
		}
		got, err := st.PricingSummary(ctx, PricingFilter{Tenant: "acme", Team: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		d1, d2 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		want := []PricingCount{
			{Tenant: "acme", Team: "sales", Day: d1, Billable: true, PricingModel: "PMP", Category: "marketing", Type: "regular", Messages: 2},
			{Tenant: "acme", Team: "sales", Day: d2, Billable: false, PricingModel: "PMP", Category: "service", Type: "free_customer_service", Messages: 1},
			{Tenant: "acme", Team: "sales", Day: d2, Billable: true, PricingModel: "CBP", Category: "utility", Messages: 1},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("summary\n got %+v\nwant %+v", got, want)
		}
		got, err = st.PricingSummary(ctx, PricingFilter{Since: d2})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Tenant != "acme" || got[2].Tenant != "other" {
			t.Errorf("since day 2, all tenants: %+v", got)
		}
		ps, err := st.PricingOf(ctx, "acme", "sales", []string{"wamid.M1", "wamid.U1", "wamid.none"})
		if err != nil {
			t.Fatal(err)
		}
		if p := ps["wamid.M1"]; p == nil || p.Status != "delivered" || !p.At.Equal(day1) || p.Category != "marketing" {
			t.Errorf("M1 %+v", p)
		}
		if p := ps["wamid.U1"]; p == nil || !p.Billable || p.ConversationID != "conv-1" || !p.ConversationExpires.Equal(utility.ConversationExpires) {
			t.Errorf("U1 %+v", p)
		}
		if _, ok := ps["wamid.none"]; ok || len(ps) != 2 {
			t.Errorf("pricing of %d messages, want 2", len(ps))
		}
	})
}

// gtc messages reads the category with the outbound row.
func TestOutboundLogPricing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		ids, err := st.RecordOutbound(ctx, "t", "t", []NewOutbound{
			{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "template", Request: []byte(`{}`)},
			{ContactKey: "2", Recipient: "+2", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if err := st.FinishOutbound(ctx, id, OutboundResult{State: OutSent, WAMID: fmt.Sprintf("wamid.%d", i), Attempted: true}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{pricedStatus("wamid.0", "delivered", t0,
			&Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"})}); err != nil {
			t.Fatal(err)
		}
		out, err := st.OutboundLog(ctx, LogFilter{Tenant: "t", Team: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 2 || out[1].Pricing == nil || out[1].Pricing.Category != "utility" || out[1].State != "delivered" || out[0].Pricing != nil {
			t.Fatalf("log %+v %+v", out[0], out[1])
		}
	})
}

// The messaging limit counts recipients reached outside a window in the last 24 hours,
// per scope: a recipient already counted costs nothing more, the limit refuses the next
// new one, a refused send gives its place back, and the window rolls.
func TestOpenConversation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		open := func(scope, key string, at time.Time) LimitGrant {
			t.Helper()
			g, err := st.OpenConversation(ctx, scope, key, 2, at)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		if g := open("portfolio:9", "a", t0); !g.OK || !g.New || g.Used != 1 {
			t.Fatalf("first %+v", g)
		}
		if g := open("portfolio:9", "a", t0.Add(time.Hour)); !g.OK || g.New || g.Used != 1 {
			t.Fatalf("again %+v", g)
		}
		b1 := open("portfolio:9", "b", t0.Add(time.Hour))
		if !b1.OK || !b1.New || b1.Used != 2 {
			t.Fatalf("second %+v", b1)
		}
		if g := open("portfolio:9", "c", t0.Add(2*time.Hour)); g.OK || g.Used != 2 {
			t.Fatalf("third past the limit %+v", g)
		}
		if g := open("phone:1", "c", t0.Add(2*time.Hour)); !g.OK || !g.New || g.Used != 1 {
			t.Fatalf("another scope %+v", g)
		}
		// b's send failed: its place comes back.
		if err := st.UndoConversation(ctx, "portfolio:9", "b", b1); err != nil {
			t.Fatal(err)
		}
		if n, err := st.LimitUse(ctx, "portfolio:9", t0.Add(2*time.Hour)); err != nil || n != 1 {
			t.Fatalf("use after undo %d %v", n, err)
		}
		if g := open("portfolio:9", "c", t0.Add(2*time.Hour)); !g.OK || !g.New || g.Used != 2 {
			t.Fatalf("c after undo %+v", g)
		}
		// a was last reached at t0+1h (the send at t0+1h moved it): counted until t0+25h.
		if n, _ := st.LimitUse(ctx, "portfolio:9", t0.Add(24*time.Hour+30*time.Minute)); n != 2 {
			t.Fatalf("use at t0+24h30m = %d, want 2 (a and c)", n)
		}
		if g := open("portfolio:9", "d", t0.Add(26*time.Hour+time.Minute)); !g.OK || !g.New || g.Used != 1 {
			t.Fatalf("after the window rolled %+v", g)
		}
		if g, _ := st.OpenConversation(ctx, "phone:2", "x", 0, t0); !g.OK || !g.New {
			t.Fatalf("limit 0 means none %+v", g)
		}
	})
}

// Instances sharing the database never grant more than the limit together.
func TestOpenConversationConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		dsn := b.DSN(t)
		var sts []*Store
		for range 2 {
			st, err := Open(context.Background(), dsn, Options{Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			sts = append(sts, st)
		}
		var mu sync.Mutex
		granted := 0
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, err := sts[i%2].OpenConversation(context.Background(), "portfolio:1", fmt.Sprint(i), 25, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if g.OK {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if granted != 25 {
			t.Fatalf("granted %d, want 25", granted)
		}
	})
}
