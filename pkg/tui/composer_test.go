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

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/greentic/gtc/pkg/whatsapp"
)

type fakeBackend struct {
	mu        sync.Mutex
	templates []Template
	listErr   error
	sendErr   error
	sendErrs  []error // the first sends' errors, in order, before sendErr applies
	sent      []*whatsapp.Message
}

func (f *fakeBackend) ListTemplates(context.Context) ([]Template, error) {
	return f.templates, f.listErr
}

func (f *fakeBackend) Send(_ context.Context, m *whatsapp.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	if len(f.sendErrs) > 0 {
		err := f.sendErrs[0]
		f.sendErrs = f.sendErrs[1:]
		return "", err
	}
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
			want: []string{"✗ not sent: window closed (131047)", "advice: window closed", "Edit the message and try again?", "y edit and retry • n quit"}},
		{name: "template list failure lets the user type a name", backend: &fakeBackend{listErr: errors.New("graph api: (#100) missing business_account_id")},
			keys: []string{"+4915123456789", "enter", "down", "enter"},
			want: []string{"template name", "Could not list templates: graph api: (#100) missing business_account_id"}},
		{name: "typed template with parameters",
			backend: &fakeBackend{listErr: errors.New("offline")},
			keys:    []string{"+4915123456789", "enter", "down", "enter", "hello_world", "enter", "ctrl+u", "en_US", "enter", "enter", "A; B", "enter", "y"},
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
			want: []string{"template  (step 3)", "> order_confirmation  en · utility · 2 parameters"}},
		{name: "the step counter has no total before the kind is chosen",
			keys: []string{"+4915123456789", "enter"},
			want: []string{"kind  (step 2)"}, not: []string{"of 2"}},
		{name: "a header value longer than a header",
			backend: &fakeBackend{templates: []Template{{Name: "hi", Language: "en", Category: "UTILITY", Params: ParamsFromText("header", "", "Hi {{1}}")}}},
			keys:    []string{"+4915123456789", "enter", "down", "enter", "enter", strings.Repeat("x", 61)},
			want:    []string{"header {{1}}  (4 of 4)", "✗ a header is at most 60 characters, the value alone is 61"}},
		{name: "typed template with a media header",
			backend: &fakeBackend{listErr: errors.New("offline")},
			keys:    []string{"+4915123456789", "enter", "down", "enter", "appointment_reminder", "enter", "enter", "image:https://example.com/a.jpg", "enter", "Ann; Mon", "enter", "y"},
			sent:    `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"template","template":{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://example.com/a.jpg"}}]},{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"Mon"}]}]}}`},
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

func TestTemplateFromInfo(t *testing.T) {
	tests := []struct {
		name string
		info string // JSON of a message_templates entry
		want string // labels with examples
	}{
		{name: "media header, body and quick replies",
			info: `{"name":"appointment_reminder","language":"en","components":[{"type":"HEADER","format":"IMAGE"},{"type":"BODY","text":"Reminder: {{1}}, your appointment is on {{2}}."},{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Confirm"},{"type":"QUICK_REPLY","text":"Reschedule"}]}]}`,
			want: "header image; body {{1}}; body {{2}}; button 0 payload; button 1 payload"},
		{name: "text header and examples",
			info: `{"name":"t","language":"en","components":[{"type":"HEADER","format":"TEXT","text":"Hi {{1}}","example":{"header_text":["Alice"]}},{"type":"BODY","text":"Order {{1}} for {{2}}","example":{"body_text":[["A-1","Bob"]]}}]}`,
			want: "header {{1}}=Alice; body {{1}}=A-1; body {{2}}=Bob"},
		{name: "url button and a phone button",
			info: `{"name":"t","language":"en","components":[{"type":"BODY","text":"Track it"},{"type":"BUTTONS","buttons":[{"type":"PHONE_NUMBER","text":"Call"},{"type":"URL","text":"Track","url":"https://x.example/t/{{1}}"}]}]}`,
			want: "button 1 {{1}}"},
		{name: "document header with an example link",
			info: `{"name":"t","language":"en","components":[{"type":"HEADER","format":"DOCUMENT","example":{"header_handle":["https://x.example/i.pdf"]}}]}`,
			want: "header document=https://x.example/i.pdf"},
		{name: "location header and static text take nothing",
			info: `{"name":"t","language":"en","components":[{"type":"HEADER","format":"LOCATION"},{"type":"BODY","text":"Come by"},{"type":"FOOTER","text":"{{1}} is not a parameter here"}]}`,
			want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ti whatsapp.TemplateInfo
			if err := json.Unmarshal([]byte(tt.info), &ti); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range TemplateFromInfo(ti).Params {
				l := p.Label()
				if p.Example != "" {
					l += "=" + p.Example
				}
				got = append(got, l)
			}
			if g := strings.Join(got, "; "); g != tt.want {
				t.Errorf("got %q, want %q", g, tt.want)
			}
		})
	}
}

