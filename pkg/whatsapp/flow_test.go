package whatsapp

import (
	"encoding/json"
	"strings"
	"testing"
)

func flowMsg(f *FlowParameters) Message {
	return Message{To: "+4915123456789", Type: TypeInteractive, Interactive: &Interactive{Type: "flow",
		Body: &InteractiveText{Text: "Book your table"}, Action: Action{Name: "flow", Flow: f}}}
}

func TestValidateFlow(t *testing.T) {
	ok := func() *FlowParameters {
		return &FlowParameters{FlowMessageVersion: "3", FlowID: "1234", FlowCTA: "Book!", FlowToken: "gtc:1:1",
			FlowAction: FlowActionNavigate, FlowActionPayload: &FlowActionPayload{Screen: "WELCOME", Data: map[string]any{"name": "Ada"}}}
	}
	with := func(change func(f *FlowParameters)) Message {
		f := ok()
		change(f)
		return flowMsg(f)
	}
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"navigate by id", flowMsg(ok()), ""},
		{"by name, draft", with(func(f *FlowParameters) { f.FlowID, f.FlowName, f.Mode = "", "booking", "draft" }), ""},
		{"data_exchange", with(func(f *FlowParameters) { f.FlowAction, f.FlowActionPayload = FlowActionData, nil }), ""},
		{"navigate without payload", with(func(f *FlowParameters) { f.FlowActionPayload = nil }), ""},
		{"neither id nor name", with(func(f *FlowParameters) { f.FlowID = "" }), "flow_id: is required (or flow_name)"},
		{"both id and name", with(func(f *FlowParameters) { f.FlowName = "booking" }), "flow_name: cannot be used with flow_id"},
		{"no cta", with(func(f *FlowParameters) { f.FlowCTA = "" }), "flow_cta: is required"},
		{"cta too long", with(func(f *FlowParameters) { f.FlowCTA = strings.Repeat("x", 31) }), "flow_cta: is 31 characters, the limit is 30"},
		{"version", with(func(f *FlowParameters) { f.FlowMessageVersion = "2" }), `flow_message_version: must be "3"`},
		{"mode", with(func(f *FlowParameters) { f.Mode = "live" }), `"live" is not draft or published`},
		{"action", with(func(f *FlowParameters) { f.FlowAction = "jump" }), `"jump" is not navigate or data_exchange`},
		{"payload with data_exchange", with(func(f *FlowParameters) { f.FlowAction = FlowActionData }), "flow_action_payload: is only for flow_action navigate"},
		{"screen missing", with(func(f *FlowParameters) { f.FlowActionPayload.Screen = "" }), "flow_action_payload.screen: is required"},
		{"empty data", with(func(f *FlowParameters) { f.FlowActionPayload.Data = map[string]any{} }), "flow_action_payload.data: must not be empty"},
		{"no parameters", flowMsg(nil), "interactive.action.parameters: is required"},
		{"no body", func() Message { m := flowMsg(ok()); m.Interactive.Body = nil; return m }(), "interactive.body.text: is required"},
		{"wrong action name", func() Message { m := flowMsg(ok()); m.Interactive.Action.Name = "cta_url"; return m }(), `interactive.action.name: must be "flow"`},
		{"flow parameters on a button message", Message{To: "+491", Type: TypeInteractive, Interactive: &Interactive{Type: "button", Body: &InteractiveText{Text: "x"},
			Action: Action{Buttons: []ReplyButton{{Type: "reply", Reply: Reply{ID: "a", Title: "A"}}}, Flow: ok()}}}, "flow parameters are only for interactive type flow"},
		{"template FLOW button", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"}, Components: []Component{
			{Type: "button", SubType: "flow", Index: ptr("0"), Parameters: []Parameter{{Type: "action", Action: &TemplateAction{FlowToken: "tok", FlowActionData: map[string]any{"a": 1}}}}}}}}, ""},
		{"template FLOW button without action", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"}, Components: []Component{
			{Type: "button", SubType: "flow", Index: ptr("0"), Parameters: []Parameter{{Type: "action"}}}}}}, "parameters[0].action: is required"},
		{"action parameter on a quick reply", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"}, Components: []Component{
			{Type: "button", SubType: "quick_reply", Index: ptr("0"), Parameters: []Parameter{{Type: "action", Action: &TemplateAction{FlowToken: "x"}}}}}}}, "an action parameter fills a FLOW button"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("valid, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestFlowActionJSON: flow parameters go out as action.parameters and come back into Flow;
// CTA URL parameters are unchanged.
func TestFlowActionJSON(t *testing.T) {
	m := flowMsg(&FlowParameters{FlowID: "1234", FlowCTA: "Book!"})
	m.Interactive.Action.Name = ""
	if err := Prepare(&m); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	want := `"action":{"name":"flow","parameters":{"flow_message_version":"3","flow_id":"1234","flow_cta":"Book!"}}`
	if !strings.Contains(string(b), want) {
		t.Fatalf("body %s\nwant %s", b, want)
	}
	var back Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if f := back.Interactive.Action.Flow; f == nil || f.FlowID != "1234" || back.Interactive.Action.Parameters != nil {
		t.Fatalf("round trip: %+v", back.Interactive.Action)
	}
	cta := Action{Name: "cta_url", Parameters: &CTAParameters{DisplayText: "Open", URL: "https://example.com"}}
	b, _ = json.Marshal(cta)
	var ctaBack Action
	if err := json.Unmarshal(b, &ctaBack); err != nil || ctaBack.Parameters == nil || ctaBack.Parameters.URL != "https://example.com" || ctaBack.Flow != nil {
		t.Fatalf("cta_url round trip %s: %+v %v", b, ctaBack, err)
	}
}
