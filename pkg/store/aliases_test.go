package store

import (
	"context"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

const (
	bsuid   = "US.13491208655302741918"
	bsuid2  = "US.99999999999999999999"
	mxWaID  = "5215512345678"
	mxTyped = "525512345678"
)

func bsuidMsg(id, waID, userID string, ts time.Time) InboundEvent {
	ev := msg(id, waID, ts)
	ev.UserID = userID
	if waID == "" {
		ev.ContactKey = userID
	}
	return ev
}

// TestContactAliases: a BSUID-only customer is one identity; a later message carrying their
// wa_id and BSUID is recorded for it and the wa_id becomes an alias; a country variant finds
// it too; an unknown key comes back unknown under its own key.
func TestContactAliases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		if _, err := st.Ingest(ctx, "acme", "support", []InboundEvent{bsuidMsg("wamid.1", "", bsuid, t0)}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOptOut(ctx, ContactRef{"acme", "support", bsuid}, true, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(ctx, "acme", "support", []InboundEvent{bsuidMsg("wamid.2", mxWaID, bsuid, t0.Add(2*time.Minute))}); err != nil {
			t.Fatal(err)
		}
		pend, err := st.PendingEvents(ctx, ContactRef{"acme", "support", bsuid}, 10)
		if err != nil || len(pend) != 2 {
			t.Fatalf("pending events of the identity = %d, %v; want both messages", len(pend), err)
		}
		for _, keys := range [][]string{{bsuid}, {mxWaID}, {mxTyped, mxWaID}, {"nobody", mxWaID}} {
			c, err := st.ContactByAlias(ctx, "acme", "support", keys...)
			if err != nil || !c.Known || c.Key != bsuid || !c.OptedOut {
				t.Errorf("ContactByAlias(%v) = %+v, %v; want the opted-out identity %s", keys, c, err, bsuid)
			}
		}
		c, err := st.ContactByAlias(ctx, "acme", "support", "4915100000009")
		if err != nil || c.Known || c.Key != "4915100000009" {
			t.Errorf("unknown = %+v, %v", c, err)
		}
		as, err := st.Aliases(ctx, "acme", "support")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range as[ContactRef{"acme", "support", bsuid}] {
			got[a.Value] = a.Kind
		}
		if len(got) != 2 || got[bsuid] != AliasBSUID || got[mxWaID] != AliasWaID {
			t.Errorf("aliases = %v", got)
		}
	})
}

// TestLinkAliasesMerges: a send's answer says a number typed (its own contact, opted out
// later than the wa_id's contact opted in) is the wa_id: the two become one identity, the
// wa_id's, which carries the newer opt change; the typed number is an alias of it.
func TestLinkAliasesMerges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		if _, err := st.Ingest(ctx, "acme", "support", []InboundEvent{msg("wamid.1", "4915100000001", t0)}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOptOut(ctx, ContactRef{"acme", "support", "4915100000001"}, false, t0); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOptOut(ctx, ContactRef{"acme", "support", "4915199999999"}, true, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		key, err := st.LinkAliases(ctx, "acme", "support", []Alias{{"4915100000001", AliasWaID}, {"4915199999999", AliasPhone}})
		if err != nil || key != "4915100000001" {
			t.Fatalf("LinkAliases = %q, %v", key, err)
		}
		for _, k := range []string{"4915100000001", "4915199999999"} {
			c, err := st.ContactByAlias(ctx, "acme", "support", k)
			if err != nil || c.Key != "4915100000001" || !c.OptedOut || !c.OptedOutAt.Equal(t0.Add(time.Hour)) || c.LastInboundAt.IsZero() {
				t.Errorf("%s → %+v, %v; want the wa_id's identity, opted out at %v", k, c, err, t0.Add(time.Hour))
			}
		}
	})
}

// TestOptChangeByMessageTime: an opt change older than the recorded one (a START sent at
// 10:00 delivered after a STOP sent at 10:05) does not apply; a newer one does.
func TestOptChangeByMessageTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		ref := ContactRef{"acme", "support", "4915100000001"}
		ten := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
		steps := []struct {
			out  bool
			at   time.Time
			want bool
		}{
			{true, ten.Add(5 * time.Minute), true},
			{false, ten, true},
			{false, ten.Add(6 * time.Minute), false},
			{true, ten.Add(5 * time.Minute), false},
		}
		for i, s := range steps {
			if err := st.SetOptOut(ctx, ref, s.out, s.at); err != nil {
				t.Fatal(err)
			}
			c, err := st.Contact(ctx, ref.Tenant, ref.Team, ref.Key)
			if err != nil || c.OptedOut != s.want {
				t.Fatalf("step %d (opted out %v at %v): opted out = %v, %v; want %v", i, s.out, s.at.Format("15:04"), c.OptedOut, err, s.want)
			}
		}
	})
}

// TestPrevInboundAt: a message keeps the time of the contact's previous inbound message,
// zero for the first, whichever alias the messages came under.
func TestPrevInboundAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		if _, err := st.Ingest(ctx, "acme", "support", []InboundEvent{bsuidMsg("wamid.1", "", bsuid, t0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Ingest(ctx, "acme", "support", []InboundEvent{bsuidMsg("wamid.2", mxWaID, bsuid, t0.Add(time.Minute)),
			bsuidMsg("wamid.3", mxWaID, "", t0.Add(2*time.Minute))}); err != nil {
			t.Fatal(err)
		}
		evs, err := st.PendingEvents(ctx, ContactRef{"acme", "support", bsuid}, 10)
		if err != nil || len(evs) != 3 {
			t.Fatalf("pending = %d, %v", len(evs), err)
		}
		want := []time.Time{{}, t0, t0.Add(time.Minute)}
		for i, e := range evs {
			if !e.PrevInboundAt.Equal(want[i]) {
				t.Errorf("message %d: prev inbound at %v, want %v", i+1, e.PrevInboundAt, want[i])
			}
		}
	})
}
