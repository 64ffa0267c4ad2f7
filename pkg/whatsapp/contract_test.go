package whatsapp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// Every kind of message the client builds must validate against Meta's
// #/components/schemas/Message, exactly as it goes over the wire.
func TestContractEveryKindValidatesAgainstMetaSchema(t *testing.T) {
	v := metaschema.Require(t)
	idx := "0"
	to := "+4915123456789"
	msgs := map[string]*whatsapp.Message{
		"text":     {To: to, Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi https://example.com", PreviewURL: true}},
		"reply":    {To: to, Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "re"}, Context: &whatsapp.Context{MessageID: "wamid.IN"}},
		"template": {To: to, Type: whatsapp.TypeTemplate, Template: &whatsapp.Template{Name: "hello_world", Language: whatsapp.Language{Code: "en"}}},
		"template+": {To: to, Type: whatsapp.TypeTemplate, Template: &whatsapp.Template{Name: "order", Language: whatsapp.Language{Code: "en_US"}, Components: []whatsapp.Component{
			{Type: "header", Parameters: []whatsapp.Parameter{{Type: "image", Image: &whatsapp.Media{Link: "https://example.com/a.png"}}}},
			{Type: "body", Parameters: []whatsapp.Parameter{{Type: "text", Text: "Ada"}, {Type: "text", Text: "A-1"}}},
			{Type: "button", SubType: "quick_reply", Index: &idx, Parameters: []whatsapp.Parameter{{Type: "payload", Payload: "track"}}}}}},
		"template named": {To: to, Type: whatsapp.TypeTemplate, Template: &whatsapp.Template{Name: "order", Language: whatsapp.Language{Code: "en"}, Components: []whatsapp.Component{
			{Type: "body", Parameters: []whatsapp.Parameter{{Type: "text", ParameterName: "first_name", Text: "Ada"}}}}}},
		"buttons": {To: to, Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "button", Body: &whatsapp.InteractiveText{Text: "Pick"},
			Footer: &whatsapp.InteractiveText{Text: "f"}, Action: whatsapp.Action{Buttons: []whatsapp.ReplyButton{
				{Type: "reply", Reply: whatsapp.Reply{ID: "yes", Title: "Yes"}}, {Type: "reply", Reply: whatsapp.Reply{ID: "no", Title: "No"}}}}}},
		"list": {To: to, Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "list",
			Header: &whatsapp.InteractiveHeader{Type: "text", Text: "Menu"}, Body: &whatsapp.InteractiveText{Text: "Choose"},
			Action: whatsapp.Action{Button: "Open", Sections: []whatsapp.Section{{Title: "S", Rows: []whatsapp.Row{{ID: "a", Title: "A", Description: "d"}}}}}}},
		"cta_url": {To: to, Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "cta_url", Body: &whatsapp.InteractiveText{Text: "See"},
			Action: whatsapp.Action{Name: "cta_url", Parameters: &whatsapp.CTAParameters{DisplayText: "Open", URL: "https://example.com"}}}},
		"image link":    {To: to, Type: whatsapp.TypeImage, Image: &whatsapp.Media{Link: "https://example.com/a.png", Caption: "c"}},
		"image id":      {To: to, Type: whatsapp.TypeImage, Image: &whatsapp.Media{ID: "1234"}},
		"video":         {To: to, Type: whatsapp.TypeVideo, Video: &whatsapp.Media{ID: "1234", Caption: "c"}},
		"audio":         {To: to, Type: whatsapp.TypeAudio, Audio: &whatsapp.Media{Link: "https://example.com/a.ogg"}},
		"document":      {To: to, Type: whatsapp.TypeDocument, Document: &whatsapp.Media{Link: "https://example.com/a.pdf", Filename: "a.pdf", Caption: "c"}},
		"sticker":       {To: to, Type: whatsapp.TypeSticker, Sticker: &whatsapp.Media{ID: "1234"}},
		"location":      {To: to, Type: whatsapp.TypeLocation, Location: &whatsapp.Location{Latitude: 52.52, Longitude: 13.405, Name: "Berlin", Address: "Mitte"}},
		"contacts":      {To: to, Type: whatsapp.TypeContacts, Contacts: []whatsapp.Contact{{Name: whatsapp.ContactName{FormattedName: "Ada L", FirstName: "Ada"}, Phones: []whatsapp.ContactPhone{{Phone: "+4915123456789", Type: "WORK"}}}}},
		"reaction":      {To: to, Type: whatsapp.TypeReaction, Reaction: &whatsapp.Reaction{MessageID: "wamid.IN", Emoji: "👍"}},
		"unreaction":    {To: to, Type: whatsapp.TypeReaction, Reaction: &whatsapp.Reaction{MessageID: "wamid.IN"}},
		"callback data": {To: to, Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}, BizOpaqueCallbackData: whatsapp.Callback{OutboundID: 42, Attempt: 1, Created: 1764489600123}.String()},
		"to a BSUID":    {To: "US.13491208655302741918", Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}},
		"flow navigate by id": {To: to, Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "flow",
			Header: &whatsapp.InteractiveHeader{Type: "text", Text: "Booking"}, Body: &whatsapp.InteractiveText{Text: "Book a table"},
			Footer: &whatsapp.InteractiveText{Text: "f"}, Action: whatsapp.Action{Flow: &whatsapp.FlowParameters{FlowID: "1234567890", FlowCTA: "Book!",
				FlowToken: "gtc:42:1", FlowAction: whatsapp.FlowActionNavigate,
				FlowActionPayload: &whatsapp.FlowActionPayload{Screen: "WELCOME", Data: map[string]any{"party": 2, "name": "Ada"}}}}}},
		"flow by name draft": {To: to, Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "flow",
			Body: &whatsapp.InteractiveText{Text: "Sign up"}, Action: whatsapp.Action{Name: "flow", Flow: &whatsapp.FlowParameters{
				FlowName: "signup", FlowCTA: "Sign up", Mode: "draft"}}}},
		"flow data_exchange": {To: to, Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "flow",
			Header: &whatsapp.InteractiveHeader{Type: "image", Image: &whatsapp.Media{Link: "https://example.com/a.png"}},
			Body:   &whatsapp.InteractiveText{Text: "Quote"}, Action: whatsapp.Action{Flow: &whatsapp.FlowParameters{
				FlowID: "1234567890", FlowCTA: "Get a quote", FlowToken: "t", FlowAction: whatsapp.FlowActionData}}}},
		"template FLOW button": {To: to, Type: whatsapp.TypeTemplate, Template: &whatsapp.Template{Name: "book", Language: whatsapp.Language{Code: "en_US"},
			Components: []whatsapp.Component{{Type: "button", SubType: "flow", Index: &idx, Parameters: []whatsapp.Parameter{{Type: "action",
				Action: &whatsapp.TemplateAction{FlowToken: "gtc:42:1", FlowActionData: map[string]any{"party": 2}}}}}}}},
		"flow to a BSUID with callback data": {To: "US.13491208655302741918", Type: whatsapp.TypeInteractive, BizOpaqueCallbackData: "gtc:42:2",
			Interactive: &whatsapp.Interactive{Type: "flow", Body: &whatsapp.InteractiveText{Text: "Book"},
				Action: whatsapp.Action{Flow: &whatsapp.FlowParameters{FlowID: "1", FlowCTA: "Book"}}}},
		"template to a parent BSUID": {Recipient: "US.ENT.11815799212886844830", Type: whatsapp.TypeTemplate,
			Template: &whatsapp.Template{Name: "hello_world", Language: whatsapp.Language{Code: "en"}}},
	}
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		io.WriteString(w, `{"messages":[{"id":"wamid.X"}]}`)
	}))
	defer srv.Close()
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: srv.URL, PhoneNumberID: "1", Token: "t"})
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			bodies = nil
			mu.Unlock()
			if _, err := c.Send(context.Background(), m); err != nil {
				t.Fatalf("send: %v", err)
			}
			mu.Lock()
			body := bodies[0]
			mu.Unlock()
			if err := v.ValidateMessage(body); err != nil {
				t.Fatalf("body does not match Meta's schema: %v\n%s", err, body)
			}
			var back whatsapp.Message
			if err := json.Unmarshal(body, &back); err != nil || back.Type != m.Type {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
}
