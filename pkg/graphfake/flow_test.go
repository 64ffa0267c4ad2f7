package graphfake_test

import (
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// TestFlowSends: WhatsApp Flow messages and FLOW template buttons are accepted when they
// follow Meta's rules (and Meta's schema, when the fake checks it) and refused with the
// field's path otherwise.
func TestFlowSends(t *testing.T) {
	opts := graphfake.Options{Templates: append(graphfake.DefaultTemplates(), graphfake.Template{ID: "1000000000000009",
		Name: "book_table", Language: "en", Status: "APPROVED", Category: "UTILITY", Components: []graphfake.TemplateComponent{
			{Type: "BODY", Text: "Book a table"},
			{Type: "BUTTONS", Buttons: []graphfake.TemplateButton{{Type: "FLOW", Text: "Book"}}}}})}
	if v, err := metaschema.Default(); err == nil {
		opts.Schema = v
	}
	s := graphfake.New(opts)
	defer s.Close()
	const pre = `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"flow","body":{"text":"Book"},"action":{"name":"flow","parameters":`
	tests := []struct {
		name, body string
		code       int // Graph error code, 0 = accepted
		path       string
	}{
		{"navigate", pre + `{"flow_message_version":"3","flow_id":"123","flow_cta":"Book","flow_token":"gtc:1:1","flow_action":"navigate","flow_action_payload":{"screen":"WELCOME","data":{"n":2}}}}}}`, 0, ""},
		{"data_exchange by name", pre + `{"flow_message_version":"3","flow_name":"booking","flow_cta":"Book","flow_action":"data_exchange"}}}}`, 0, ""},
		{"no flow id or name", pre + `{"flow_message_version":"3","flow_cta":"Book"}}}}`, 131008, "flow_id"},
		{"cta too long", pre + `{"flow_message_version":"3","flow_id":"1","flow_cta":"0123456789012345678901234567890"}}}}`, 131009, "flow_cta"},
		{"unknown key", pre + `{"flow_message_version":"3","flow_id":"1","flow_cta":"Book","flow_colour":"red"}}}}`, 100, "flow_colour"},
		{"FLOW button", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"book_table","language":{"code":"en"},"components":[{"type":"button","sub_type":"flow","index":"0","parameters":[{"type":"action","action":{"flow_token":"gtc:1:1"}}]}]}}`, 0, ""},
		{"FLOW button without action", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"book_table","language":{"code":"en"},"components":[{"type":"button","sub_type":"flow","index":"0","parameters":[{"type":"action"}]}]}}`, 131008, "action"},
		{"action on a quick reply", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"book_table","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"action","action":{"flow_token":"x"}}]}]}}`, 131009, "parameters[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := send(t, s, tt.body)
			if tt.code == 0 {
				if st != 200 {
					t.Fatalf("%d %s", st, b)
				}
				return
			}
			ge := decodeErr(t, b)
			if ge.Error.Code != tt.code || !strings.Contains(ge.Error.Message+ge.Error.ErrorData.Details, tt.path) {
				t.Fatalf("want %d naming %s: %s", tt.code, tt.path, b)
			}
		})
	}
}
