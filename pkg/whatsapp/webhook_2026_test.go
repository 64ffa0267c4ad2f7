package whatsapp

import (
	"encoding/json"
	"os"
	"testing"
)

// TestParseWebhook2026Shapes: business-scoped user ids, pricing and callback data on
// statuses, Flows replies, user_changed_user_id, the template lifecycle, handovers and
// standby copies, as Meta documents them.
func TestParseWebhook2026Shapes(t *testing.T) {
	body, err := os.ReadFile("testdata/webhooks/shapes_2026.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ParseWebhook(body)
	if err != nil {
		t.Fatalf("ParseWebhook: %v", err)
	}
	kinds := []EventKind{EventMessage, EventMessage, EventMessage, EventStatus,
		EventTemplateStatus, EventTemplateCategory, EventTemplateQuality, EventHandover, EventStandby}
	if len(evs) != len(kinds) {
		for i, e := range evs {
			t.Logf("%d: %s %s", i, e.Kind, e.Reason)
		}
		t.Fatalf("%d events, want %d", len(evs), len(kinds))
	}
	for i, k := range kinds {
		if evs[i].Kind != k {
			t.Errorf("event %d: %s, want %s (%s)", i, evs[i].Kind, k, evs[i].Reason)
		}
	}
	tests := []struct {
		name string
		ok   bool
		got  any
	}{
		{"BSUID-only message", evs[0].Message.From == "" && evs[0].Message.FromUser == "US.13491208655302741918" &&
			evs[0].Message.ContactKey() == "US.13491208655302741918" && evs[0].Message.ContactName == "Pablo" &&
			evs[0].Message.Username == "pablo.m" && evs[0].Message.FromParentUser == "US.ENT.11815799212886844830", evs[0].Message},
		{"nfm_reply", evs[1].Message.FlowReply != nil && evs[1].Message.FlowReply.FlowToken == "gtc:42:1" &&
			evs[1].Message.FlowReply.Response["email"] == "ada@example.com" && evs[1].Message.FlowReply.Response["size"] == json.Number("2") &&
			evs[1].Message.FlowReply.Body == "Sent" && len(evs[1].Message.NFMReply) > 0, evs[1].Message.FlowReply},
		{"user_changed_user_id", evs[2].Message.SystemChange != nil && evs[2].Message.SystemChange.Type == SystemUserChangedUserID &&
			evs[2].Message.SystemChange.UserID == "US.99999999999999999999" &&
			evs[2].Message.SystemChange.PreviousUserID == "US.13491208655302741918", evs[2].Message.SystemChange},
		{"status pricing", evs[3].Status.Pricing != nil && *evs[3].Status.Pricing == Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"}, evs[3].Status.Pricing},
		{"status conversation", evs[3].Status.Conversation != nil && *evs[3].Status.Conversation == Conversation{ID: "a34a10abd87c7badad4d1fc5bafadd71", ExpirationTimestamp: 1750086400, OriginType: "utility"}, evs[3].Status.Conversation},
		{"status callback data", evs[3].Status.BizOpaqueCallbackData == "gtc:42:1" && evs[3].Status.RecipientUserID == "US.13491208655302741918", evs[3].Status},
		{"template status", evs[4].Template != nil && evs[4].Template.Event == "PAUSED" && evs[4].Template.ID == "594425479261596" &&
			evs[4].Template.Name == "order_ready" && evs[4].Template.Language == "en_US" && evs[4].Template.Category == "UTILITY" &&
			evs[4].Template.OtherInfo != nil && evs[4].Template.OtherInfo.Title == "FIRST_PAUSE" && evs[4].EntryTime == 1750000100 && evs[4].WABAID == "WABA1", evs[4].Template},
		{"template category", evs[5].Template != nil && evs[5].Template.PreviousCategory == "UTILITY" && evs[5].Template.NewCategory == "MARKETING", evs[5].Template},
		{"template quality", evs[6].Template != nil && evs[6].Template.PreviousQuality == "GREEN" && evs[6].Template.NewQuality == "YELLOW", evs[6].Template},
		{"handover", evs[7].Handover != nil && *evs[7].Handover == Handover{Type: "control_passed", PreviousOwner: "meta_business_agent", NewOwner: "primary",
			WaID: "16505551234", UserID: "US.13491208655302741918", Metadata: "order question", Timestamp: 1750000200} && evs[7].PhoneNumberID == "111", evs[7].Handover},
		{"standby", evs[8].Message != nil && evs[8].Message.ID == "wamid.STANDBY1" && evs[8].DedupeKey() == "standby:msg:wamid.STANDBY1", evs[8]},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: got %+v", tt.name, tt.got)
		}
	}
	seen := map[string]int{}
	for i, e := range evs {
		if k := e.DedupeKey(); k == "" {
			t.Errorf("event %d has no dedupe key", i)
		} else if j, dup := seen[k]; dup {
			t.Errorf("events %d and %d share the dedupe key %s", j, i, k)
		} else {
			seen[k] = i
		}
	}
}

func TestParseFlowReplyOddResponse(t *testing.T) {
	tests := []struct {
		name, raw string
		wantErr   bool
		wantToken string
		wantProb  bool
	}{
		{"object in a string", `{"name":"flow","body":"Sent","response_json":"{\"flow_token\":\"t1\",\"a\":1}"}`, false, "t1", false},
		{"object as is", `{"response_json":{"flow_token":"t2"}}`, false, "t2", false},
		{"not json", `{"response_json":"not json"}`, false, "", true},
		{"array", `{"response_json":"[1,2]"}`, false, "", true},
		{"absent", `{"body":"Sent"}`, false, "", false},
		{"not an object", `"x"`, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr, err := parseFlowReply(json.RawMessage(tt.raw), "m.interactive.nfm_reply")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if fr.FlowToken != tt.wantToken || (fr.ResponseError != "") != tt.wantProb {
				t.Errorf("got %+v", fr)
			}
		})
	}
}

