package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// inboxNow is the fake clock of every inbox test: 10:00 UTC.
var inboxNow = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func at(hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(inboxNow.Year(), inboxNow.Month(), inboxNow.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
}

const (
	alice = "+4915123456789" // window open, unread, history of every kind
	bob   = "+4915187654321" // window closed
	carol = "+447700900123"  // opted out
)

const aliceLong = "It has been three days and the tracking page still says the parcel is in Leipzig; could you please check with the courier and tell me when it will arrive? Thanks!"

// fakeInbox is an in-memory InboxBackend.
type fakeInbox struct {
	mu        sync.Mutex
	convs     []InboxConversation
	history   map[string][]InboxMessage
	templates []Template
	listErr   error
	replies   []string // contact: JSON of the reply's message
	notes     []string
	released  []string // contact@node
	read      []string
	histCalls []string // contact before limit
	seq       int
}

func (f *fakeInbox) List(_ context.Context, flt InboxFilter) ([]InboxConversation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []InboxConversation
	for _, c := range f.convs {
		if flt.Queue == "" || c.Queue == flt.Queue {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeInbox) History(_ context.Context, contact, before string, limit int) ([]InboxMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.histCalls = append(f.histCalls, fmt.Sprintf("%s %q %d", contact, before, limit))
	h := f.history[contact]
	end := len(h)
	if before != "" {
		for i, x := range h {
			if x.Cursor == before {
				end = i
			}
		}
	}
	start := max(end-limit, 0)
	return append([]InboxMessage(nil), h[start:end]...), nil
}

func (f *fakeInbox) MarkRead(_ context.Context, contact string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = append(f.read, contact)
	for i := range f.convs {
		if f.convs[i].Contact == contact {
			f.convs[i].Unread = 0
		}
	}
	return nil
}

func (f *fakeInbox) conv(contact string) InboxConversation {
	for _, c := range f.convs {
		if c.Contact == contact {
			return c
		}
	}
	return InboxConversation{}
}

func (f *fakeInbox) add(contact string, x InboxMessage) {
	f.seq++
	x.ID, x.Cursor, x.At = "m"+strconv.Itoa(100+f.seq), "c"+strconv.Itoa(100+f.seq), inboxNow
	if f.history == nil {
		f.history = map[string][]InboxMessage{}
	}
	f.history[contact] = append(f.history[contact], x)
}

func (f *fakeInbox) Reply(_ context.Context, contact string, r InboxReply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conv(contact)
	if c.OptedOut {
		return fmt.Errorf("reply: %w", &InboxRefusal{Code: RefusedOptedOut, Reason: contact + " opted out (sent STOP): gtc does not message them until they send START"})
	}
	if r.Template == nil && !c.windowOpen(inboxNow) {
		return &InboxRefusal{Code: RefusedWindowClosed, Reason: "the 24-hour window with " + contact + " is closed"}
	}
	m := r.Message(contact)
	raw, _ := json.Marshal(m)
	f.replies = append(f.replies, contact+": "+string(raw))
	f.add(contact, InboxMessage{Dir: InboxOut, By: "ann", Out: m, Status: "queued"})
	return nil
}

func (f *fakeInbox) Templates(context.Context) ([]Template, error) { return f.templates, nil }

func (f *fakeInbox) Note(_ context.Context, contact, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, contact+": "+text)
	f.add(contact, InboxMessage{Dir: InboxNote, By: "ann", Text: text})
	return nil
}

func (f *fakeInbox) Release(_ context.Context, contact, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, contact+"@"+node)
	var keep []InboxConversation
	for _, c := range f.convs {
		if c.Contact != contact {
			keep = append(keep, c)
		}
	}
	f.convs = keep
	return nil
}

func (f *fakeInbox) Nodes() []string { return []string{"after_human", "main_menu"} }

// orderUpdate has header, body and URL-button parameters.
func orderUpdate(t *testing.T) Template {
	var ti whatsapp.TemplateInfo
	info := `{"name":"order_update","language":"en","category":"UTILITY","components":[` +
		`{"type":"HEADER","format":"TEXT","text":"Order {{1}}","example":{"header_text":["A-1042"]}},` +
		`{"type":"BODY","text":"Hi {{1}}, your order is {{2}}.","example":{"body_text":[["Alice","on its way"]]}},` +
		`{"type":"BUTTONS","buttons":[{"type":"URL","text":"Track","url":"https://shop.example/t/{{1}}"}]}]}`
	if err := json.Unmarshal([]byte(info), &ti); err != nil {
		t.Fatal(err)
	}
	return TemplateFromInfo(ti)
}

func newFakeInbox(t *testing.T) *fakeInbox {
	out := func(id, hhmm, by, status string, m whatsapp.Message) InboxMessage {
		return InboxMessage{ID: id, Cursor: "c" + id, At: at(hhmm), Dir: InboxOut, By: by, Out: &m, Status: status}
	}
	in := func(id, hhmm string, m whatsapp.InboundMessage) InboxMessage {
		return InboxMessage{ID: id, Cursor: "c" + id, At: at(hhmm), Dir: InboxIn, In: &m}
	}
	text := func(s string) whatsapp.Message {
		return whatsapp.Message{Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: s}}
	}
	buttons := whatsapp.Message{Type: whatsapp.TypeInteractive, Interactive: &whatsapp.Interactive{Type: "button",
		Body: &whatsapp.InteractiveText{Text: "How can we help?"},
		Action: whatsapp.Action{Buttons: []whatsapp.ReplyButton{
			{Type: "reply", Reply: whatsapp.Reply{ID: "status", Title: "Check Status"}},
			{Type: "reply", Reply: whatsapp.Reply{ID: "human", Title: "Talk to Human"}}}}}}
	failed := out("a9", "09:52", "ann", "failed", text("Checking with the courier now."))
	failed.Failure = &InboxFailure{Class: whatsapp.ClassSpamLimit, Code: 131048, Title: "Spam rate limit hit"}
	return &fakeInbox{
		convs: []InboxConversation{
			{Contact: alice, Name: "Alice Example", Queue: "support", Note: "Order A-1042: shipped", Since: at("09:48"), Unread: 2, WindowClosesAt: at("09:48").Add(24 * time.Hour)},
			{Contact: bob, Name: "Bob", Queue: "billing", Since: inboxNow.Add(-26 * time.Hour), WindowClosesAt: inboxNow.Add(-2*time.Hour - 5*time.Minute)},
			{Contact: carol, Queue: "support", Since: at("09:20"), Unread: 1, WindowClosesAt: at("09:20").Add(24 * time.Hour), OptedOut: true},
		},
		history: map[string][]InboxMessage{
			alice: {
				in("a1", "09:40", whatsapp.InboundMessage{Type: "text", Text: "Hi, where is my order A-1042?"}),
				out("a2", "09:40", "bot", "read", buttons),
				in("a3", "09:41", whatsapp.InboundMessage{Type: "interactive", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "human", Title: "Talk to Human"}}),
				out("a4", "09:41", "bot", "delivered", text("A member of our team will reply here shortly.")),
				in("a5", "09:45", whatsapp.InboundMessage{Type: "image", Media: &whatsapp.InboundMedia{Type: "image", ID: "1234567890", Caption: "the box arrived damaged"}}),
				in("a6", "09:48", whatsapp.InboundMessage{Type: "text", Text: aliceLong}),
				{ID: "a7", Cursor: "ca7", At: at("09:50"), Dir: InboxNote, By: "ann", Text: "Courier ticket opened: DHL-55"},
				failed,
			},
			bob:   {in("b1", "08:00", whatsapp.InboundMessage{Type: "text", Text: "Why was I charged twice?"})},
			carol: {in("c1", "09:20", whatsapp.InboundMessage{Type: "text", Text: "STOP"})},
		},
		templates: []Template{orderUpdate(t)},
	}
}

