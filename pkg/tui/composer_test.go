package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/greentic/gtc/pkg/whatsapp"
)

type fakeBackend struct {
	mu        sync.Mutex
	templates []Template
	listErr   error
	sendErr   error
	sent      []*whatsapp.Message
}

func (f *fakeBackend) ListTemplates(context.Context) ([]Template, error) {
	return f.templates, f.listErr
}

func (f *fakeBackend) Send(_ context.Context, m *whatsapp.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	if f.sendErr != nil {
		return "", f.sendErr
	}
	return "wamid.TEST1", nil
}

var e164RE = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

func testNormalize(s string) (string, error) {
	s = strings.ReplaceAll(s, " ", "")
	if !e164RE.MatchString(s) {
		return "", errors.New("not an E.164 number: write it like +4915123456789")
	}
	return s, nil
}

var orderTemplate = Template{Name: "order_confirmation", Language: "en", Category: "UTILITY",
	Params: ParamsFromText("body", "", "Order {{1}} for {{2}} is confirmed.")}

func newTestComposer(b *fakeBackend) *Composer {
	return NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: b, Normalize: testNormalize,
		Explain: func(err error) string { return "advice: " + err.Error() }})
}

// drive sends keys to c and, like the program would, fetches the templates or sends the
// message when a key started that. (Other commands, the huh fields' focus and cursor blink,
// are not needed: a form moves on within the Update of its key.)
func drive(c *Composer, keys ...string) *Composer {
	for _, k := range keys {
		if isKeyName(k) || len([]rune(k)) == 1 {
			c.Update(press(k))
		} else {
			typeInto(c, k)
		}
		switch c.stage {
		case stageLoading:
			c.Update(c.loadTemplates())
		case stageSending:
			c.Update(c.send())
		}
	}
	return c
}