// infoBackend lists the account's templates with TemplateFromInfo, every parameter included.
type infoBackend struct{ ClientBackend }

func (b infoBackend) ListTemplates(ctx context.Context) ([]Template, error) {
	infos, err := b.Client.ListTemplates(ctx)
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, ti := range infos {
		out = append(out, TemplateFromInfo(ti))
	}
	return out, nil
}

// TestComposerTeatestHeaderParams sends appointment_reminder (header:image body:1 body:2 and
// two quick-reply buttons) to graphfake, which answers 132012 when the header is missing: the
// composer asks for the header's image and the buttons' payloads.
func TestComposerTeatestHeaderParams(t *testing.T) {
	fake, client := newFakeClient(t)
	c := NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: infoBackend{ClientBackend{Client: client}},
		Normalize: whatsapp.NormalizeE164, Explain: ExplainSendError})
	tm := teatest.NewTestModel(t, snapModel{c}, teatest.WithInitialTermSize(80, 30))
	tm.Type("+4915123456789")
	tm.Send(press("enter"))
	tm.Send(press("down"))
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("appointment_reminder")) },
		teatest.WithDuration(10*time.Second))
	tm.Send(press("down"))
	tm.Send(press("enter"))
	golden(t, "composer_header_image", snapshot(t, tm))
	for _, v := range []string{"https://example.com/clinic.jpg", "Ann", "Monday 10:00", "CONFIRM_42", ""} {
		tm.Type(v)
		tm.Send(press("enter"))
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Send to ")) },
		teatest.WithDuration(10*time.Second))
	golden(t, "composer_header_preview", snapshot(t, tm))
	tm.Send(press("y"))
	final := finalScreen(t, tm).(*Composer)
	if final.SendErr != nil || !strings.HasPrefix(final.MessageID, "wamid.") {
		t.Fatalf("err=%v id=%q", final.SendErr, final.MessageID)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("graphfake got %d messages", len(msgs))
	}
	got, _ := json.Marshal(msgs[0].Template)
	want := `{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://example.com/clinic.jpg"}}]},{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"Monday 10:00"}]},{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"CONFIRM_42"}]}]}`
	if string(got) != want {
		t.Errorf("template sent\n%s\nwant\n%s", got, want)
	}
}

// TestComposerTeatestRetryAfterError fails the first send: the screen shows the error and its
// advice once and offers to edit; the edited message is sent on the second try.
func TestComposerTeatestRetryAfterError(t *testing.T) {
	b := &fakeBackend{sendErrs: []error{errors.New("(#131026) Message undeliverable")}}
	c := NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: b, Normalize: testNormalize,
		Explain: func(error) string {
			return "permanent: the number cannot receive this message; check it, then edit and retry"
		}})
	tm := teatest.NewTestModel(t, snapModel{c}, teatest.WithInitialTermSize(80, 30))
	tm.Type("+4915123456789")
	tm.Send(press("enter"))
	tm.Send(press("enter"))
	tm.Type("Hello there")
	tm.Send(press("enter"))
	tm.Send(press("y"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("try again?")) },
		teatest.WithDuration(5*time.Second))
	failed := snapshot(t, tm)
	golden(t, "composer_send_failed", failed)
	if n := strings.Count(failed, "Message undeliverable"); n != 1 {
		t.Errorf("the error shows %d times, want once:\n%s", n, failed)
	}
	tm.Send(press("y")) // edit: back to the text
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("text  (3 of 3)")) },
		teatest.WithDuration(5*time.Second))
	tm.Type("!")
	tm.Send(press("enter"))
	tm.Send(press("y"))
	final := finalScreen(t, tm).(*Composer)
	golden(t, "composer_retry_sent", final.View())
	if final.SendErr != nil || final.MessageID != "wamid.TEST1" || len(b.sent) != 2 || b.sent[1].Text.Body != "Hello there!" {
		t.Fatalf("err=%v id=%q sent=%d", final.SendErr, final.MessageID, len(b.sent))
	}
}

// TestComposerQuitAfterError: n at the retry question quits with the error on the screen
// once and in SendErr (the CLI exits 1 without printing it again); nothing is cancelled.
func TestComposerQuitAfterError(t *testing.T) {
	for _, k := range []string{"n", "ctrl+c"} {
		t.Run(k, func(t *testing.T) {
			b := &fakeBackend{sendErr: errors.New("(#131026) Message undeliverable")}
			c := drive(newTestComposer(b), "+4915123456789", "enter", "enter", "Hi", "enter", "y", k)
			v := stripANSI(c.View())
			if c.Cancelled || c.SendErr == nil || c.stage != stageResult || len(b.sent) != 1 {
				t.Fatalf("cancelled=%v err=%v stage=%v sent=%d", c.Cancelled, c.SendErr, c.stage, len(b.sent))
			}
			if strings.Count(v, "✗ not sent") != 1 || strings.Contains(v, "try again?") {
				t.Errorf("final view:\n%s", v)
			}
		})
	}
}