// newTestInbox is an inbox on the fake clock, 80×60, that never refreshes by itself.
func newTestInbox(f *fakeInbox) *Inbox {
	m := NewInbox(context.Background(), PlainStyles(), DefaultKeyMap(), f,
		InboxOptions{Now: func() time.Time { return inboxNow }, Refresh: time.Hour})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 60})
	return m
}

func inboxPress(k string) tea.KeyMsg {
	switch k {
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "alt+enter":
		return tea.KeyMsg{Type: tea.KeyEnter, Alt: true}
	}
	return press(k)
}

// feed hands a backend answer to m; a finished action's follow-up read runs too.
func feed(m *Inbox, msg tea.Msg) {
	switch msg.(type) {
	case inboxListMsg, inboxHistoryMsg, inboxTemplatesMsg, inboxDoneMsg:
	default:
		return
	}
	_, cmd := m.Update(msg)
	if _, ok := msg.(inboxDoneMsg); ok && cmd != nil {
		feed(m, cmd())
	}
}

// driveInbox sends keys to m: a key name, a single character, or text typed a character at
// a time. A key ending in ! is one that starts a backend call: its command runs and its
// answer is handed back, like the program would.
func driveInbox(m *Inbox, keys ...string) *Inbox {
	for _, k := range keys {
		run := false
		if b := strings.TrimSuffix(k, "!"); b != k && (inboxPress(b).Type != tea.KeyRunes || len([]rune(b)) == 1) {
			run, k = true, b
		}
		if inboxPress(k).Type != tea.KeyRunes || len([]rune(k)) == 1 {
			_, cmd := m.Update(inboxPress(k))
			if run && cmd != nil {
				feed(m, cmd())
			}
			continue
		}
		typeInto(m, k)
	}
	return m
}

