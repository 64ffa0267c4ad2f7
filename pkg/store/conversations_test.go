package store

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// A conversation is written with the event that led to it, in the same transaction: a
// rolled-back completion leaves neither; a second completion of the same event writes
// nothing.
func TestConversationCommitsWithEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		ref := ContactRef{"acme", "support", "4915112345678"}
		if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{msg("m1", ref.Key, t0), msg("m2", ref.Key, t0)}); err != nil {
			t.Fatal(err)
		}
		evs, err := st.PendingEvents(ctx, ref, 10)
		if err != nil || len(evs) != 2 {
			t.Fatalf("pending = %d, %v", len(evs), err)
		}
		got, err := st.ConversationOf(ctx, ref)
		if err != nil || got.State != nil || len(got.User) != 0 {
			t.Fatalf("fresh contact: %+v, %v", got, err)
		}

		// A failing inTx rolls the conversation back with the event.
		ask := &ConversationUpdate{State: []byte(`{"id":"c1","flow":"check_status","node":"ask_order"}`), Flow: "check_status",
			Node: "ask_order", Status: "waiting", WaitingSince: t0, Deadline: t0.Add(30 * time.Minute),
			User: map[string]any{"lang": "de"}}
		boom := errors.New("boom")
		err = st.CompleteEventsTx(ctx, []*Completion{{Event: evs[0], Conversation: ask,
			Replies: []NewOutbound{{ContactKey: ref.Key, Recipient: "+" + ref.Key, Origin: OriginFlow, MessageType: "text", Request: []byte(`{}`)}}}},
			func(context.Context, *sql.Tx) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if got, _ := st.ConversationOf(ctx, ref); got.State != nil {
			t.Fatalf("rolled back, but the conversation was kept: %s", got.State)
		}

		c := &Completion{Event: evs[0], Conversation: ask}
		if err := st.CompleteEventsTx(ctx, []*Completion{c}, nil); err != nil || !c.Done {
			t.Fatalf("complete: done=%v %v", c.Done, err)
		}
		got, err = st.ConversationOf(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.State) != string(ask.State) || got.Flow != "check_status" || got.Node != "ask_order" || got.Status != "waiting" ||
			!got.WaitingSince.Equal(t0) || !got.Deadline.Equal(t0.Add(30*time.Minute)) || !reflect.DeepEqual(got.User, map[string]any{"lang": "de"}) {
			t.Fatalf("stored %+v", got)
		}

		// The same event again: nothing is written.
		again := &Completion{Event: evs[0], Conversation: &ConversationUpdate{}}
		if err := st.CompleteEvents(ctx, []*Completion{again}); err != nil || again.Done {
			t.Fatalf("second completion: done=%v %v", again.Done, err)
		}
		if got, _ := st.ConversationOf(ctx, ref); got.State == nil {
			t.Fatal("a duplicate completion cleared the conversation")
		}

		// The next event ends it: the state is gone, the end and user.* stay; User nil keeps
		// the stored values.
		end := &ConversationUpdate{Ended: &ConversationEnd{Flow: "check_status", Node: "ask_order", Reason: "flow_edited",
			Detail: "node ask_order is gone", At: t0.Add(time.Minute)}}
		if err := st.CompleteEvents(ctx, []*Completion{{Event: evs[1], Conversation: end}}); err != nil {
			t.Fatal(err)
		}
		got, _ = st.ConversationOf(ctx, ref)
		want := ConversationEnd{Flow: "check_status", Node: "ask_order", Reason: "flow_edited", Detail: "node ask_order is gone", At: t0.Add(time.Minute)}
		if got.State != nil || got.Flow != "" || !got.Deadline.IsZero() || got.LastEnd != want || got.User["lang"] != "de" {
			t.Fatalf("after the end: %+v", got)
		}
		list, err := st.Conversations(ctx, "acme", "")
		if err != nil || len(list) != 1 || list[0].ContactKey != ref.Key {
			t.Fatalf("list = %v, %v", list, err)
		}
	})
}

// A timeout is a pending event in the contact's queue, after the messages before it, and
// its job is enqueued in the same transaction; the same timeout twice is one event.
func TestTimeoutEventQueuesBehindMessages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		var enqueued []ContactRef
		st, _ := openTest(t, b, Options{Enqueue: func(_ context.Context, _ *sql.Tx, refs []ContactRef) error {
			enqueued = append(enqueued, refs...)
			return nil
		}})
		ref := ContactRef{"acme", "support", "4915112345678"}
		if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{msg("m1", ref.Key, t0)}); err != nil {
			t.Fatal(err)
		}
		timeout := InboundEvent{Kind: KindTimeout, DedupeKey: "timeout:c1:1700", ContactKey: ref.Key, Raw: []byte(`{"deadline":1700}`)}
		for range 2 {
			if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{timeout}); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := st.PendingEvents(ctx, ref, 10)
		if err != nil || len(evs) != 2 || evs[0].Kind != KindMessage || evs[1].Kind != KindTimeout {
			t.Fatalf("pending = %v, %v", evs, err)
		}
		if len(enqueued) != 2 {
			t.Fatalf("enqueued %v, want the contact for the message and for the timeout", enqueued)
		}
		c, err := st.Contact(ctx, ref.Tenant, ref.Team, ref.Key)
		if err != nil || !c.LastInboundAt.Equal(t0) {
			t.Fatalf("a timeout must not move the 24-hour window: %+v %v", c, err)
		}
	})
}

// DueConversations lists the deadlines at or before now; RecordStart writes replies and
// conversation together; EnsureContact makes a new number leasable.
func TestDueConversationsAndStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		ref := ContactRef{"acme", "support", "4915100000001"}
		if err := st.EnsureContact(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if err := st.EnsureContact(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.ClaimContact(ctx, ref, "me", t0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("claim a new contact: %v %v", ok, err)
		}
		u := &ConversationUpdate{State: []byte(`{"id":"x"}`), Flow: "feedback", Node: "ask_rating", Status: "waiting",
			WaitingSince: t0, Deadline: t0.Add(time.Hour), User: map[string]any{}}
		ids, err := st.RecordStart(ctx, ref, []NewOutbound{{ContactKey: ref.Key, Recipient: "+" + ref.Key, Origin: OriginFlow,
			MessageType: "interactive", Request: []byte(`{}`)}}, u, nil)
		if err != nil || len(ids) != 1 {
			t.Fatalf("record start: %v %v", ids, err)
		}
		due, err := st.DueConversations(ctx, "", "", t0.Add(59*time.Minute))
		if err != nil || len(due) != 0 {
			t.Fatalf("due before the deadline: %v %v", due, err)
		}
		due, err = st.DueConversations(ctx, "acme", "support", t0.Add(time.Hour))
		if err != nil || len(due) != 1 || due[0].Node != "ask_rating" {
			t.Fatalf("due at the deadline: %v %v", due, err)
		}
	})
}