// TestComposerTeatestWrap composes a long text on a 44-column terminal: the help, the preview
// card (border included) and the send question all fit.
func TestComposerTeatestWrap(t *testing.T) {
	b := &fakeBackend{}
	tm := teatest.NewTestModel(t, snapModel{newTestComposer(b)}, teatest.WithInitialTermSize(44, 30))
	tm.Type("+4915123456789")
	tm.Send(press("enter"))
	tm.Send(press("enter"))
	tm.Type("Your appointment at the clinic is confirmed for Monday at 10:00. Directions: https://maps.example.com/clinic/berlin-mitte-very-long-path")
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Send to")) },
		teatest.WithDuration(5*time.Second))
	v := snapshot(t, tm)
	golden(t, "composer_wrap_preview", v)
	for i, l := range strings.Split(stripANSI(v), "\n") {
		if w := lipgloss.Width(l); w > 44 {
			t.Errorf("line %d is %d columns wide: %q", i+1, w, l)
		}
	}
	if !strings.Contains(v, "╰") || !strings.Contains(v, "path") {
		t.Errorf("the card lost its border or its end:\n%s", v)
	}
	tm.Send(press("ctrl+c"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestComposerCheckRecipient refuses an opted-out number when it is entered (enter), not while
// typing and not after composing.
func TestComposerCheckRecipient(t *testing.T) {
	var checked []string
	c := NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: &fakeBackend{}, Normalize: testNormalize,
		CheckRecipient: func(to string) error {
			checked = append(checked, to)
			if to == "+4915100000000" {
				return errors.New("+4915100000000 opted out (sent STOP): gtc send refuses to message them")
			}
			return nil
		}})
	drive(c, "+49 151 00000000")
	if len(checked) != 0 {
		t.Fatalf("checked while typing: %v", checked)
	}
	drive(c, "enter")
	v := stripANSI(c.View())
	if !strings.Contains(v, "✗ +4915100000000 opted out") || !strings.Contains(v, "recipient  (1 of 2)") && !strings.Contains(v, "recipient  (step 1)") {
		t.Errorf("view:\n%s", v)
	}
	drive(c, "ctrl+u", "+4915123456789", "enter")
	if v := stripANSI(c.View()); !strings.Contains(v, "kind  (step 2)") {
		t.Errorf("a number that may be messaged was refused:\n%s", v)
	}
	if strings.Join(checked, ",") != "+4915100000000,+4915123456789" {
		t.Errorf("checked %v", checked)
	}
}

func TestComposerURLButtonParameterIsEncoded(t *testing.T) {
	track := Template{Name: "track", Language: "en", Category: "UTILITY",
		Params: []TemplateParam{{Component: "button", ButtonIndex: "0", ButtonType: "url", ButtonText: "Track", Index: 1}}}
	for _, tt := range []struct{ typed, sent, warn string }{
		{typed: "A 1/2", sent: "A%201%2F2", warn: "! sent percent-encoded, as A%201%2F2"},
		{typed: "A%201", sent: "A%201"},
		{typed: "A-1042", sent: "A-1042"},
	} {
		t.Run(tt.typed, func(t *testing.T) {
			b := &fakeBackend{templates: []Template{track}}
			c := drive(newTestComposer(b), "+4915123456789", "enter", "down", "enter", "enter", tt.typed)
			if v := stripANSI(c.View()); tt.warn != "" && !strings.Contains(v, tt.warn) {
				t.Errorf("view lacks %q:\n%s", tt.warn, v)
			}
			drive(c, "enter", "y")
			if len(b.sent) != 1 {
				t.Fatalf("sent %d", len(b.sent))
			}
			got, _ := json.Marshal(b.sent[0].Template.Components)
			want := `[{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"` + tt.sent + `"}]}]`
			if string(got) != want {
				t.Errorf("components\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestComposerNarrowChoices keeps each choice on one line on a narrow terminal, so none is
// pushed out of the list.
func TestComposerNarrowChoices(t *testing.T) {
	b := &fakeBackend{templates: []Template{orderTemplate, {Name: "appointment_reminder_with_a_long_name", Language: "en_US", Category: "MARKETING"}}}
	c := newTestComposer(b)
	c.Update(tea.WindowSizeMsg{Width: 36, Height: 30})
	drive(c, "+4915123456789", "enter", "down", "enter")
	v := stripANSI(c.View())
	for _, want := range []string{"> order_confirmation  en · utili…", "  appointment_reminder_with_a_lo…"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	for i, l := range strings.Split(v, "\n") {
		if w := lipgloss.Width(l); w > 36 {
			t.Errorf("line %d is %d columns wide: %q", i+1, w, l)
		}
	}
}
