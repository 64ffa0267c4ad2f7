package store

import (
	"context"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// Retention deletes old content and keeps the open work: a pending event, an outbound row
// still to be sent, a waiting conversation, every contact (and its opt-out).
func TestPruneKeepsOpenWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		now := t0.Add(-100 * 24 * time.Hour) // the old rows are recorded 100 days ago
		st, _ := openTest(t, b, Options{Now: func() time.Time { return now }})
		ctx := context.Background()
		old := now

		// Old: a processed message, a pending one, a sent reply with a status and pricing, a
		// reply still pending, a waiting conversation and an ended one, a key, an opt-out.
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m1", "1", old), msg("m2", "2", old)}); err != nil {
			t.Fatal(err)
		}
		processed(t, st, "msg:m1")
		ids, err := st.RecordOutbound(ctx, "t", "t", []NewOutbound{
			{ContactKey: "1", Recipient: "+1", Origin: OriginFlow, MessageType: "text", Request: []byte(`{"text":"secret"}`)},
			{ContactKey: "2", Recipient: "+2", Origin: OriginFlow, MessageType: "text", Request: []byte(`{"text":"later"}`)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FinishOutbound(ctx, ids[0], OutboundResult{State: OutSent, WAMID: "wamid.old", Attempted: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{pricedStatus("wamid.old", "delivered", old,
			&Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"})}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO gtc_conversations (tenant, team, contact_key, conversation, state, updated_at) VALUES ('t', 't', '1', '{"at":"ask"}', 'waiting', $1)`,
			`INSERT INTO gtc_conversations (tenant, team, contact_key, conversation, state, user_vars, updated_at) VALUES ('t', 't', '2', '', '', '{"name":"Ana"}', $1)`,
			`UPDATE gtc_contacts SET opted_out = 1, opted_out_at = $1 WHERE contact_key = '2'`,
		} {
			if _, err := st.db.ExecContext(ctx, q, ms(old)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.SaveIdempotent(ctx, "t", "t", "k-old", "h", 202, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.OpenConversation(ctx, "phone:1", "1", 10, old); err != nil {
			t.Fatal(err)
		}

		// New: recorded an hour before the prune.
		now = t0.Add(-time.Hour)
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m3", "3", now)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SaveIdempotent(ctx, "t", "t", "k-new", "h", 202, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}

		now = t0
		before, err := st.RetentionStateOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if before.InboundEvents.Rows != 3 || !before.InboundEvents.Oldest.Equal(old.Truncate(time.Millisecond)) || before.IdempotencyKeys.Rows != 2 || before.Outbound.Rows != 2 {
			t.Fatalf("before %+v", before)
		}
		p, err := st.Prune(ctx, Retention{Messages: 90 * 24 * time.Hour, IdempotencyKeys: 24 * time.Hour}, now)
		if err != nil {
			t.Fatal(err)
		}
		want := Pruned{InboundEvents: 2, Outbound: 1, Statuses: 1, Pricing: 1, Conversations: 1, IdempotencyKeys: 1, LimitContacts: 1}
		if p != want {
			t.Errorf("pruned %+v, want %+v", p, want)
		}
		var kinds []string
		rows, err := st.db.QueryContext(ctx, `SELECT dedupe_key FROM gtc_inbound_events ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			rows.Scan(&k)
			kinds = append(kinds, k)
		}
		rows.Close()
		if len(kinds) != 2 || kinds[0] != "msg:m2" || kinds[1] != "msg:m3" {
			t.Errorf("events kept %v, want the pending msg:m2 and the new msg:m3", kinds)
		}
		if o, err := st.OutboundByID(ctx, ids[1]); err != nil || o.State != OutPending {
			t.Errorf("pending reply: %+v %v", o, err)
		}
		if _, err := st.OutboundByID(ctx, ids[0]); err == nil {
			t.Error("the old sent reply is still there")
		}
		if c, err := st.ConversationOf(ctx, ContactRef{Tenant: "t", Team: "t", Key: "1"}); err != nil || c.Status != "waiting" {
			t.Errorf("waiting conversation: %+v %v", c, err)
		}
		if c, err := st.Contact(ctx, "t", "t", "2"); err != nil || !c.OptedOut {
			t.Errorf("opted-out contact: %+v %v", c, err)
		}
		if _, err := st.IdempotentAnswer(ctx, "t", "t", "k-new"); err != nil {
			t.Errorf("new key: %v", err)
		}
		if _, err := st.IdempotentAnswer(ctx, "t", "t", "k-old"); err == nil {
			t.Error("old key kept")
		}
		after, err := st.RetentionStateOf(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.InboundEvents.Rows != 2 || after.Outbound.Rows != 1 || after.IdempotencyKeys.Rows != 1 {
			t.Errorf("after %+v", after)
		}
		// A second run finds nothing more.
		if p, err := st.Prune(ctx, Retention{Messages: 90 * 24 * time.Hour, IdempotencyKeys: 24 * time.Hour}, now); err != nil || p.Total() != 0 {
			t.Errorf("second prune %+v %v", p, err)
		}
	})
}

// Below the dedupe window, an old event loses its content but keeps its key, so Meta's
// redelivery is still dropped.
func TestPruneShortRetentionKeepsDedupe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		now := t0.Add(-3 * time.Hour)
		st, _ := openTest(t, b, Options{Now: func() time.Time { return now }})
		ctx := context.Background()
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m1", "1", now)}); err != nil {
			t.Fatal(err)
		}
		processed(t, st, "msg:m1")
		now = t0
		p, err := st.Prune(ctx, Retention{Messages: time.Hour, IdempotencyKeys: time.Hour}, now)
		if err != nil || p != (Pruned{InboundCleared: 1}) {
			t.Fatalf("pruned %+v %v", p, err)
		}
		var raw []byte
		if err := st.db.QueryRowContext(ctx, `SELECT event FROM gtc_inbound_events`).Scan(&raw); err != nil || string(raw) != "{}" {
			t.Fatalf("content %q %v", raw, err)
		}
		res, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m1", "1", now)})
		if err != nil || res.Duplicates != 1 {
			t.Fatalf("redelivery %+v %v", res, err)
		}
	})
}

// processed marks the event of key processed, as its job would.
func processed(t *testing.T, st *Store, key string) {
	t.Helper()
	if _, err := st.db.Exec(`UPDATE gtc_inbound_events SET state = $1 WHERE dedupe_key = $2`, EventProcessed, key); err != nil {
		t.Fatal(err)
	}
}

// A large backlog (a first run on an old database) goes in batches, all of it.
func TestPruneBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		const n = 2*pruneBatch + 500
		old := ms(t0.Add(-100 * 24 * time.Hour))
		if _, err := st.db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
			INSERT INTO gtc_outbound_messages (tenant, team, contact_key, recipient, origin, message_type, request, state, wamid, created_at, updated_at)
			SELECT 't', 't', '1', '+1', 'flow', 'text', '', 'read', 'wamid.' || CAST(i AS TEXT), $2, $2 FROM n`, n, old); err != nil {
			t.Fatal(err)
		}
		p, err := st.Prune(ctx, Retention{Messages: 90 * 24 * time.Hour}, t0)
		if err != nil || p.Outbound != n {
			t.Fatalf("pruned %+v %v, want %d outbound rows", p, err, n)
		}
		rs, err := st.RetentionStateOf(ctx)
		if err != nil || rs.Outbound.Rows != 0 {
			t.Fatalf("left %+v %v", rs, err)
		}
	})
}

// A reply whose send is under way or unclear (sending, ambiguous) is open work, however old.
func TestPruneKeepsSendsInDoubt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		old := ms(t0.Add(-100 * 24 * time.Hour))
		for _, state := range []string{OutSending, OutAmbiguous, OutSent} {
			if _, err := st.db.ExecContext(ctx, `INSERT INTO gtc_outbound_messages (tenant, team, contact_key, recipient, origin, message_type,
				request, state, created_at, updated_at) VALUES ('t', 't', '1', '+1', 'flow', 'text', '', $1, $2, $2)`, state, old); err != nil {
				t.Fatal(err)
			}
		}
		p, err := st.Prune(ctx, Retention{Messages: 90 * 24 * time.Hour}, t0)
		if err != nil || p.Outbound != 1 {
			t.Fatalf("pruned %+v %v, want the sent row only", p, err)
		}
	})
}
