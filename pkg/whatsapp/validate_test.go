package whatsapp

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	idx := "0"
	buttons := func(titles ...string) *Interactive {
		in := &Interactive{Type: "button", Body: &InteractiveText{Text: "Pick"}}
		for i, ti := range titles {
			in.Action.Buttons = append(in.Action.Buttons, ReplyButton{Type: "reply", Reply: Reply{ID: "b" + string(rune('0'+i)), Title: ti}})
		}
		return in
	}
	rows := func(n int) []Row {
		var r []Row
		for i := 0; i < n; i++ {
			r = append(r, Row{ID: "r" + string(rune('a'+i)), Title: "Row"})
		}
		return r
	}
	tests := []struct {
		name string
		m    Message
		want string // "" = valid; else a substring of the error
	}{
		{"text", Message{To: "+491", Type: TypeText, Text: &Text{Body: "hi"}}, ""},
		{"text too long", Message{To: "+491", Type: TypeText, Text: &Text{Body: long(4097)}}, "text.body: is 4097 characters, the limit is 4096"},
		{"text empty", Message{To: "+491", Type: TypeText, Text: &Text{}}, "text.body: is required"},
		{"no to", Message{Type: TypeText, Text: &Text{Body: "hi"}}, "to: is required"},
		{"no type", Message{To: "+491"}, "type: is required"},
		{"unknown type", Message{To: "+491", Type: "fax"}, `unknown message type "fax"`},
		{"two kinds", Message{To: "+491", Type: TypeText, Text: &Text{Body: "a"}, Location: &Location{}}, "exactly one kind"},
		{"template", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"}}}, ""},
		{"template no lang", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t"}}, "template.language.code: is required"},
		{"template button without index", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"},
			Components: []Component{{Type: "button", SubType: "quick_reply"}}}}, "template.components[0].index: is required"},
		{"template button ok", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"},
			Components: []Component{{Type: "button", SubType: "quick_reply", Index: &idx, Parameters: []Parameter{{Type: "payload", Payload: "p"}}}}}}, ""},
		{"template bad param", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"},
			Components: []Component{{Type: "body", Parameters: []Parameter{{Type: "text"}}}}}}, "template.components[0].parameters[0].text: is required"},
		{"url button encoded", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"},
			Components: []Component{{Type: "button", SubType: "url", Index: &idx, Parameters: []Parameter{{Type: "text", Text: "order%2F1?x=1"}}}}}}, ""},
		{"url button not encoded", Message{To: "+491", Type: TypeTemplate, Template: &Template{Name: "t", Language: Language{Code: "en"},
			Components: []Component{{Type: "button", SubType: "url", Index: &idx, Parameters: []Parameter{{Type: "text", Text: "a b"}}}}}}, `percent-encode it (e.g. "a%20b")`},
		{"buttons", Message{To: "+491", Type: TypeInteractive, Interactive: buttons("Yes", "No")}, ""},
		{"four buttons", Message{To: "+491", Type: TypeInteractive, Interactive: buttons("a", "b", "c", "d")}, "has 4 buttons, the limit is 3"},
		{"button title long", Message{To: "+491", Type: TypeInteractive, Interactive: buttons(long(21))}, "buttons[0].reply.title: is 21 characters, the limit is 20"},
		{"button titles unique", Message{To: "+491", Type: TypeInteractive, Interactive: buttons("Yes", "Yes")}, "titles must be unique"},
		{"list", Message{To: "+491", Type: TypeInteractive, Interactive: &Interactive{Type: "list", Body: &InteractiveText{Text: "b"},
			Action: Action{Button: "Menu", Sections: []Section{{Title: "S", Rows: rows(10)}}}}}, ""},
		{"list 11 rows", Message{To: "+491", Type: TypeInteractive, Interactive: &Interactive{Type: "list", Body: &InteractiveText{Text: "b"},
			Action: Action{Button: "Menu", Sections: []Section{{Title: "S", Rows: rows(6)}, {Title: "T", Rows: rows(5)}}}}}, "has 11 rows, the limit is 10"},
		{"list no button", Message{To: "+491", Type: TypeInteractive, Interactive: &Interactive{Type: "list", Body: &InteractiveText{Text: "b"},
			Action: Action{Sections: []Section{{Rows: rows(1)}}}}}, "interactive.action.button: is required"},
		{"cta", Message{To: "+491", Type: TypeInteractive, Interactive: &Interactive{Type: "cta_url", Body: &InteractiveText{Text: "b"},
			Action: Action{Name: "cta_url", Parameters: &CTAParameters{DisplayText: "Open", URL: "https://x.example"}}}}, ""},
		{"cta bad url", Message{To: "+491", Type: TypeInteractive, Interactive: &Interactive{Type: "cta_url", Body: &InteractiveText{Text: "b"},
			Action: Action{Name: "cta_url", Parameters: &CTAParameters{DisplayText: "Open", URL: "ftp:x"}}}}, "is not an http(s) URL"},
		{"image link", Message{To: "+491", Type: TypeImage, Image: &Media{Link: "https://x/p.png", Caption: "c"}}, ""},
		{"image id and link", Message{To: "+491", Type: TypeImage, Image: &Media{ID: "1", Link: "https://x/p.png"}}, "has both id and link"},
		{"image nothing", Message{To: "+491", Type: TypeImage, Image: &Media{}}, "needs an id"},
		{"audio caption", Message{To: "+491", Type: TypeAudio, Audio: &Media{ID: "1", Caption: "c"}}, "audio.caption: is only allowed"},
		{"image filename", Message{To: "+491", Type: TypeImage, Image: &Media{ID: "1", Filename: "f"}}, "image.filename: is only allowed on document"},
		{"document", Message{To: "+491", Type: TypeDocument, Document: &Media{ID: "1", Filename: "f.pdf", Caption: "c"}}, ""},
		{"caption long", Message{To: "+491", Type: TypeVideo, Video: &Media{ID: "1", Caption: long(1025)}}, "the limit is 1024"},
		{"location", Message{To: "+491", Type: TypeLocation, Location: &Location{Latitude: 52.5, Longitude: 13.4}}, ""},
		{"location range", Message{To: "+491", Type: TypeLocation, Location: &Location{Latitude: 91}}, "location.latitude: 91 is out of range"},
		{"contacts", Message{To: "+491", Type: TypeContacts, Contacts: []Contact{{Name: ContactName{FormattedName: "Ada"}}}}, ""},
		{"contacts no name", Message{To: "+491", Type: TypeContacts, Contacts: []Contact{{}}}, "contacts[0].name.formatted_name: is required"},
		{"reaction", Message{To: "+491", Type: TypeReaction, Reaction: &Reaction{MessageID: "wamid.1", Emoji: "👍"}}, ""},
		{"reaction no id", Message{To: "+491", Type: TypeReaction, Reaction: &Reaction{}}, "reaction.message_id: is required"},
		{"context empty", Message{To: "+491", Type: TypeText, Text: &Text{Body: "a"}, Context: &Context{}}, "context.message_id: is required"},
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
