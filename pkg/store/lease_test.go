package store

import (
	"context"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// TestReleaseRacesIngest: a message committed while the contact's holder decides to let it
// go, whose job then finds the contact still held, must be left to someone: the holder
// keeps the lease (it looks after the commit), or the job gets it (it claims after the
// release). On PostgreSQL the holder used to look, then the message and its job came, then
// the holder released: the message waited with no job until the contact wrote again.
func TestReleaseRacesIngest(t *testing.T) {
	timeout := func(id, key string) InboundEvent {
		return InboundEvent{Kind: KindTimeout, DedupeKey: "timeout:" + id, Raw: []byte(`{}`), ContactKey: key}
	}
	// A message, and an event of the contact's queue that is not (a question's timeout, a
	// call's result, a release): every queued event locks the contact's row.
	t.Run("message", func(t *testing.T) {
		testReleaseRacesIngest(t, func(id, key string) InboundEvent { return msg(id, key, t0) })
	})
	t.Run("timeout", func(t *testing.T) { testReleaseRacesIngest(t, timeout) })
}

func testReleaseRacesIngest(t *testing.T, next func(id, key string) InboundEvent) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		ref := ContactRef{"acme", "support", "4915100000001"}
		if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{msg("m1", ref.Key, t0)}); err != nil {
			t.Fatal(err)
		}
		if got, err := st.ClaimContacts(ctx, []ContactRef{ref}, "holder", t0.Add(time.Minute)); err != nil || len(got) != 1 {
			t.Fatalf("claim: %v, %v", got, err)
		}
		evs, err := st.PendingEvents(ctx, ref, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("pending: %v, %v", evs, err)
		}
		if err := st.CompleteEvents(ctx, []*Completion{{Event: evs[0]}}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var jobGot bool
		st.releaseLooked = func() {
			st.releaseLooked = nil
			// A webhook's message and its job arrive now, from another connection.
			go func() {
				defer close(done)
				if _, err := st.Ingest(ctx, ref.Tenant, ref.Team, []InboundEvent{next("m2", ref.Key)}); err != nil {
					t.Error(err)
					return
				}
				got, err := st.ClaimContacts(ctx, []ContactRef{ref}, "job", t0.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				jobGot = len(got) == 1
			}()
			select {
			case <-done:
			case <-time.After(500 * time.Millisecond): // waits for the holder: the fix
			}
		}
		more, err := st.ReleaseContacts(ctx, []ContactRef{ref}, "holder")
		if err != nil {
			t.Fatal(err)
		}
		<-done
		if len(more) == 0 && !jobGot {
			t.Fatal("m2 is pending with nobody to process it: the holder released the contact after m2's job found it held")
		}
	})
}