// listed is m with the fake's list loaded.
func listed(m *Inbox) *Inbox {
	feed(m, m.list())
	return m
}

func TestInboxUpdateView(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakeInbox)
		keys  []string
		want  []string
		not   []string
		check func(*testing.T, *fakeInbox, *Inbox)
	}{
		{name: "the list", want: []string{"gtc inbox — 3 open conversations", "> +4915123456789 · Alice Example · support",
			"waiting 12m · 2 unread · window 23h 48m left", "note: Order A-1042: shipped",
			"waiting 1d 2h · window closed 2h 05m ago (templates only)", "+447700900123 · support",
			"1 unread · window 23h 20m left · opted out", "↑/↓ choose • enter open • q quit"}},
		{name: "an empty inbox", setup: func(f *fakeInbox) { f.convs = nil },
			want: []string{"0 open conversations", "No open conversations.", "read again every 1h0m0s"}},
		{name: "a list error keeps the screen", setup: func(f *fakeInbox) { f.listErr = errors.New("database is locked") },
			want: []string{"✗ could not read the inbox: database is locked (trying again every 1h0m0s)"}},
		{name: "down selects the next", keys: []string{"down"}, want: []string{"> +4915187654321 · Bob · billing"}},
		{name: "open a conversation", keys: []string{"enter!"},
			want: []string{"gtc inbox — +4915123456789 · Alice Example · support", "09:40 Alice Example: Hi, where is my order A-1042?",
				"09:40 bot: ✓✓ read", "[ Check Status ] [ Talk to Human ]", "09:41 Alice Example: [Talk to Human]",
				"09:41 bot: A member of our team will reply here shortly. ✓✓", "image media 1234567890", "the box arrived damaged",
				"09:50 note by ann (internal): Courier ticket opened: DHL-55",
				"09:52 ann: Checking with the courier now. ✗ failed", "✗ failed (spam_limit): Spam rate limit hit [131048]",
				"r reply • t template • n note • x release • ↑/↓ scroll • esc back • ctrl+c quit"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				if strings.Join(f.read, ",") != alice {
					t.Errorf("marked read: %v", f.read)
				}
			}},
		{name: "a conversation loading", keys: []string{"enter"}, want: []string{"· loading the conversation…"}, not: []string{"no messages yet"}},
		{name: "esc goes back to the list", keys: []string{"enter!", "esc"}, want: []string{"3 open conversations"}},
		{name: "q quits from the list", keys: []string{"q"}, check: func(t *testing.T, _ *fakeInbox, m *Inbox) {
			if !m.Quit || m.Cancelled {
				t.Errorf("quit=%v cancelled=%v", m.Quit, m.Cancelled)
			}
		}},
		{name: "q in a reply is text", keys: []string{"enter!", "r", "q"}, want: []string{"│ q"}},
		{name: "ctrl+c cancels", keys: []string{"enter!", "ctrl+c"}, check: func(t *testing.T, _ *fakeInbox, m *Inbox) {
			if !m.Quit || !m.Cancelled {
				t.Errorf("quit=%v cancelled=%v", m.Quit, m.Cancelled)
			}
		}},
		{name: "reply inside the window", keys: []string{"enter!", "r", "On it, Alice!", "enter!"},
			want: []string{"✓ reply queued for +4915123456789", "10:00 ann: On it, Alice! · queued"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				want := alice + `: {"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"text","text":{"body":"On it, Alice!"}}`
				if len(f.replies) != 1 || f.replies[0] != want {
					t.Errorf("replies %v", f.replies)
				}
			}},
		{name: "pgup scrolls the conversation while typing", keys: []string{"enter!", "r", "draft", "pgup"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				m.Update(tea.WindowSizeMsg{Width: 80, Height: 20})
				driveInbox(m, "pgup")
				v := stripANSI(m.View())
				if m.scroll == 0 || !strings.Contains(v, "│ draft") || m.mode != inboxReply {
					t.Errorf("scroll %d mode %v:\n%s", m.scroll, m.mode, v)
				}
			}},
		{name: "an empty reply is not sent", keys: []string{"enter!", "r", "enter"}, want: []string{"Reply to +4915123456789"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				if len(f.replies) != 0 {
					t.Errorf("replies %v", f.replies)
				}
			}},
		{name: "esc keeps the draft", keys: []string{"enter!", "r", "Half a thought", "esc", "r"}, want: []string{"│ Half a thought"}},
		{name: "a reply with a line break", keys: []string{"enter!", "r", "one", "alt+enter", "two", "enter!"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				if len(f.replies) != 1 || !strings.Contains(f.replies[0], `"body":"one\ntwo"`) {
					t.Errorf("replies %v", f.replies)
				}
			}},
		{name: "r outside the window opens the template picker", keys: []string{"down", "enter!", "r!"},
			want: []string{"The 24-hour window is closed: only a template can be sent.", "> order_update  en · utility · 4 parameters"}},
		{name: "template with header, body and button parameters", keys: []string{"down", "enter!", "r!", "enter", "A-1042", "enter", "Bob", "enter", "refunded", "enter", "A 1042", "enter"},
			want: []string{"Preview", "template order_update (en)", "header {{1}} = A-1042", "body {{2}} = refunded", "button 0 {{1}} = A%201042", "Send to +4915187654321?"}},
		{name: "template sent", keys: []string{"down", "enter!", "r!", "enter", "A-1042", "enter", "Bob", "enter", "refunded", "enter", "A-1042", "enter", "y!"},
			want: []string{"✓ reply queued for +4915187654321", "10:00 ann: · queued", "template order_update (en)"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				want := bob + `: {"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915187654321","type":"template","template":{"name":"order_update","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"text","text":"A-1042"}]},{"type":"body","parameters":[{"type":"text","text":"Bob"},{"type":"text","text":"refunded"}]},{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"A-1042"}]}]}}`
				if len(f.replies) != 1 || f.replies[0] != want {
					t.Errorf("replies\n%v\nwant\n%s", f.replies, want)
				}
			}},
		{name: "n at the template preview edits", keys: []string{"down", "enter!", "r!", "enter", "A-1042", "enter", "Bob", "enter", "refunded", "enter", "A-1042", "enter", "n"},
			want: []string{"button 0 {{1}}  (5 of 5)"}, not: []string{"Preview"}},
		{name: "esc on the template list goes back", keys: []string{"down", "enter!", "r!", "esc"}, want: []string{"r reply (template)"}},
		{name: "opted-out reply is refused with the reason", keys: []string{"down", "down", "enter!", "r", "Hello?", "enter!"},
			want: []string{"opted out (sent STOP): replies are refused",
				"✗ refused: +447700900123 opted out (sent STOP)", "│ Hello?"}},
		{name: "window closed refusal advises a template",
			setup: func(f *fakeInbox) { f.convs[0].WindowClosesAt = inboxNow.Add(time.Minute) },
			keys:  []string{"enter!"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				f.convs[0].WindowClosesAt = inboxNow.Add(-time.Minute) // closes while the agent types
				driveInbox(m, "r", "Hi", "enter!")
				v := stripANSI(m.View())
				for _, w := range []string{"✗ refused: the 24-hour window with +4915123456789 is closed", "press t to send a template"} {
					if !strings.Contains(v, w) {
						t.Errorf("view lacks %q:\n%s", w, v)
					}
				}
			}},
		{name: "a note", keys: []string{"enter!", "n", "Called DHL, parcel due Tuesday", "enter!"},
			want: []string{"✓ note added (internal, not sent)", "10:00 note by ann (internal): Called DHL, parcel due Tuesday"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				if len(f.notes) != 1 || len(f.replies) != 0 {
					t.Errorf("notes %v replies %v", f.notes, f.replies)
				}
			}},
		{name: "release offers none and the nodes", keys: []string{"enter!", "x"},
			want: []string{"release to the bot", "> (none)  the conversation ends; the next message goes to the triggers", "after_human", "main_menu"}},
		{name: "release to a node", keys: []string{"enter!", "x", "down", "enter", "y!"},
			want: []string{"✓ released +4915123456789 to the bot: the bot resumes at after_human", "2 open conversations"},
			not:  []string{"Alice Example"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				if strings.Join(f.released, ",") != alice+"@after_human" {
					t.Errorf("released %v", f.released)
				}
			}},
		{name: "release asks first", keys: []string{"enter!", "x", "enter"}, want: []string{"Release +4915123456789 to the bot? The conversation ends."}},
		{name: "n at the release question goes back", keys: []string{"enter!", "x", "enter", "n"}, want: []string{"release to the bot"},
			check: func(t *testing.T, f *fakeInbox, m *Inbox) {
				if len(f.released) != 0 {
					t.Errorf("released %v", f.released)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeInbox(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			m := driveInbox(listed(newTestInbox(f)), tt.keys...)
			v := stripANSI(m.View())
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
			if tt.check != nil {
				tt.check(t, f, m)
			}
		})
	}
}

// TestInboxLiveRefresh: a refresh re-reads the list (a new handoff shows, the selection stays
// on its contact) and the open conversation (a new message and a status update show).
func TestInboxLiveRefresh(t *testing.T) {
	f := newFakeInbox(t)
	m := driveInbox(listed(newTestInbox(f)), "down")
	f.convs = append([]InboxConversation{{Contact: "+12025550100", Name: "Dan", Since: inboxNow}}, f.convs...)
	feed(m, m.list())
	v := stripANSI(m.View())
	if !strings.Contains(v, "4 open conversations") || !strings.Contains(v, "> +4915187654321 · Bob") {
		t.Fatalf("after a refresh:\n%s", v)
	}
	driveInbox(m, "up", "enter!")
	f.mu.Lock()
	f.history[alice][1].Status = "failed" // a status moved on
	f.history[alice][1].Failure = &InboxFailure{Class: whatsapp.ClassUnreachable, Code: 131026, Title: "Message undeliverable"}
	f.add(alice, InboxMessage{Dir: InboxIn, In: &whatsapp.InboundMessage{Type: "text", Text: "Any news?"}})
	f.mu.Unlock()
	feed(m, m.loadHistory()())
	v = stripANSI(m.View())
	for _, w := range []string{"10:00 Alice Example: Any news?", "✗ failed (unreachable): Message undeliverable [131026]"} {
		if !strings.Contains(v, w) {
			t.Errorf("view lacks %q:\n%s", w, v)
		}
	}
	if n := strings.Count(v, "How can we help?"); n != 1 {
		t.Errorf("the updated message shows %d times", n)
	}
	// The conversation is released elsewhere: the screen says so.
	f.convs = f.convs[:1]
	feed(m, m.list())
	if v := stripANSI(m.View()); !strings.Contains(v, "! no longer in the inbox") {
		t.Errorf("view:\n%s", v)
	}
	// Time passes: the waiting time and the window move on at the next refresh.
	now := inboxNow.Add(time.Hour)
	m.opts.Now = func() time.Time { return now }
	if v := stripANSI(m.View()); !strings.Contains(v, "waiting 1h 12m · window 22h 48m left") {
		t.Errorf("an hour later:\n%s", v)
	}
	// The tick reads the list and the conversation again and ticks on.
	if _, cmd := m.Update(inboxTickMsg{}); cmd == nil {
		t.Error("the tick did not schedule a refresh")
	}
}

// TestInboxOlderMessages pages back through History when scrolling past the top.
func TestInboxOlderMessages(t *testing.T) {
	f := newFakeInbox(t)
	m := NewInbox(context.Background(), PlainStyles(), DefaultKeyMap(), f,
		InboxOptions{Now: func() time.Time { return inboxNow }, Refresh: time.Hour, Page: 3})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 20})
	driveInbox(listed(m), "enter!")
	if v := stripANSI(m.View()); !strings.Contains(v, "· older messages: scroll up") || strings.Contains(v, "where is my order") {
		t.Fatalf("first page:\n%s", v)
	}
	for range 6 {
		driveInbox(m, "pgup!")
	}
	v := stripANSI(m.View())
	if !strings.Contains(v, "where is my order") || strings.Contains(v, "older messages") {
		t.Errorf("after paging back:\n%s", v)
	}
	want := []string{alice + ` "" 3`, alice + ` "ca6" 3`, alice + ` "ca3" 3`}
	if got := f.histCalls; strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("History calls %q, want %q", got, want)
	}
	// Scrolled up, a new message arrives: the lines being read stay where they are.
	top := stripANSI(m.View())
	f.mu.Lock()
	f.add(alice, InboxMessage{Dir: InboxIn, In: &whatsapp.InboundMessage{Type: "text", Text: "Any news?"}})
	f.mu.Unlock()
	feed(m, m.loadHistory()())
	if v := stripANSI(m.View()); v != top {
		t.Errorf("the view moved when a message arrived:\n%s\nwas\n%s", v, top)
	}
	driveInbox(m, "pgdown", "pgdown", "pgdown", "pgdown", "pgdown", "pgdown")
	if v := stripANSI(m.View()); m.scroll != 0 || !strings.Contains(v, "Any news?") {
		t.Errorf("scroll %d after paging down:\n%s", m.scroll, v)
	}
}

