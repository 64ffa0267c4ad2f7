package store

import (
	"context"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// Template webhooks and Graph's list land per tenant/team and template; each aspect moves
// only forward in time, so a late redelivery of an older status changes nothing.
func TestTemplateStates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := openAt(t, b)
		ctx := context.Background()
		t0 := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
		ingest := func(key string, u TemplateUpdate) {
			t.Helper()
			if _, err := st.Ingest(ctx, "acme", "support", []InboundEvent{{Kind: "template_status", DedupeKey: key, Raw: []byte(`{}`), Template: &u}}); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := st.TemplateState(ctx, "acme", "support", "hello", "en_US"); got != nil || err != nil {
			t.Fatalf("unknown template: %+v, %v", got, err)
		}
		// Graph's list first, then webhooks.
		if err := st.RecordTemplates(ctx, "acme", "support", []TemplateUpdate{
			{Name: "hello", Language: "en_US", ID: "11", Status: "APPROVED", Category: "MARKETING", Quality: "GREEN", Source: TemplateSourceGraph, At: t0},
			{Name: "order", Language: "en", Status: "APPROVED", Category: "UTILITY", Source: TemplateSourceGraph, At: t0},
		}); err != nil {
			t.Fatal(err)
		}
		ingest("a", TemplateUpdate{Name: "hello", Language: "en_US", WABAID: "W1", Status: "PAUSED", Reason: "FLAGGED_BY_CUSTOMERS", Category: "MARKETING", At: t0.Add(time.Hour)})
		ingest("b", TemplateUpdate{Name: "hello", Language: "en_US", Quality: "RED", At: t0.Add(2 * time.Hour)})
		// A late redelivery of an older APPROVED is ignored; the category change it carries too.
		ingest("c", TemplateUpdate{Name: "hello", Language: "en_US", Status: "APPROVED", Category: "UTILITY", At: t0.Add(30 * time.Minute)})
		got, err := st.TemplateState(ctx, "acme", "support", "hello", "en_US")
		if err != nil {
			t.Fatal(err)
		}
		want := TemplateState{Tenant: "acme", Team: "support", Name: "hello", Language: "en_US", WABAID: "W1", ID: "11",
			Status: "PAUSED", Reason: "FLAGGED_BY_CUSTOMERS", StatusAt: t0.Add(time.Hour), StatusSource: TemplateSourceWebhook,
			Category: "MARKETING", CategoryAt: t0.Add(time.Hour), Quality: "RED", QualityAt: t0.Add(2 * time.Hour)}
		got.UpdatedAt = time.Time{}
		if *got != want {
			t.Fatalf("got  %+v\nwant %+v", *got, want)
		}
		// Approved again, later: sendable, the reason gone.
		ingest("d", TemplateUpdate{Name: "hello", Language: "en_US", Status: "APPROVED", Reason: "", At: t0.Add(3 * time.Hour)})
		got, _ = st.TemplateState(ctx, "acme", "support", "hello", "en_US")
		if got.Status != "APPROVED" || got.Reason != "" || got.Quality != "RED" || got.Category != "MARKETING" {
			t.Fatalf("after APPROVED: %+v", got)
		}
		// Another tenant/team knows nothing of it; the list is by name and language.
		if got, _ := st.TemplateState(ctx, "other", "support", "hello", "en_US"); got != nil {
			t.Fatalf("other tenant: %+v", got)
		}
		all, err := st.TemplateStates(ctx, "acme", "support")
		if err != nil || len(all) != 2 || all[0].Name != "hello" || all[1].Name != "order" || all[1].Quality != "" || !all[1].QualityAt.IsZero() {
			t.Fatalf("list: %+v, %v", all, err)
		}
	})
}

// Handovers and standby copies record who controls a contact's thread; an older change
// arriving late does not undo a newer one; a standby message opens the window.
func TestThreads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := openAt(t, b)
		ctx := context.Background()
		t0 := time.Now().Truncate(time.Millisecond)
		ref := ContactRef{"acme", "support", "16505551234"}
		th, err := st.ThreadOf(ctx, ref)
		if err != nil || th.Owner != "" {
			t.Fatalf("no record: %+v, %v", th, err)
		}
		standby := InboundEvent{Kind: KindStandby, DedupeKey: "standby:msg:wamid.S1", Raw: []byte(`{}`), ContactKey: ref.Key,
			MessageID: "wamid.S1", MessageType: "text", WaID: ref.Key, Name: "Ada", Timestamp: t0,
			Thread: &ThreadUpdate{ContactKey: ref.Key, Owner: ThreadOther, Why: "standby", At: t0}}
		if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{standby}); err != nil {
			t.Fatal(err)
		}
		th, _ = st.ThreadOf(ctx, ref)
		if th.Owner != ThreadOther || th.Why != "standby" || !th.At.Equal(t0) {
			t.Fatalf("after standby: %+v", th)
		}
		c, _ := st.Contact(ctx, ref.Tenant, ref.Team, ref.Key)
		if !c.LastInboundAt.Equal(t0) || c.Name != "Ada" {
			t.Fatalf("standby message did not open the window: %+v", c)
		}
		if pend, _ := st.PendingEvents(ctx, ref, 10); len(pend) != 0 {
			t.Fatalf("a standby copy is never queued: %+v", pend)
		}
		if err := st.SetThread(ctx, ref.Tenant, ref.Team, ThreadUpdate{ContactKey: ref.Key, Owner: ThreadGTC, Why: "take", At: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		// A control_taken older than the take arrives late: ignored.
		late := InboundEvent{Kind: "handover", DedupeKey: "handover:1", Raw: []byte(`{}`),
			Thread: &ThreadUpdate{ContactKey: ref.Key, Owner: ThreadOther, Why: "control_taken", Role: "escalation_partner", At: t0.Add(30 * time.Second)}}
		if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{late}); err != nil {
			t.Fatal(err)
		}
		m, err := st.ThreadsFor(ctx, []ContactRef{ref, {"acme", "support", "other"}})
		if err != nil || m[ref].Owner != ThreadGTC || m[ref].Why != "take" || m[ContactRef{"acme", "support", "other"}].Owner != "" {
			t.Fatalf("threads: %+v %+v, %v", m[ref], m[ContactRef{"acme", "support", "other"}], err)
		}
		if err := st.SetThread(ctx, ref.Tenant, ref.Team, ThreadUpdate{}); err == nil {
			t.Fatal("empty update accepted")
		}
		// A handover naming the contact by its business-scoped user id lands on the identity.
		if _, err := st.LinkAliases(ctx, ref.Tenant, ref.Team, []Alias{{Value: ref.Key, Kind: AliasWaID}, {Value: "US.13491208655302741918", Kind: AliasBSUID}}); err != nil {
			t.Fatal(err)
		}
		byID := InboundEvent{Kind: "handover", DedupeKey: "handover:2", Raw: []byte(`{}`), ContactKey: "US.13491208655302741918", UserID: "US.13491208655302741918",
			Thread: &ThreadUpdate{ContactKey: "US.13491208655302741918", Owner: ThreadOther, Why: "control_taken", At: t0.Add(2 * time.Minute)}}
		if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{byID}); err != nil {
			t.Fatal(err)
		}
		if th, _ := st.ThreadOf(ctx, ref); th.Owner != ThreadOther || th.Why != "control_taken" {
			t.Fatalf("a handover by BSUID did not reach the identity: %+v", th)
		}
	})
}