func TestParamsFromText(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Order {{1}} for {{2}}, again {{1}}", []string{"body {{1}}", "body {{2}}"}},
		{"Hi {{ name }}", []string{"body {{name}}"}},
		{"no placeholders", nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var got []string
			for _, p := range ParamsFromText("body", "", tt.text) {
				got = append(got, p.Label())
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestComposerUpdateView(t *testing.T) {
	tests := []struct {
		name    string
		backend *fakeBackend
		keys    []string
		want    []string
		not     []string
		sent    string // JSON of the one message sent, "" for none
	}{
		{name: "recipient must be E.164", keys: []string{"0151"}, want: []string{"✗ not an E.164 number"}},
		{name: "kinds offered", keys: []string{"+4915123456789", "enter"},
			want: []string{"> text", "template", "buttons", "list", "image", "document", "audio", "video", "location"}},
		{name: "text preview then send",
			keys: []string{"+4915123456789", "enter", "enter", "Hello there", "enter"},
			want: []string{"Preview", "Hello there", "Send to +4915123456789?"}},
		{name: "text sent shows message id",
			keys: []string{"+4915123456789", "enter", "enter", "Hello there", "enter", "y"},
			want: []string{"✓ sent, message id wamid.TEST1"},
			sent: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"text","text":{"body":"Hello there"}}`},
		{name: "send error shows classified advice", backend: &fakeBackend{sendErr: errors.New("window closed (131047)")},
			keys: []string{"+4915123456789", "enter", "enter", "Hi", "enter", "y"},
			want: []string{"✗ send failed: window closed (131047)", "advice: window closed"}},
		{name: "template list failure lets the user type a name", backend: &fakeBackend{listErr: errors.New("graph api: (#100) missing business_account_id")},
			keys: []string{"+4915123456789", "enter", "down", "enter"},
			want: []string{"template name", "Could not list templates: graph api: (#100) missing business_account_id"}},
		{name: "typed template with parameters",
			backend: &fakeBackend{listErr: errors.New("offline")},
			keys:    []string{"+4915123456789", "enter", "down", "enter", "hello_world", "enter", "ctrl+u", "en_US", "enter", "A; B", "enter", "y"},
			sent:    `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"template","template":{"name":"hello_world","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"A"},{"type":"text","text":"B"}]}]}}`},
		{name: "buttons",
			keys: []string{"+4915123456789", "enter", "down", "down", "enter", "Pick one", "enter", "Yes", "enter", "No", "enter", "enter", "y"},
			sent: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"interactive","interactive":{"type":"button","body":{"text":"Pick one"},"action":{"buttons":[{"type":"reply","reply":{"id":"button_1","title":"Yes"}},{"type":"reply","reply":{"id":"button_2","title":"No"}}]}}}`},
		{name: "button title too long",
			keys: []string{"+4915123456789", "enter", "down", "down", "enter", "Pick one", "enter", "This title is far too long"},
			want: []string{"✗ the first button is 26 characters, at most 20 are allowed"}},
		{name: "location",
			keys: []string{"+4915123456789", "enter", "up", "enter", "52.52", "enter", "13.405", "enter", "Office", "enter", "enter", "y"},
			sent: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"location","location":{"latitude":52.52,"longitude":13.405,"name":"Office"}}`},
		{name: "bad latitude", keys: []string{"+4915123456789", "enter", "up", "enter", "95"},
			want: []string{"✗ latitude must be a number between -90 and 90"}},
		{name: "document",
			keys: []string{"+4915123456789", "enter", "down", "down", "down", "down", "down", "enter", "https://example.com/i.pdf", "enter", "Your invoice", "enter", "invoice.pdf", "enter", "y"},
			sent: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"document","document":{"link":"https://example.com/i.pdf","caption":"Your invoice","filename":"invoice.pdf"}}`},
		{name: "ctrl+c cancels without sending", keys: []string{"+4915123456789", "enter", "ctrl+c"}},
		{name: "n at the preview edits the last answer",
			keys: []string{"+4915123456789", "enter", "enter", "Hello there", "enter", "n"},
			want: []string{"text  (3 of 3)", "> Hello there"}, not: []string{"Preview"}},
		{name: "esc at the preview edits the last answer",
			keys: []string{"+4915123456789", "enter", "enter", "Hello there", "enter", "esc"},
			want: []string{"text  (3 of 3)", "> Hello there"}, not: []string{"Preview"}},
		{name: "edited text is sent",
			keys: []string{"+4915123456789", "enter", "enter", "Hello there", "enter", "n", "!", "enter", "enter"},
			sent: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"text","text":{"body":"Hello there!"}}`},
		{name: "the template list is a pick of the approved templates",
			keys: []string{"+4915123456789", "enter", "down", "enter"},
			want: []string{"template  (3 of 3)", "> order_confirmation  en · utility · 2 parameters"}},
		{name: "a template parameter is required",
			keys: []string{"+4915123456789", "enter", "down", "enter", "enter", "enter"},
			want: []string{"body {{1}}  (4 of 5)", "✗ a value for body {{1}} is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.backend
			if b == nil {
				b = &fakeBackend{templates: []Template{orderTemplate}}
			}
			c := drive(newTestComposer(b), tt.keys...)
			v := stripANSI(c.View())
			for _, w := range tt.want {
				if !strings.Contains(v, w) {
					t.Errorf("view lacks %q:\n%s", w, v)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(v, n) {
					t.Errorf("view has %q:\n%s", n, v)
				}
			}
			if tt.sent != "" {
				if len(b.sent) != 1 {
					t.Fatalf("sent %d messages, want 1; view:\n%s", len(b.sent), v)
				}
				got, _ := json.Marshal(b.sent[0])
				if string(got) != tt.sent {
					t.Errorf("sent\n%s\nwant\n%s", got, tt.sent)
				}
			}
			if tt.keys[len(tt.keys)-1] == "ctrl+c" && (!c.Cancelled || len(b.sent) != 0) {
				t.Errorf("cancelled=%v sent=%d", c.Cancelled, len(b.sent))
			}
		})
	}
}

// TestComposerTeatestTemplate sends a template with two parameters through the composer
// running as a program with a fixed terminal size.
func TestComposerTeatestTemplate(t *testing.T) {
	b := &fakeBackend{templates: []Template{
		{Name: "hello_world", Language: "en_US", Category: "UTILITY"},
		orderTemplate,
	}}
	tm := teatest.NewTestModel(t, snapModel{newTestComposer(b)}, teatest.WithInitialTermSize(80, 30))
	tm.Type("+4915123456789")
	tm.Send(press("enter"))
	tm.Send(press("down"))
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("order_confirmation")) },
		teatest.WithDuration(5*time.Second))
	tm.Send(press("down"))
	tm.Send(press("enter"))
	tm.Type("A-1042")
	tm.Send(press("enter"))
	tm.Type("Alice")
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Send to +4915123456789?")) },
		teatest.WithDuration(5*time.Second))
	golden(t, "composer_template_preview", snapshot(t, tm))
	tm.Send(press("y"))
	final := finalScreen(t, tm).(*Composer)
	golden(t, "composer_template_sent", final.View())
	if !final.Sent || final.SendErr != nil || final.MessageID != "wamid.TEST1" {
		t.Fatalf("sent=%v err=%v id=%q", final.Sent, final.SendErr, final.MessageID)
	}
	got, _ := json.Marshal(b.sent[0])
	want := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"template","template":{"name":"order_confirmation","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"A-1042"},{"type":"text","text":"Alice"}]}]}}`
	if string(got) != want {
		t.Errorf("sent\n%s\nwant\n%s", got, want)
	}
}

// TestComposerRefusedMessage checks a message the Check refuses gets no send question: the
// preview shows why, y does nothing, n goes back to edit.
func TestComposerRefusedMessage(t *testing.T) {
	b := &fakeBackend{}
	c := NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: b, Normalize: testNormalize,
		Check: func(*whatsapp.Message) error { return errors.New("the 24-hour window is closed: send a template") }})
	drive(c, "+4915123456789", "enter", "enter", "Hi", "enter", "y")
	v := stripANSI(c.View())
	for _, want := range []string{"Preview", "✗ the 24-hour window is closed", "n edit"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "Send to") || len(b.sent) != 0 {
		t.Fatalf("a refused message can be sent (sent %d):\n%s", len(b.sent), v)
	}
	drive(c, "n")
	if v := stripANSI(c.View()); !strings.Contains(v, "text  (3 of 3)") {
		t.Errorf("n did not go back to the text:\n%s", v)
	}
}