// TestInboxNarrow draws every screen on a 34-column terminal: nothing is wider, and the long
// message is there whole.
func TestInboxNarrow(t *testing.T) {
	const width = 34
	f := newFakeInbox(t)
	m := newTestInbox(f)
	m.Update(tea.WindowSizeMsg{Width: width, Height: 80})
	listed(m)
	views := map[string]string{"list": m.View()}
	driveInbox(m, "enter!")
	views["conversation"] = m.View()
	driveInbox(m, "r", aliceLong)
	views["reply"] = m.View()
	driveInbox(m, "esc", "x")
	views["release"] = m.View()
	for name, v := range views {
		v = stripANSI(v)
		for i, l := range strings.Split(v, "\n") {
			if w := lipgloss.Width(l); w > width {
				t.Errorf("%s: line %d is %d columns wide: %q", name, i+1, w, l)
			}
		}
	}
	flat := strings.Join(strings.Fields(stripANSI(views["conversation"])), " ")
	if !strings.Contains(flat, aliceLong) {
		t.Errorf("the long message was cut:\n%s", views["conversation"])
	}
}

// TestInboxDrawsNoControlCharacters: a customer's escape sequences are never drawn.
func TestInboxDrawsNoControlCharacters(t *testing.T) {
	f := newFakeInbox(t)
	f.convs[0].Name = "Eve\x1b[2J"
	f.history[alice] = []InboxMessage{{ID: "x", At: at("09:00"), Dir: InboxIn, In: &whatsapp.InboundMessage{Type: "text", Text: "hi\x1b]0;pwned\x07 there"}}}
	m := driveInbox(listed(newTestInbox(f)), "enter!")
	for _, v := range []string{m.View(), driveInbox(m, "esc").View()} {
		if strings.ContainsAny(v, "\x1b\x07") {
			t.Errorf("control characters drawn: %q", v)
		}
	}
}

