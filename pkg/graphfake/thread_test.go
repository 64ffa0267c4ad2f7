package graphfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestThreadControl(t *testing.T) {
	const user = "16505551234"
	tests := []struct {
		name       string
		escalation bool
		before     string // the thread's owner first ("" = never heard of)
		body       string
		code       int    // 0 = accepted
		detail     string // in the error's message or details
		after      string
	}{
		{"release own thread", false, "", `{"messaging_product":"whatsapp","action":"release","to":"16505551234"}`, 0, "", graphfake.ThreadIdle},
		{"release by BSUID", false, "", `{"messaging_product":"whatsapp","action":"release","recipient":"US.13491208655302741918"}`, 0, "", graphfake.ThreadApp},
		{"pass to Meta's agent", false, "", `{"messaging_product":"whatsapp","action":"pass","to":"16505551234","control_pass":{"target_role":"ai_agent"},"metadata":"billing"}`, 0, "", graphfake.ThreadOther},
		{"take as escalation partner", true, graphfake.ThreadOther, `{"messaging_product":"whatsapp","action":"take","to":"16505551234","metadata":"agent"}`, 0, "", graphfake.ThreadApp},
		{"take as primary", false, graphfake.ThreadOther, `{"messaging_product":"whatsapp","action":"take","to":"16505551234"}`, graphfake.CodeThreadNotPermitted, "only the escalation partner", graphfake.ThreadOther},
		{"release of another's thread", false, graphfake.ThreadOther, `{"messaging_product":"whatsapp","action":"release","to":"16505551234"}`, graphfake.CodeThreadNotPermitted, "does not control", graphfake.ThreadOther},
		{"no product", false, "", `{"action":"release","to":"16505551234"}`, 100, "messaging_product", graphfake.ThreadApp},
		{"bad action", false, "", `{"messaging_product":"whatsapp","action":"give","to":"16505551234"}`, 100, "action", graphfake.ThreadApp},
		{"no user", false, "", `{"messaging_product":"whatsapp","action":"release"}`, 100, "to", graphfake.ThreadApp},
		{"both users", false, "", `{"messaging_product":"whatsapp","action":"release","to":"16505551234","recipient":"US.13491208655302741918"}`, 100, "not both", graphfake.ThreadApp},
		{"plus in to", false, "", `{"messaging_product":"whatsapp","action":"release","to":"+16505551234"}`, 100, "digits only", graphfake.ThreadApp},
		{"recipient not a BSUID", false, "", `{"messaging_product":"whatsapp","action":"release","recipient":"16505551234"}`, 100, "business-scoped", graphfake.ThreadApp},
		{"metadata too long", false, "", `{"messaging_product":"whatsapp","action":"release","to":"16505551234","metadata":"` + strings.Repeat("x", 2001) + `"}`, 100, "2000", graphfake.ThreadApp},
		{"control_pass with take", true, "", `{"messaging_product":"whatsapp","action":"take","to":"16505551234","control_pass":{"target_role":"ai_agent"}}`, 100, "control_pass", graphfake.ThreadApp},
		{"unknown key", false, "", `{"messaging_product":"whatsapp","action":"release","to":"16505551234","user":"x"}`, 100, "user", graphfake.ThreadApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := graphfake.New(graphfake.Options{Token: tok, PhoneNumberID: phone, EscalationPartner: tt.escalation})
			t.Cleanup(s.Close)
			if tt.before != "" {
				s.SetThreadOwner(user, tt.before)
			}
			status, body := do(t, "POST", s.URL+"/v23.0/"+phone+"/thread_control", tok, "application/json", []byte(tt.body))
			if tt.code == 0 {
				if status != 200 || string(body) != `{"messaging_product":"whatsapp"}` {
					t.Fatalf("%d %s, want 200", status, body)
				}
			} else {
				ge := decodeErr(t, body)
				if ge.Error.Code != tt.code || !strings.Contains(ge.Error.Message+ge.Error.ErrorData.Details, tt.detail) {
					t.Fatalf("%d %s, want code %d with %q", status, body, tt.code, tt.detail)
				}
			}
			if got := s.ThreadOwner(user); got != tt.after {
				t.Errorf("owner %q, want %q", got, tt.after)
			}
			if c := s.Calls(); len(c) != 1 || c[0].Endpoint != graphfake.EndpointThreadControl {
				t.Errorf("calls %+v", c)
			}
		})
	}
}

// The client's request is the one the fake checks strictly, and webhooks the fake builds
// move its thread state as Meta's routing would.
func TestThreadControlClient(t *testing.T) {
	s := graphfake.New(graphfake.Options{Token: tok, PhoneNumberID: phone})
	t.Cleanup(s.Close)
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, APIVersion: "v23.0", PhoneNumberID: phone, Token: tok})
	ctx := context.Background()
	f := graphfake.Sender{WaID: "16505551234", Name: "Ada"}
	s.StandbyText(f, "wamid.S1", "hi", time.Now())
	if got := s.ThreadOwner(f.WaID); got != graphfake.ThreadOther {
		t.Fatalf("after a standby copy: %q", got)
	}
	err := c.ThreadControl(ctx, whatsapp.ThreadTake, "+16505551234", "agent Ada")
	var ge *whatsapp.GraphError
	if !errors.As(err, &ge) || ge.Code != graphfake.CodeThreadNotPermitted {
		t.Fatalf("take as primary: %v", err)
	}
	s.Handover(f, "control_passed", "meta_business_agent", "primary", "", time.Now())
	if err := c.ThreadControl(ctx, whatsapp.ThreadRelease, "+16505551234", ""); err != nil {
		t.Fatal(err)
	}
	if got := s.ThreadOwner(f.WaID); got != graphfake.ThreadIdle {
		t.Fatalf("after release: %q", got)
	}
	if err := c.ThreadControl(ctx, "grab", "+16505551234", ""); err == nil || !strings.Contains(err.Error(), "take, release or pass") {
		t.Fatalf("bad action: %v", err)
	}
	if err := c.ThreadControl(ctx, whatsapp.ThreadRelease, "+16505551234", strings.Repeat("é", 2001)); err == nil || !strings.Contains(err.Error(), "2000") {
		t.Fatalf("long metadata: %v", err)
	}
	if n := len(s.Calls()); n != 2 {
		t.Fatalf("%d calls, want 2 (the refused ones never left)", n)
	}
}
