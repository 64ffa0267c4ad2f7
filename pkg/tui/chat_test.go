package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestParseAction(t *testing.T) {
	tests := []struct {
		line    string
		want    Action
		wantErr string
	}{
		{line: "hello there", want: Action{Kind: "text", Text: "hello there"}},
		{line: "  STOP ", want: Action{Kind: "text", Text: "STOP"}},
		{line: "/stop", want: Action{Kind: "text", Text: "STOP"}},
		{line: "/start", want: Action{Kind: "text", Text: "START"}},
		{line: "/press Get Help", want: Action{Kind: "press", Text: "Get Help"}},
		{line: "/wait 25h", want: Action{Kind: "wait", Wait: 25 * time.Hour}},
		{line: "/wait 2d", want: Action{Kind: "wait", Wait: 48 * time.Hour}},
		{line: "/flow follow_up", want: Action{Kind: "flow", Text: "follow_up"}},
		{line: "/quit", want: Action{Kind: "quit"}},
		{line: `/form {"email": "ada@example.com", "age": 36}`, want: Action{Kind: "form", Text: `{"email": "ada@example.com", "age": 36}`,
			Form: map[string]any{"email": "ada@example.com", "age": json.Number("36")}}},
		{line: "/form", wantErr: "/form needs the form's fields as a JSON object"},
		{line: "/form [1, 2]", wantErr: "/form needs a JSON object"},
		{line: "/form null", wantErr: "not a JSON object"},
		{line: `/form {"a": 1} {"b": 2}`, wantErr: "/form takes one JSON object"},
		{line: `/form {"a": `, wantErr: "/form needs a JSON object"},
		{line: "/press", wantErr: "/press needs a button or row title"},
		{line: "/flow", wantErr: "/flow needs a flow name"},
		{line: "/wait -1h", wantErr: "/wait needs a positive duration"},
		{line: "/wait", wantErr: "/wait needs a positive duration"},
		{line: "/dance", wantErr: "unknown command /dance"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := ParseAction(tt.line)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseScriptReportsEveryLine(t *testing.T) {
	acts, err := ParseScript("s.txt", []byte("# comment\nhi\n\n/press Yes\r\n/jump\n/wait x\n"))
	if acts != nil {
		t.Errorf("actions returned with errors: %v", acts)
	}
	if _, ok := problem.As(err); !ok {
		t.Fatalf("err %v is not a problem list", err)
	}
	msg := err.Error()
	for _, want := range []string{"s.txt:5:1: unknown command /jump", "s.txt:6:1: /wait needs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	acts, err = ParseScript("s.txt", []byte("hi\n/press Yes\n"))
	if err != nil || len(acts) != 2 || acts[1].Line != 2 {
		t.Fatalf("got %+v, %v", acts, err)
	}
}

func FuzzParseScript(f *testing.F) {
	for _, seed := range []string{"hi\n/press Get Help\n/stop\n/wait 25h\n/flow follow_up\n/quit", "/wait 2d", `/form {"a": [1, {"b": null}]}`, "/", "/press", "#x\r\n\r\n", "/wait 99999999999h"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		acts, err := ParseScript("fuzz.txt", data)
		if err != nil {
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error is not a problem list: %v", err)
			}
			return
		}
		for _, a := range acts {
			if a.Line < 1 || a.Kind == "" || (a.Kind == "wait" && a.Wait <= 0) {
				t.Fatalf("bad action %+v", a)
			}
		}
	})
}

// fakeChat answers like the seed greeting flow.
type fakeChat struct {
	waited time.Duration
	chosen []ChatChoice
	fail   error
}

var greetingButtons = whatsapp.Message{Type: "interactive", Interactive: &whatsapp.Interactive{Type: "button",
	Body: &whatsapp.InteractiveText{Text: "What would you like to do?"},
	Action: whatsapp.Action{Buttons: []whatsapp.ReplyButton{
		{Type: "reply", Reply: whatsapp.Reply{ID: "help", Title: "Get Help"}},
		{Type: "reply", Reply: whatsapp.Reply{ID: "status", Title: "Check Status"}}}}}}

var supportList = whatsapp.Message{Type: "interactive", Interactive: &whatsapp.Interactive{Type: "list",
	Body: &whatsapp.InteractiveText{Text: "Pick a topic"},
	Action: whatsapp.Action{Button: "Topics", Sections: []whatsapp.Section{{Rows: []whatsapp.Row{
		{ID: "billing", Title: "Billing", Description: "Invoices and payments"},
		{ID: "tech", Title: "Technical support"}}}}}}}

const longReply = "Our office is at Friedrichstraße 123, 10117 Berlin, open Monday to Friday from 9:00 to 18:00; bring your order number."

func (f *fakeChat) SendText(_ context.Context, text string) ([]ChatMessage, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	switch text {
	case "menu":
		return []ChatMessage{{ID: "wamid.5", Message: supportList}}, nil
	case "hello?":
		return []ChatMessage{{NoReply: "you opted out; /start opts in again"}}, nil
	case "silence":
		return nil, nil
	case "office":
		return []ChatMessage{{ID: "wamid.1", Message: whatsapp.Message{Type: "text", Text: &whatsapp.Text{Body: longReply}}}}, nil
	}
	return []ChatMessage{{ID: "wamid.1", Message: whatsapp.Message{Type: "text", Text: &whatsapp.Text{Body: "Hello!"}}},
		{ID: "wamid.2", Message: greetingButtons}}, nil
}

func (f *fakeChat) Choose(_ context.Context, c ChatChoice) ([]ChatMessage, error) {
	f.chosen = append(f.chosen, c)
	return []ChatMessage{{ID: "wamid.3", Message: whatsapp.Message{Type: "text", Text: &whatsapp.Text{Body: "You chose " + c.ID}}}}, nil
}

func (f *fakeChat) StartFlow(_ context.Context, name string) ([]ChatMessage, error) {
	if name == "nosuch" {
		return nil, errors.New(`no flow "nosuch" in the bundle: its flows are follow_up, greeting`)
	}
	return []ChatMessage{{ID: "wamid.4", Message: whatsapp.Message{Type: "template", Template: &whatsapp.Template{Name: name, Language: whatsapp.Language{Code: "en"}}}}}, nil
}
func (f *fakeChat) SubmitForm(_ context.Context, form map[string]any) ([]ChatMessage, error) {
	return []ChatMessage{{ID: "wamid.6", Message: whatsapp.Message{Type: "text", Text: &whatsapp.Text{Body: fmt.Sprintf("Welcome, %v!", form["name"])}}}}, nil
}
func (f *fakeChat) Advance(d time.Duration) { f.waited += d }
func (f *fakeChat) Status(id string) string {
	return map[string]string{"wamid.1": "read", "wamid.2": "delivered"}[id]
}
func (f *fakeChat) Customer() string { return "+4915123456789" }

// step feeds keys to the chat, running the backend commands synchronously.
func step(m tea.Model, keys ...tea.KeyMsg) tea.Model {
	for _, k := range keys {
		var cmd tea.Cmd
		m, cmd = m.Update(k)
		if cmd != nil {
			if msg, ok := cmd().(chatResultMsg); ok {
				m, _ = m.Update(msg)
			}
		}
	}
	return m
}

func typed(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func TestChatUpdateView(t *testing.T) {
	enter, down, up, left, right := press("enter"), press("down"), press("up"), press("left"), press("right")
	tests := []struct {
		name  string
		fail  error
		keys  []tea.KeyMsg
		want  []string
		check func(*testing.T, *fakeChat, *Chat)
	}{
		{name: "text shows replies, ticks and choices", keys: []tea.KeyMsg{typed("hi"), enter},
			want: []string{"you: hi", "bot: Hello! ✓✓ read", "bot: ✓✓", "[ Get Help ] [ Check Status ]", ">[Get Help]  [Check Status]", "←/→ choose a button"}},
		{name: "enter presses the first button", keys: []tea.KeyMsg{typed("hi"), enter, enter},
			want: []string{"you: [Get Help]", "bot: You chose help"}},
		{name: "right picks the next button and enter sends it", keys: []tea.KeyMsg{typed("hi"), enter, right, enter},
			want: []string{"you: [Check Status]", "bot: You chose status"},
			check: func(t *testing.T, f *fakeChat, _ *Chat) {
				if len(f.chosen) != 1 || f.chosen[0].Kind != "button" || f.chosen[0].ID != "status" {
					t.Errorf("chosen %+v", f.chosen)
				}
			}},
		{name: "right stops at the last button", keys: []tea.KeyMsg{typed("hi"), enter, right, right, right},
			want: []string{" [Get Help] >[Check Status]"}},
		{name: "left stops at the first button", keys: []tea.KeyMsg{typed("hi"), enter, left},
			want: []string{">[Get Help]  [Check Status]"}},
		{name: "up and down do not move in a row of buttons", keys: []tea.KeyMsg{typed("hi"), enter, down, up, down},
			want: []string{">[Get Help]  [Check Status]"}},
		{name: "typing hides the selection", keys: []tea.KeyMsg{typed("hi"), enter, typed("x")},
			want: []string{" [Get Help]  [Check Status]"}},
		{name: "list rows are a column picked with up and down", keys: []tea.KeyMsg{typed("menu"), enter, down, right},
			want: []string{"≡ Topics", " Billing — Invoices and payments", ">Technical support", "↑/↓ choose a row"}},
		{name: "a list row is pressed as a list reply", keys: []tea.KeyMsg{typed("menu"), enter, down, up, down, enter},
			check: func(t *testing.T, f *fakeChat, _ *Chat) {
				if len(f.chosen) != 1 || f.chosen[0].Kind != "list" || f.chosen[0].ID != "tech" {
					t.Errorf("chosen %+v", f.chosen)
				}
			}},
		{name: "the old picker goes with a reply that offers none", keys: []tea.KeyMsg{typed("hi"), enter, enter, enter},
			want: []string{"enter send • /quit or ctrl+c quit"},
			check: func(t *testing.T, f *fakeChat, c *Chat) {
				if len(f.chosen) != 1 || len(c.choices) != 0 {
					t.Errorf("chosen %+v, choices left %+v", f.chosen, c.choices)
				}
				if v := stripANSI(c.View()); strings.Contains(v, ">[Get Help]") || strings.Contains(v, "[Get Help]  [Check Status]") {
					t.Errorf("old picker still shown:\n%s", v)
				}
			}},
		{name: "no reply says why", keys: []tea.KeyMsg{typed("hello?"), enter},
			want: []string{"· (no reply: you opted out; /start opts in again)"}},
		{name: "no reply without a reason", keys: []tea.KeyMsg{typed("silence"), enter},
			want: []string{"· (no reply)"}},
		{name: "an unknown flow is not said to start", keys: []tea.KeyMsg{typed("/flow nosuch"), enter},
			want: []string{"✗ no flow \"nosuch\" in the bundle"},
			check: func(t *testing.T, _ *fakeChat, c *Chat) {
				if v := stripANSI(c.View()); strings.Contains(v, "started flow") {
					t.Errorf("claims the flow started:\n%s", v)
				}
			}},
		{name: "the state is said to be throwaway", want: []string{"· throwaway state: this chat's contacts and messages are deleted when it ends"}},
		{name: "press command", keys: []tea.KeyMsg{typed("hi"), enter, typed("/press Get Help"), enter},
			want: []string{"you: [Get Help]", "You chose help"}},
		{name: "press without choices", keys: []tea.KeyMsg{typed("/press Yes"), enter},
			want: []string{"✗ no button or list row to press \"Yes\""}},
		{name: "unknown command", keys: []tea.KeyMsg{typed("/dance"), enter}, want: []string{"✗ unknown command /dance"}},
		{name: "wait moves the clock", keys: []tea.KeyMsg{typed("/wait 25h"), enter}, want: []string{"· waited 25h0m0s"},
			check: func(t *testing.T, f *fakeChat, _ *Chat) {
				if f.waited != 25*time.Hour {
					t.Errorf("waited %v", f.waited)
				}
			}},
		{name: "flow template card", keys: []tea.KeyMsg{typed("/flow follow_up"), enter}, want: []string{"template follow_up (en)"}},
		{name: "backend error shown", fail: errors.New("the server answered the webhook with 401"), keys: []tea.KeyMsg{typed("hi"), enter},
			want: []string{"✗ the server answered the webhook with 401"}},
		{name: "quit", keys: []tea.KeyMsg{typed("/quit"), enter},
			check: func(t *testing.T, _ *fakeChat, c *Chat) {
				if !c.Quit {
					t.Error("not quit")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeChat{fail: tt.fail}
			if tt.keys == nil {
				tt.keys = []tea.KeyMsg{}
			}
			c := NewChat(context.Background(), PlainStyles(), DefaultKeyMap(), f)
			step(c, tt.keys...)
			v := stripANSI(c.View())
			for _, w := range tt.want {
				if !strings.Contains(v, w) {
					t.Errorf("view lacks %q:\n%s", w, v)
				}
			}
			if tt.check != nil {
				tt.check(t, f, c)
			}
		})
	}
}

func TestRunChatScript(t *testing.T) {
	acts, err := ParseScript("s", []byte("hi\n/press Get Help\n/wait 25h\n/flow follow_up\n/quit\nnever sent\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	f := &fakeChat{}
	if err := RunChatScript(context.Background(), f, acts, PlainStyles(), &out); err != nil {
		t.Fatal(err)
	}
	golden(t, "chat_script_transcript", out.String())
	if strings.Contains(out.String(), "never sent") {
		t.Error("actions after /quit ran")
	}
	acts, _ = ParseScript("s", []byte("hi\n/press Nope\n"))
	err = RunChatScript(context.Background(), f, acts, PlainStyles(), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "script line 2: no button or list row \"Nope\": choose one of Get Help, Check Status") {
		t.Errorf("err = %v", err)
	}
}

// TestChatTeatestButtonKeys: the bot's buttons arrive with the first selected, → selects the
// next and enter presses it; the picker goes when the reply offers none.
func TestChatTeatestButtonKeys(t *testing.T) {
	f := &fakeChat{}
	tm := teatest.NewTestModel(t, snapModel{NewChat(context.Background(), PlainStyles(), DefaultKeyMap(), f)},
		teatest.WithInitialTermSize(80, 24))
	tm.Type("hi")
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("[Check Status]")) },
		teatest.WithDuration(5*time.Second))
	tm.Send(press("right"))
	golden(t, "chat_button_keys", snapshot(t, tm))
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("You chose status")) },
		teatest.WithDuration(5*time.Second))
	tm.Send(press("ctrl+c"))
	final := finalScreen(t, tm).(*Chat)
	golden(t, "chat_button_pressed", final.View())
	if len(f.chosen) != 1 || f.chosen[0].ID != "status" {
		t.Errorf("chosen %+v", f.chosen)
	}
}