func TestInboxJSON(t *testing.T) {
	f := newFakeInbox(t)
	got, err := json.Marshal(InboxJSON(f.convs[:2], inboxNow))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"contact":"+4915123456789","name":"Alice Example","queue":"support","note":"Order A-1042: shipped","waiting_since":"2026-11-30T09:48:00Z","waiting_seconds":720,"unread":2,"window_open":true,"window_closes_at":"2026-12-01T09:48:00Z","window_left_seconds":85680},` +
		`{"contact":"+4915187654321","name":"Bob","queue":"billing","waiting_since":"2026-11-29T08:00:00Z","waiting_seconds":93600,"unread":0,"window_open":false,"window_closes_at":"2026-11-30T07:55:00Z","window_left_seconds":0}]`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got, _ = json.Marshal(InboxJSON([]InboxConversation{{Contact: carol}}, inboxNow))
	if want := `[{"contact":"+447700900123","waiting_seconds":0,"unread":0,"window_open":false,"window_left_seconds":0}]`; string(got) != want {
		t.Errorf("no times: %s", got)
	}
	if got, _ := json.Marshal(InboxJSON(nil, inboxNow)); string(got) != "[]" {
		t.Errorf("empty inbox: %s", got)
	}
}

func TestHuman(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {45 * time.Second, "45s"}, {12 * time.Minute, "12m"},
		{3*time.Hour + 5*time.Minute, "3h 05m"}, {50 * time.Hour, "2d 2h"},
	} {
		if got := human(tt.d); got != tt.want {
			t.Errorf("human(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestInboxReplyMessage(t *testing.T) {
	var ref *InboxRefusal
	err := fmt.Errorf("send: %w", &InboxRefusal{Code: RefusedOptedOut, Reason: "opted out"})
	if !errors.As(err, &ref) || ref.Code != RefusedOptedOut {
		t.Fatalf("errors.As: %v", err)
	}
	got, _ := json.Marshal(InboxReply{Text: "hi"}.Message(alice))
	if string(got) != `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915123456789","type":"text","text":{"body":"hi"}}` {
		t.Errorf("text reply: %s", got)
	}
}

