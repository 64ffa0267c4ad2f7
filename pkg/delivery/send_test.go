package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestContactKeyOf(t *testing.T) {
	tests := map[string]string{
		"+49 151 1234-5678": "4915112345678",
		"4915112345678":     "4915112345678",
		"US.13491208655302": "US.13491208655302",
		" +1 (555) 010.99 ": "155501099",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := ContactKeyOf(in); got != want {
				t.Fatalf("ContactKeyOf(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

func TestSendFollowsTheRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		ctx := context.Background()
		const from, to = "4915100060", "+4915100060"
		text := OutboundMessage{Message: whatsapp.Message{Type: "text", To: to, Text: &whatsapp.Text{Body: "news"}}}
		tmpl := OutboundMessage{Message: whatsapp.Message{Type: "template", To: to, Template: &whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "en"}}}}

		// Never wrote: window closed, the template goes.
		out, err := h.svc.Send(ctx, "acme", "support", []OutboundMessage{text, tmpl})
		if err != nil {
			t.Fatal(err)
		}
		if out[0].State != store.OutRefused || out[0].ErrorClass != "window_closed" || out[1].State != store.OutSent {
			t.Fatalf("closed window: %s/%s, %s", out[0].State, out[0].ErrorClass, out[1].State)
		}
		// After a message, free-form goes.
		h.ingest(textEvent("wamid.sf1", from, "hi", tBase))
		h.eventually("idle", h.idle)
		if out, _ = h.svc.Send(ctx, "acme", "support", []OutboundMessage{text}); out[0].State != store.OutSent {
			t.Fatalf("open window: %s/%s", out[0].State, out[0].ErrorClass)
		}
		// Opted out: nothing goes, not even templates.
		h.ingest(textEvent("wamid.sf2", from, "STOP", tBase.Add(time.Second)))
		h.eventually("idle", h.idle)
		out, _ = h.svc.Send(ctx, "acme", "support", []OutboundMessage{text, tmpl})
		for _, o := range out {
			if o.State != store.OutRefused || o.ErrorClass != "opted_out" {
				t.Fatalf("opted out: %s/%s", o.State, o.ErrorClass)
			}
		}
		if _, err := h.svc.Send(ctx, "nobody", "x", []OutboundMessage{text}); err == nil {
			t.Fatal("unknown tenant accepted")
		}
	})
}
