package graphfake

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInboundGolden pins the inbound shapes the fake emits (run with -update to rewrite).
func TestInboundGolden(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := NewUnstarted(Options{Clock: func() time.Time { return at }})
	defer s.Close()
	bsuidOnly := Sender{UserID: "US.13491208655302741918", Name: "Pablo", Username: "pablo.m"}
	both := Sender{WaID: "16505551234", UserID: "US.13491208655302741918", ParentUserID: "US.ENT.11815799212886844830", Name: "Pablo"}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := map[string][]byte{
		"text_bsuid_only":   s.InboundText(bsuidOnly, "wamid.IN1", "hola", at),
		"flow_reply":        s.InboundFlowReply(both, "wamid.IN2", "wamid.OUT1", map[string]any{"flow_token": "gtc:42:1", "email": "ada@example.com"}, at),
		"user_id_change":    s.InboundUserIDChange(bsuidOnly, "wamid.IN3", "US.99999999999999999999", at),
		"standby":           s.StandbyText(both, "wamid.IN4", "to the agent", at),
		"handover":          s.Handover(both, "control_taken", "primary", "escalation_partner", "", at),
		"template_status":   must(s.TemplateStatus("follow_up", "en", "PAUSED", "", at)),
		"template_category": must(s.TemplateCategory("follow_up", "en", "MARKETING", "UTILITY", at)),
		"template_quality":  must(s.TemplateQuality("follow_up", "en", "GREEN", "YELLOW", at)),
		"status_sent_bsuid": s.statusPayload(hookJob{id: "wamid.OUT2", to: "US.13491208655302741918", biz: "gtc:42:1", category: "utility"}, "sent", at),
		"status_delivered_pmp": func() []byte {
			p := NewUnstarted(Options{StatusWebhook: StatusWebhook{PricingModel: "PMP"}})
			defer p.Close()
			return p.statusPayload(hookJob{id: "wamid.OUT3", to: "+4915112345678", biz: "gtc:43:2", category: "marketing"}, "delivered", at)
		}(),
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "inbound_"+name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("webhook differs from %s:\n%s", golden, pretty.Bytes())
			}
		})
	}
}