// TestInboxNoColor draws the inbox's screens with NO_COLOR styles: no colour escape, the
// reply box included; with colour they are coloured (so the check can fail).
func TestInboxNoColor(t *testing.T) {
	var buf bytes.Buffer
	colour := NewStyles(&buf, false)
	colour.renderer.SetColorProfile(termenv.TrueColor)
	colour = newStyles(colour.renderer)
	for _, tt := range []struct {
		name    string
		styles  *Styles
		colored bool
	}{{"NO_COLOR", NewStyles(&buf, true), false}, {"colour", colour, true}} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewInbox(context.Background(), tt.styles, DefaultKeyMap(), newFakeInbox(t),
				InboxOptions{Now: func() time.Time { return inboxNow }, Refresh: time.Hour})
			views := map[string]string{"list": listed(m).View()}
			driveInbox(m, "enter!")
			views["conversation"] = m.View()
			driveInbox(m, "r", "Hi")
			views["reply"] = m.View()
			driveInbox(m, "esc", "x")
			views["release"] = m.View()
			for name, v := range views {
				if has := strings.Contains(v, "\x1b[38;") || strings.Contains(v, "\x1b[3"); has != tt.colored {
					t.Errorf("%s: colour escapes = %v, want %v:\n%q", name, has, tt.colored, v)
				}
			}
		})
	}
}

