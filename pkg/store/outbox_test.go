package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

func TestOutboxOrderClaimAndBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st := openAt(t, b)
		ctx := context.Background()
		body := func(typ string) OutboxEvent {
			return OutboxEvent{Type: typ, Body: func(id, _ int64) ([]byte, error) { return []byte(fmt.Sprintf(`{"id":"evt_%d"}`, id)), nil }}
		}
		a := ContactRef{"acme", "support", "111"}
		other := ContactRef{"acme", "support", "222"}
		if err := st.RecordOutbox(ctx, a, []OutboxEvent{body("one"), body("two")}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordOutbox(ctx, other, []OutboxEvent{body("three")}); err != nil {
			t.Fatal(err)
		}
		far := time.Now().Add(48 * time.Hour)
		due, err := st.DueOutbox(ctx, far, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 2 || due[0].Type != "one" || due[1].Type != "three" {
			t.Fatalf("due = %+v, want the head of each contact", due)
		}
		if string(due[0].Body) != fmt.Sprintf(`{"id":"evt_%d"}`, due[0].ID) {
			t.Fatalf("body = %s", due[0].Body)
		}
		ok, err := st.ClaimOutbox(ctx, due[0].ID, far, time.Minute)
		if err != nil || !ok {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if ok, _ := st.ClaimOutbox(ctx, due[0].ID, far, time.Minute); ok {
			t.Fatal("claimed twice")
		}
		// A failing head holds its contact's later events.
		if err := st.FinishOutbox(ctx, due[0].ID, OutboxAttempt{NextAt: far.Add(time.Hour), Status: 500, Error: "answered 500"}); err != nil {
			t.Fatal(err)
		}
		due, _ = st.DueOutbox(ctx, far, 10)
		if len(due) != 1 || due[0].Type != "three" {
			t.Fatalf("due = %+v, want only the other contact's", due)
		}
		bl, err := st.EventBacklog(ctx)
		if err != nil || bl.Pending != 3 || bl.Failing != 1 || bl.LastError != "answered 500" {
			t.Fatalf("backlog = %+v, %v", bl, err)
		}
		due, _ = st.DueOutbox(ctx, far.Add(2*time.Hour), 10)
		if err := st.FinishOutbox(ctx, due[0].ID, OutboxAttempt{Delivered: true, Status: 200}); err != nil {
			t.Fatal(err)
		}
		due, _ = st.DueOutbox(ctx, far.Add(2*time.Hour), 10)
		if len(due) != 2 || due[0].Type != "two" {
			t.Fatalf("after delivery due = %+v, want two next", due)
		}
		if err := st.FinishOutbox(ctx, due[0].ID, OutboxAttempt{GaveUp: true, Error: "gave up"}); err != nil {
			t.Fatal(err)
		}
		bl, _ = st.EventBacklog(ctx)
		if bl.Pending != 1 || bl.GaveUpDay != 1 {
			t.Fatalf("backlog = %+v", bl)
		}
		if n, err := st.PruneOutbox(ctx, time.Now().Add(100*24*time.Hour)); err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want the delivered and the given-up one", n, err)
		}
		if bl, _ = st.EventBacklog(ctx); bl.Pending != 1 {
			t.Fatalf("backlog after pruning = %+v", bl)
		}
	})
}
