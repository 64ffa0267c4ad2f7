package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSendAddressing: a phone number goes in "to"; a business-scoped user id goes in
// "recipient" as Meta documents, whether the caller put it in To or Recipient (the
// caller's message is left as it was); the answer's
// contacts give the recipient → wa_id (or user_id) mapping; biz_opaque_callback_data goes
// out as set.
func TestSendAddressing(t *testing.T) {
	tests := []struct {
		name          string
		msg           *Message
		answer        string
		wantTo        string
		wantRecipient string
		wantKey       string
		want          SendResult
	}{
		{"Mexican number resolved to its wa_id", &Message{To: "+525512345678", Type: TypeText, Text: &Text{Body: "hi"}, BizOpaqueCallbackData: Callback{OutboundID: 7, Attempt: 1, Created: 1764489600123}.String()},
			`{"messaging_product":"whatsapp","contacts":[{"input":"+525512345678","wa_id":"5215512345678"}],"messages":[{"id":"wamid.MX"}]}`,
			"+525512345678", "", "+525512345678",
			SendResult{MessageID: "wamid.MX", WaID: "5215512345678", Input: "+525512345678", Contacts: []SendContact{{Input: "+525512345678", WaID: "5215512345678"}}}},
		{"BSUID in To moves to recipient", &Message{To: "US.13491208655302741918", Type: TypeText, Text: &Text{Body: "hi"}},
			`{"messaging_product":"whatsapp","contacts":[{"input":"US.13491208655302741918","user_id":"US.13491208655302741918"}],"messages":[{"id":"wamid.U"}]}`,
			"", "US.13491208655302741918", "US.13491208655302741918",
			SendResult{MessageID: "wamid.U", Input: "US.13491208655302741918", UserID: "US.13491208655302741918",
				Contacts: []SendContact{{Input: "US.13491208655302741918", UserID: "US.13491208655302741918"}}}},
		{"parent BSUID in Recipient", &Message{Recipient: "US.ENT.11815799212886844830", Type: TypeText, Text: &Text{Body: "hi"}},
			`{"messages":[{"id":"wamid.P"}]}`, "", "US.ENT.11815799212886844830", "US.ENT.11815799212886844830",
			SendResult{MessageID: "wamid.P"}},
		{"both: to wins at Meta, both sent", &Message{To: "+4915123456789", Recipient: "US.13491208655302741918", Type: TypeText, Text: &Text{Body: "hi"}},
			`{"messages":[{"id":"wamid.B"}]}`, "+4915123456789", "US.13491208655302741918", "+4915123456789", SendResult{MessageID: "wamid.B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphStub(t, stubAnswer{200, tt.answer})
			to, recipient := tt.msg.To, tt.msg.Recipient
			res, err := g.client(nil).Send(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.msg.To != to || tt.msg.Recipient != recipient {
				t.Errorf("Send changed the caller's addressing: to %q recipient %q", tt.msg.To, tt.msg.Recipient)
			}
			if res.MessageID != tt.want.MessageID || res.WaID != tt.want.WaID || res.Input != tt.want.Input || res.UserID != tt.want.UserID || len(res.Contacts) != len(tt.want.Contacts) {
				t.Errorf("result = %+v, want %+v", res, tt.want)
			}
			var body map[string]any
			if err := json.Unmarshal(g.requests()[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			if to, _ := body["to"].(string); to != tt.wantTo {
				t.Errorf("to = %q, want %q", to, tt.wantTo)
			}
			if r, _ := body["recipient"].(string); r != tt.wantRecipient {
				t.Errorf("recipient = %q, want %q", r, tt.wantRecipient)
			}
			if tt.msg.BizOpaqueCallbackData != "" && body["biz_opaque_callback_data"] != tt.msg.BizOpaqueCallbackData {
				t.Errorf("biz_opaque_callback_data = %v", body["biz_opaque_callback_data"])
			}
			if tt.msg.RecipientKey() != tt.wantKey {
				t.Errorf("RecipientKey = %q, want %q", tt.msg.RecipientKey(), tt.wantKey)
			}
		})
	}
}

func TestValidateAddressingAndCallbackData(t *testing.T) {
	tests := []struct {
		name     string
		msg      Message
		wantPath string
	}{
		{"no recipient at all", Message{Type: TypeText, Text: &Text{Body: "x"}}, "to"},
		{"recipient not a BSUID", Message{Recipient: "+4915123456789", Type: TypeText, Text: &Text{Body: "x"}}, "recipient"},
		{"callback data too long", Message{To: "+4915123456789", Type: TypeText, Text: &Text{Body: "x"}, BizOpaqueCallbackData: strings.Repeat("x", MaxCallbackData+1)}, "biz_opaque_callback_data"},
		{"callback data at the limit", Message{To: "+4915123456789", Type: TypeText, Text: &Text{Body: "x"}, BizOpaqueCallbackData: strings.Repeat("x", MaxCallbackData)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.Validate()
			if tt.wantPath == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != tt.wantPath {
				t.Fatalf("err = %v, want a problem at %s", err, tt.wantPath)
			}
		})
	}
}
