package graphfake_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// TestInboundWebhooks: every shape the fake emits parses into the event gtc expects.
func TestInboundWebhooks(t *testing.T) {
	s := graphfake.NewUnstarted(graphfake.Options{})
	defer s.Close()
	at := time.Unix(1750000000, 0)
	const bsuid = "US.13491208655302741918"
	phoneOnly := graphfake.Sender{WaID: "16505551234", Name: "Sheena"}
	bsuidOnly := graphfake.Sender{UserID: bsuid, Name: "Pablo", Username: "pablo.m"}
	both := graphfake.Sender{WaID: "16505551234", UserID: bsuid, ParentUserID: "US.ENT.11815799212886844830", Name: "Pablo"}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		body  []byte
		kind  whatsapp.EventKind
		check func(e whatsapp.Event) bool
	}{
		{"text from a phone number", s.InboundText(phoneOnly, "wamid.A", "hi", at), whatsapp.EventMessage, func(e whatsapp.Event) bool {
			return e.Message.From == "16505551234" && e.Message.FromUser == "" && e.Message.Text == "hi" && e.Message.ContactName == "Sheena" && e.Message.Timestamp == at.Unix()
		}},
		{"text from a BSUID only", s.InboundText(bsuidOnly, "wamid.B", "hola", at), whatsapp.EventMessage, func(e whatsapp.Event) bool {
			return e.Message.From == "" && e.Message.ContactKey() == bsuid && e.Message.Username == "pablo.m" && e.Message.ContactName == "Pablo"
		}},
		{"text with both ids", s.InboundText(both, "wamid.C", "x", at), whatsapp.EventMessage, func(e whatsapp.Event) bool {
			return e.Message.From == "16505551234" && e.Message.FromUser == bsuid && e.Message.FromParentUser == "US.ENT.11815799212886844830"
		}},
		{"flow reply", s.InboundFlowReply(both, "wamid.D", "wamid.FLOW", map[string]any{"flow_token": "gtc:7:1", "email": "ada@example.com"}, at), whatsapp.EventMessage, func(e whatsapp.Event) bool {
			fr := e.Message.FlowReply
			return e.Message.Type == "interactive" && fr != nil && fr.FlowToken == "gtc:7:1" && fr.Response["email"] == "ada@example.com" &&
				e.Message.Context != nil && e.Message.Context.ID == "wamid.FLOW"
		}},
		{"user id change", s.InboundUserIDChange(bsuidOnly, "wamid.E", "US.99999999999999999999", at), whatsapp.EventMessage, func(e whatsapp.Event) bool {
			sc := e.Message.SystemChange
			return sc != nil && sc.Type == whatsapp.SystemUserChangedUserID && sc.UserID == "US.99999999999999999999" && e.Message.FromUser == "US.99999999999999999999"
		}},
		{"standby copy", s.StandbyText(phoneOnly, "wamid.F", "to the agent", at), whatsapp.EventStandby, func(e whatsapp.Event) bool {
			return e.Message != nil && e.Message.Text == "to the agent" && e.DedupeKey() == "standby:msg:wamid.F"
		}},
		{"handover", s.Handover(both, "control_passed", "meta_business_agent", "primary", "billing", at), whatsapp.EventHandover, func(e whatsapp.Event) bool {
			h := e.Handover
			return h.Type == "control_passed" && h.PreviousOwner == "meta_business_agent" && h.NewOwner == "primary" &&
				h.ContactKey() == "16505551234" && h.UserID == bsuid && h.Metadata == "billing" && h.Timestamp == at.Unix()
		}},
		{"template paused", must(s.TemplateStatus("order_confirmation", "en", "PAUSED", "", at)), whatsapp.EventTemplateStatus, func(e whatsapp.Event) bool {
			tu := e.Template
			return tu.Event == "PAUSED" && tu.Name == "order_confirmation" && tu.Language == "en" && tu.ID == "1000000000000001" &&
				tu.Reason == "NONE" && tu.Category == "UTILITY" && e.EntryTime == at.Unix() && e.WABAID == graphfake.DefaultBusinessAccountID
		}},
		{"template category", must(s.TemplateCategory("follow_up", "en", "MARKETING", "UTILITY", at)), whatsapp.EventTemplateCategory, func(e whatsapp.Event) bool {
			return e.Template.PreviousCategory == "MARKETING" && e.Template.NewCategory == "UTILITY"
		}},
		{"template quality", must(s.TemplateQuality("follow_up", "en", "GREEN", "RED", at)), whatsapp.EventTemplateQuality, func(e whatsapp.Event) bool {
			return e.Template.PreviousQuality == "GREEN" && e.Template.NewQuality == "RED"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := whatsapp.ParseWebhook(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Kind != tt.kind {
				t.Fatalf("events %+v, want one %s\n%s", evs, tt.kind, tt.body)
			}
			if !tt.check(evs[0]) {
				t.Errorf("event %+v\n%s", evs[0], tt.body)
			}
		})
	}
	if _, err := s.TemplateStatus("nope", "en", "APPROVED", "", at); err == nil {
		t.Error("TemplateStatus of an unknown template did not fail")
	}
}

// TestTemplateStatusWebhookChangesSends: a template paused by webhook is refused (132015)
// until it is APPROVED again, as at Meta.
func TestTemplateStatusWebhookChangesSends(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	body := `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"follow_up","language":{"code":"en"}}}`
	if st, b := send(t, s, body); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	if _, err := s.TemplateStatus("follow_up", "en", "PAUSED", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, b := send(t, s, body); decodeErr(t, b).Error.Code != 132015 {
		t.Fatalf("paused template: %s", b)
	}
	if _, err := s.TemplateStatus("follow_up", "en", "APPROVED", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, b := send(t, s, body); st != 200 {
		t.Fatalf("approved again: %d %s", st, b)
	}
}

func TestPostWebhook(t *testing.T) {
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	s := graphfake.NewUnstarted(graphfake.Options{})
	defer s.Close()
	body := s.InboundText(graphfake.Sender{WaID: "16505551234"}, "wamid.P", "hi", time.Now())
	if st, err := graphfake.PostWebhook(context.Background(), hs.URL, "shh", body); err != nil || st != 200 {
		t.Fatalf("%d %v", st, err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bodies) != 1 || string(sink.bodies[0]) != string(body) || whatsapp.VerifySignature(body, sink.sigs[0], "shh") != nil {
		t.Errorf("posted %q sig %q", sink.bodies, sink.sigs)
	}
}
