package store

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// TestIdempotencyReservation: a key is reserved with the messages its request records; a
// second record with the key records nothing; the answer completes the reservation once.
func TestIdempotencyReservation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		k := &IdempotencyKey{Tenant: "acme", Team: "support", Key: "order-1", RequestHash: "h1"}
		msg := []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginAPI, MessageType: "text", Request: []byte(`{}`), Sender: "i:api"}}
		ids, err := st.RecordOutboundOnce(ctx, "acme", "support", k, msg)
		if err != nil || len(ids) != 1 {
			t.Fatalf("first record: %v, %v", ids, err)
		}
		in, err := st.IdempotentAnswer(ctx, "acme", "support", "order-1")
		if err != nil || !in.Reserved() || in.RequestHash != "h1" || len(in.OutboundIDs) != 1 || in.OutboundIDs[0] != ids[0] {
			t.Fatalf("after the record: %+v, %v; want reserved for message %d", in, err, ids[0])
		}
		if got, err := st.RecordOutboundOnce(ctx, "acme", "support", k, msg); !errors.Is(err, ErrKeyTaken) || got != nil {
			t.Fatalf("second record with the key: %v, %v; want ErrKeyTaken", got, err)
		}
		if outs, _ := st.OutboundMessages(ctx, OutboundFilter{}); len(outs) != 1 {
			t.Fatalf("%d messages recorded, want 1: the refused record must leave nothing", len(outs))
		}
		rows, err := st.OutboundByIDs(ctx, in.OutboundIDs)
		if err != nil || len(rows) != 1 || rows[0].ID != ids[0] {
			t.Fatalf("OutboundByIDs = %v, %v", rows, err)
		}
		// Another body's answer does not complete the reservation; the first answer does, once.
		if got, err := st.SaveIdempotent(ctx, "acme", "support", "order-1", "h2", 202, []byte(`{"id":"x"}`)); err != nil || !got.Reserved() {
			t.Fatalf("save for another body: %+v, %v; want the reservation unchanged", got, err)
		}
		if got, err := st.SaveIdempotent(ctx, "acme", "support", "order-1", "h1", 202, []byte(`{"id":"1"}`)); err != nil || got.Status != 202 || string(got.Body) != `{"id":"1"}` {
			t.Fatalf("first answer: %+v, %v", got, err)
		}
		if got, _ := st.SaveIdempotent(ctx, "acme", "support", "order-1", "h1", 409, []byte(`{"id":"2"}`)); got.Status != 202 || len(got.OutboundIDs) != 1 {
			t.Fatalf("second answer replaced the first: %+v", got)
		}
		// A flow start reserves its key with its replies the same way.
		ref := ContactRef{"acme", "support", "2"}
		ks := &IdempotencyKey{Tenant: "acme", Team: "support", Key: "start-1", RequestHash: "h"}
		start := []NewOutbound{{ContactKey: "2", Recipient: "+2", Origin: OriginAPI, MessageType: "text", Request: []byte(`{}`)}}
		if _, err := st.RecordStartOnce(ctx, ref, start, nil, nil, ks); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RecordStartOnce(ctx, ref, start, nil, nil, ks); !errors.Is(err, ErrKeyTaken) {
			t.Fatalf("second start with the key: %v, want ErrKeyTaken", err)
		}
		if outs, _ := st.OutboundMessages(ctx, OutboundFilter{ContactKey: "2"}); len(outs) != 1 {
			t.Fatalf("%d start replies recorded, want 1", len(outs))
		}
	})
}

// TestIdempotencyReservationRace records one key from many goroutines at once: exactly
// one records, the others get ErrKeyTaken.
func TestIdempotencyReservationRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		k := &IdempotencyKey{Tenant: "acme", Team: "support", Key: "race", RequestHash: "h"}
		msg := []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginAPI, MessageType: "text", Request: []byte(`{}`)}}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.RecordOutboundOnce(ctx, "acme", "support", k, msg)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrKeyTaken):
				t.Errorf("record: %v", err)
			}
		}
		if outs, _ := st.OutboundMessages(ctx, OutboundFilter{}); ok != 1 || len(outs) != 1 {
			t.Fatalf("%d records succeeded, %d messages recorded; want 1 and 1", ok, len(outs))
		}
	})
}
