package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// TestLateStartDoesNotUndoNewerStop: STOP sent at 10:05 is processed first; a START sent at
// 10:00 that Meta delivers later (a retry) changes nothing and is not confirmed; the contact
// stays opted out and the next message gets no reply.
func TestLateStartDoesNotUndoNewerStop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const from, to = "4915100000301", "+4915100000301"
		ten := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
		h.ingest(textEvent("wamid.stop", from, "STOP", ten.Add(5*time.Minute)))
		h.eventually("the STOP processed", h.idle)
		h.ingest(textEvent("wamid.start", from, "START", ten))
		h.eventually("the late START processed", h.idle)
		c, err := h.st.Contact(context.Background(), "acme", "support", from)
		if err != nil || !c.OptedOut || !c.OptedOutAt.Equal(ten.Add(5*time.Minute)) {
			t.Fatalf("contact = %+v, %v; want opted out at 10:05", c, err)
		}
		h.ingest(textEvent("wamid.after", from, "hello", ten.Add(10*time.Minute)))
		h.eventually("idle", h.idle)
		got := h.sender.sentTo(to)
		if len(got) != 1 || !strings.HasPrefix(got[0], "You have unsubscribed") {
			t.Fatalf("sent %q; want only the opt-out confirmation", got)
		}
		// A START sent after the STOP opts in.
		h.ingest(textEvent("wamid.start2", from, "START", ten.Add(11*time.Minute)))
		h.eventually("idle", h.idle)
		if c, _ := h.st.Contact(context.Background(), "acme", "support", from); c.OptedOut {
			t.Fatalf("a START newer than the STOP left the contact opted out")
		}
	})
}

// TestLastMessageTimeIsThePreviousMessage: a flow run by an inbound message sees the time of
// the contact's previous inbound message as last_message_time: 0 for a first message.
func TestLastMessageTimeIsThePreviousMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const from = "4915100000302"
		first, second := tBase.Add(-3*time.Hour), tBase.Add(-time.Hour)
		h.ingest(textEvent("wamid.first", from, "hello", first))
		h.eventually("the first message", h.idle)
		h.ingest(textEvent("wamid.second", from, "again", second))
		h.eventually("the second message", h.idle)
		h.flows.mu.Lock()
		defer h.flows.mu.Unlock()
		want := []int64{0, first.Unix()}
		if len(h.flows.last) != 2 || h.flows.last[0] != want[0] || h.flows.last[1] != want[1] {
			t.Fatalf("last_message_time of the runs = %v, want %v", h.flows.last, want)
		}
	})
}

// TestSendToAnotherAliasOfAnOptedOutContact: STOP from the wa_id, then a send to the number
// as people type it (Mexico's 52 without the 1, Brazil's number with the ninth digit) is
// refused opted_out and nothing goes out; the same for a BSUID-only customer's phone number
// learned from a later message carrying both.
func TestSendToAnotherAliasOfAnOptedOutContact(t *testing.T) {
	tests := []struct {
		name  string
		stop  whatsapp.Event
		later []whatsapp.Event
		typed string
	}{
		{name: "Mexico", stop: textEvent("wamid.mx", "5215512345678", "STOP", tBase), typed: "+52 55 1234 5678"},
		{name: "Brazil", stop: textEvent("wamid.br", "551187654321", "STOP", tBase), typed: "+5511987654321"},
		{name: "Argentina", stop: textEvent("wamid.ar", "5491123456789", "STOP", tBase), typed: "+541123456789"},
		{name: "BSUID then phone", stop: bsuidEvent("wamid.u1", "", "US.13491208655302741918", "STOP", tBase),
			later: []whatsapp.Event{bsuidEvent("wamid.u2", "4915100000303", "US.13491208655302741918", "hi", tBase.Add(time.Minute))},
			typed: "+4915100000303"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, be storetest.Backend) {
				h := newHarness(t, be.DSN(t), true)
				h.ingest(tt.stop)
				h.ingest(tt.later...)
				h.eventually("idle", h.idle)
				before := h.sender.total()
				rows, err := h.svc.Send(context.Background(), "acme", "support", []OutboundMessage{{Message: whatsapp.Message{
					To: tt.typed, Type: "template", Template: &whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "en"}}}}})
				var re *RefusedError
				if err != nil || !errors.As(Refused(rows), &re) || re.Reason != ReasonOptedOut {
					t.Fatalf("send to %s = %v, %v; want refused opted_out", tt.typed, Refused(rows), err)
				}
				if h.sender.total() != before {
					t.Fatalf("a message went out to an opted-out contact")
				}
			})
		})
	}
}

// TestSendAnswerLinksTheWaID: Graph answers a send to a typed number with another wa_id
// (graphfake's WaIDs); gtc records it as an alias, so a STOP from that wa_id refuses the next
// send to the number as typed.
func TestSendAnswerLinksTheWaID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, g := graphHarnessWith(t, be, graphfake.Options{WaIDs: map[string]string{"4915100000304": "4915100000399"}})
		ctx := context.Background()
		tmpl := whatsapp.Message{To: "+4915100000304", Type: "template", Template: &whatsapp.Template{Name: "hello_world", Language: whatsapp.Language{Code: "en_US"}}}
		rows, err := h.svc.Send(ctx, "acme", "support", []OutboundMessage{{Message: tmpl}})
		if err != nil || rows[0].State != store.OutSent {
			t.Fatalf("first send = %+v, %v", *rows[0], err)
		}
		h.ingest(textEvent("wamid.stop304", "4915100000399", "STOP", time.Now()))
		h.eventually("idle", h.idle)
		c, err := ResolveContact(ctx, h.st, "acme", "support", "+4915100000304")
		if err != nil || !c.OptedOut {
			t.Fatalf("contact of the typed number = %+v, %v; want the opted-out wa_id's", c, err)
		}
		n := sentTo(g, "+4915100000304")
		rows, err = h.svc.Send(ctx, "acme", "support", []OutboundMessage{{Message: tmpl}})
		var re *RefusedError
		if err != nil || !errors.As(Refused(rows), &re) || re.Reason != ReasonOptedOut || sentTo(g, "+4915100000304") != n {
			t.Fatalf("second send = %+v, %v; want refused opted_out, nothing sent", rows, err)
		}
	})
}

func bsuidEvent(id, waID, userID, text string, ts time.Time) whatsapp.Event {
	ev := textEvent(id, waID, text, ts)
	ev.Message.FromUser = userID
	return ev
}