func TestCallback(t *testing.T) {
	c := Callback{OutboundID: 42, Attempt: 3, Created: 1764489600123}
	s := c.String()
	if s != "gtc:42:3:1764489600123" {
		t.Fatalf("Callback.String = %q", s)
	}
	tests := []struct {
		in   string
		want Callback
		ok   bool
	}{
		{s, c, true},
		{"gtc:42:3", Callback{OutboundID: 42, Attempt: 3}, true}, // the form before the creation time
		{"gtc:42:0:5", Callback{OutboundID: 42, Created: 5}, true},
		{"", Callback{}, false},
		{"gtc:", Callback{}, false},
		{"gtc:x:1", Callback{}, false},
		{"gtc:1", Callback{}, false},
		{"other:1:2", Callback{}, false},
		{"gtc:-1:2", Callback{}, false},
		{"gtc:1:-2", Callback{}, false},
		{"gtc:1:2:x", Callback{}, false},
		{"gtc:1:2:-3", Callback{}, false},
		{"gtc:1:2:0", Callback{}, false},
		{"gtc:1:2:3:4", Callback{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseCallback(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseCallback(%q) = %+v %v, want %+v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIsBSUID(t *testing.T) {
	for s, want := range map[string]bool{
		"US.13491208655302741918": true, "US.ENT.11815799212886844830": true, "BR.abcDEF123": true,
		"+4915123456789": false, "4915123456789": false, "us.123": false, "USA.123": false, "US.": false, "US.12 3": false,
	} {
		if IsBSUID(s) != want {
			t.Errorf("IsBSUID(%q) = %v", s, !want)
		}
	}
}

func TestEventContactKey(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"message by number", Event{Message: &InboundMessage{From: "1650", FromUser: "US.1"}}, "1650"},
		{"message by BSUID", Event{Message: &InboundMessage{FromUser: "US.1"}}, "US.1"},
		{"status", Event{Status: &Status{RecipientID: "1650", RecipientUserID: "US.1"}}, "1650"},
		{"status to a BSUID", Event{Status: &Status{RecipientUserID: "US.1"}}, "US.1"},
		{"preference", Event{Preference: &UserPreference{UserID: "US.1"}}, "US.1"},
		{"handover", Event{Handover: &Handover{UserID: "US.1"}}, "US.1"},
		{"template", Event{Template: &TemplateUpdate{Name: "t"}}, ""},
	}
	for _, tt := range tests {
		if got := tt.e.ContactKey(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// ParseCallback reads biz_opaque_callback_data from status webhooks (outside input): it
// never panics, and what it accepts writes back the same.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"gtc:42:3:1764489600123", "gtc:42:3", "gtc:1:2:3:4", "order-77", "gtc::", "gtc:9223372036854775807:0:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCallback(s)
		if !ok {
			return
		}
		if c.OutboundID <= 0 || c.Attempt < 0 || c.Created < 0 {
			t.Fatalf("ParseCallback(%q) accepted %+v", s, c)
		}
		if again, ok := ParseCallback(c.String()); !ok || again != c {
			t.Fatalf("ParseCallback(%q) = %+v, but its String %q reads back as %+v %v", s, c, c.String(), again, ok)
		}
	})
}