// TestRunInbox runs the inbox on a terminal made of a reader and a buffer: q leaves it
// (nil), Ctrl+C cancels (ErrCancelled).
func TestRunInbox(t *testing.T) {
	for _, tt := range []struct {
		keys string
		want error
	}{{"q", nil}, {"\x03", ErrCancelled}} {
		t.Run(fmt.Sprintf("%q", tt.keys), func(t *testing.T) {
			var screen bytes.Buffer
			err := RunInbox(context.Background(), Terminal{In: strings.NewReader(tt.keys), ErrOut: &screen, NoColor: true},
				newFakeInbox(t), InboxOptions{Refresh: time.Hour})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v\n%s", err, tt.want, screen.String())
			}
		})
	}
}

// TestInboxLongList keeps the selected conversation on a screen too short for the list.
func TestInboxLongList(t *testing.T) {
	f := newFakeInbox(t)
	f.convs = nil
	for i := range 12 {
		f.convs = append(f.convs, InboxConversation{Contact: fmt.Sprintf("+491510000%04d", i), Since: at("09:00"), WindowClosesAt: at("09:00").Add(24 * time.Hour)})
	}
	m := listed(newTestInbox(f))
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 16})
	for i := range 12 {
		v := stripANSI(m.View())
		if !strings.Contains(v, fmt.Sprintf("> +491510000%04d", i)) || !strings.Contains(v, "12 open conversations") || !strings.Contains(v, "q quit") {
			t.Fatalf("selected %d not on the screen:\n%s", i, v)
		}
		if n := strings.Count(v, "\n"); n > 16 {
			t.Fatalf("%d lines on a 16-line screen:\n%s", n, v)
		}
		driveInbox(m, "down")
	}
}