// TestChatTeatestWrap chats on a 30-column terminal: long text wraps with its tick kept, a
// card keeps its border (its buttons one a line), and no line is wider than the terminal.
func TestChatTeatestWrap(t *testing.T) {
	const width = 30
	tm := teatest.NewTestModel(t, snapModel{NewChat(context.Background(), PlainStyles(), DefaultKeyMap(), &fakeChat{})},
		teatest.WithInitialTermSize(width, 40))
	tm.Type("office")
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("number.")) },
		teatest.WithDuration(5*time.Second))
	tm.Type("hi")
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("[Check Status]")) },
		teatest.WithDuration(5*time.Second))
	v := snapshot(t, tm)
	golden(t, "chat_wrap", v)
	for i, l := range strings.Split(stripANSI(v), "\n") {
		if w := lipgloss.Width(l); w > width {
			t.Errorf("line %d is %d columns wide: %q", i+1, w, l)
		}
	}
	for _, want := range []string{"✓✓ read", "╰", "number."} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	tm.Send(press("ctrl+c"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func TestChatStateLine(t *testing.T) {
	tests := []struct {
		name      string
		keep      bool
		note      string
		want, not string
	}{
		{name: "throwaway by default", want: "· throwaway state:"},
		{name: "kept", keep: true, not: "throwaway"},
		{name: "the caller's note", keep: true, note: "state kept in my-bundle/state.db: gtc messages my-bundle reads it", want: "· state kept in my-bundle/state.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChat(context.Background(), PlainStyles(), DefaultKeyMap(), &fakeChat{})
			c.KeepState, c.StateNote = tt.keep, tt.note
			v := stripANSI(c.View())
			if tt.want != "" && !strings.Contains(v, tt.want) {
				t.Errorf("view lacks %q:\n%s", tt.want, v)
			}
			if tt.not != "" && strings.Contains(v, tt.not) {
				t.Errorf("view has %q:\n%s", tt.not, v)
			}
		})
	}
}

func TestRenderEntryTickAtTheEdge(t *testing.T) {
	e := entry{who: "bot", msg: ChatMessage{Message: whatsapp.Message{Type: "text", Text: &whatsapp.Text{Body: "abcdefghij klmnopqrst"}}}}
	got := stripANSI(renderEntry(PlainStyles(), e, "read", 22))
	want := "bot: abcdefghij\nklmnopqrst ✓✓ read"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = stripANSI(renderEntry(PlainStyles(), e, "read", 16))
	want = "bot: abcdefghij\nklmnopqrst\n     ✓✓ read"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// TestChatNewPickerStartsAtTheFirst: the same buttons offered again start at the first; a
// wait keeps the selection.
func TestChatNewPickerStartsAtTheFirst(t *testing.T) {
	c := NewChat(context.Background(), PlainStyles(), DefaultKeyMap(), &fakeChat{})
	step(c, typed("hi"), press("enter"), press("right"), typed("/wait 1h"), press("enter"))
	if c.cursor != 1 {
		t.Fatalf("a wait moved the selection to %d", c.cursor)
	}
	step(c, typed("hi"), press("enter"))
	if c.cursor != 0 {
		t.Errorf("the buttons offered again start at %d, want the first", c.cursor)
	}
}

func TestRenderEntryDrawsNoControlCharacters(t *testing.T) {
	e := entry{who: "bot", msg: ChatMessage{Message: whatsapp.Message{Type: "text", Text: &whatsapp.Text{Body: "hi\x1b[2J\x1b]0;pwned\x07\tthere\r"}}}}
	got := renderEntry(PlainStyles(), e, "", 40)
	if got != "bot: hi\uFFFD[2J\uFFFD]0;pwned\uFFFD there\uFFFD" {
		t.Errorf("got %q", got)
	}
}

// FuzzWrap checks wrap never draws a line wider than asked and keeps every word's text.
func FuzzWrap(f *testing.F) {
	for _, seed := range []string{"Here's how I can help: write \"menu\"", "  • indented row with a long description", "https://maps.example.com/a-very-long-path-without-spaces", "Friedrichstraße 東京都 😀 \n\n two", ""} {
		f.Add(seed, 20)
	}
	f.Fuzz(func(t *testing.T, s string, width int) {
		s = printable(s)
		if width > 200 {
			width = 200
		}
		got := wrap(s, width)
		if width <= 10 {
			if got != s {
				t.Fatalf("width %d changed the text", width)
			}
			return
		}
		for _, l := range strings.Split(got, "\n") {
			if w := ansi.StringWidth(l); w > width {
				t.Fatalf("line %q is %d wide, want at most %d", l, w, width)
			}
		}
		if strings.Join(strings.Fields(got), "") != strings.Join(strings.Fields(s), "") {
			t.Fatalf("text changed:\n%q\n%q", s, got)
		}
	})
}