// FuzzInboxMessage draws a customer's text and name (outside input): never a panic, a
// control character, a line wider than the screen or a lost word.
func FuzzInboxMessage(f *testing.F) {
	for _, seed := range []string{"hi", aliceLong, "a\tb\nc", "\x1b[2Jgone", "ｗｉｄｅ　ｔｅｘｔ　🙂🙂🙂", strings.Repeat("x", 200)} {
		f.Add(seed, "Alice", 40)
	}
	f.Fuzz(func(t *testing.T, text, name string, width int) {
		if width < 16 || width > 200 { // a card needs 15 columns (renderCard)
			return
		}
		m := newTestInbox(&fakeInbox{})
		m.Update(tea.WindowSizeMsg{Width: width, Height: 30})
		m.conv = InboxConversation{Contact: alice, Name: name}
		out := m.renderInboxMessage(InboxMessage{At: inboxNow, Dir: InboxIn, In: &whatsapp.InboundMessage{Type: "text", Text: text}})
		out += "\n" + m.renderInboxMessage(InboxMessage{At: inboxNow, Dir: InboxOut, Status: "read",
			Out: &whatsapp.Message{Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: text}}})
		for _, r := range out {
			if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
				t.Fatalf("control character %U drawn: %q", r, out)
			}
		}
		for _, l := range strings.Split(out, "\n") {
			if w := lipgloss.Width(l); w > width {
				t.Fatalf("line %q is %d columns wide, the screen %d", l, w, width)
			}
		}
	})
}
