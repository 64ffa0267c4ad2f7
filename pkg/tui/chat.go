package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// ChatMessage is one message the bot sent, with the id the Graph API gave it; or, with
// NoReply set and no message, why the bot sent nothing for the customer's action.
type ChatMessage struct {
	ID      string
	Message whatsapp.Message
	// NoReply says why the bot did not answer: "you opted out (/start opts in again)", "the
	// 24-hour window is closed", "no flow is triggered by this text". Shown as
	// "(no reply: …)"; a turn with no message and no reason shows "(no reply)".
	NoReply string
}

// ChatChoice is a reply button or list row the customer can pick.
type ChatChoice struct {
	Kind        string // button or list
	ID, Title   string
	Description string
}

// ChatBackend plays the customer against the bot (the local session of `gtc chat`).
type ChatBackend interface {
	SendText(ctx context.Context, text string) ([]ChatMessage, error)
	Choose(ctx context.Context, c ChatChoice) ([]ChatMessage, error)
	StartFlow(ctx context.Context, name string) ([]ChatMessage, error)
	// SubmitForm submits a WhatsApp Flow form (an nfm_reply) with these fields, answering
	// the bot's latest Flow message.
	SubmitForm(ctx context.Context, form map[string]any) ([]ChatMessage, error)
	Advance(d time.Duration)
	// Status is the latest status webhook's status of a bot message (sent, delivered, read).
	Status(id string) string
	Customer() string
}

// Action is one customer action of a chat script or typed line.
type Action struct {
	Kind string // text, press, wait, flow, form, quit
	Text string // text: the message; press: the button/row title or id; flow: its name; form: its JSON
	Form map[string]any
	Wait time.Duration
	Line int
}

// ParseAction reads one typed line: text, or a command /press TITLE, /stop, /start,
// /wait 25h, /flow NAME, /form {JSON}, /quit.
func ParseAction(line string) (Action, error) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "/") {
		return Action{Kind: "text", Text: s}, nil
	}
	cmd, arg, _ := strings.Cut(s[1:], " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "stop":
		return Action{Kind: "text", Text: "STOP"}, nil
	case "start":
		return Action{Kind: "text", Text: "START"}, nil
	case "quit":
		return Action{Kind: "quit"}, nil
	case "press":
		if arg == "" {
			return Action{}, fmt.Errorf("/press needs a button or row title, like /press Get Help")
		}
		return Action{Kind: "press", Text: arg}, nil
	case "flow":
		if arg == "" {
			return Action{}, fmt.Errorf("/flow needs a flow name, like /flow follow_up")
		}
		return Action{Kind: "flow", Text: arg}, nil
	case "form":
		form, err := parseForm(arg)
		if err != nil {
			return Action{}, err
		}
		return Action{Kind: "form", Text: arg, Form: form}, nil
	case "wait":
		d, err := parseWait(arg)
		if err != nil {
			return Action{}, err
		}
		return Action{Kind: "wait", Wait: d}, nil
	}
	return Action{}, fmt.Errorf("unknown command /%s: use /press TITLE, /stop, /start, /wait 25h, /flow NAME, /form {JSON} or /quit (a line not starting with / is sent as text)", cmd)
}

// parseForm reads /form's argument: the submitted form's fields as one JSON object.
func parseForm(arg string) (map[string]any, error) {
	const example = `like /form {"email": "ada@example.com", "plan": "pro"}`
	if arg == "" {
		return nil, fmt.Errorf("/form needs the form's fields as a JSON object, %s", example)
	}
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.UseNumber()
	var form map[string]any
	if err := dec.Decode(&form); err != nil || form == nil {
		msg := "not a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return nil, fmt.Errorf("/form needs a JSON object (%s), %s", msg, example)
	}
	if dec.More() {
		return nil, fmt.Errorf("/form takes one JSON object; text follows it, %s", example)
	}
	return form, nil
}

func parseWait(arg string) (time.Duration, error) {
	if strings.HasSuffix(arg, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(arg, "d")); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(arg)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("/wait needs a positive duration like 25h, 90m or 2d, not %q", arg)
	}
	return d, nil
}

// ParseScript reads a chat script: one action per line; blank lines and lines starting
// with # are skipped. Every bad line is reported with its line number.
func ParseScript(filename string, data []byte) ([]Action, error) {
	var out []Action
	var probs problem.List
	for i, line := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		a, err := ParseAction(t)
		if err != nil {
			probs.Errorf(filename, "", i+1, 1, "%s", err.Error())
			continue
		}
		a.Line = i + 1
		out = append(out, a)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// choicesOf lists the buttons and rows of a bot message.
func choicesOf(m whatsapp.Message) []ChatChoice {
	if m.Interactive == nil {
		return nil
	}
	var out []ChatChoice
	for _, b := range m.Interactive.Action.Buttons {
		out = append(out, ChatChoice{Kind: "button", ID: b.Reply.ID, Title: b.Reply.Title})
	}
	for _, s := range m.Interactive.Action.Sections {
		for _, r := range s.Rows {
			out = append(out, ChatChoice{Kind: "list", ID: r.ID, Title: r.Title, Description: r.Description})
		}
	}
	return out
}

func findChoice(choices []ChatChoice, what string) (ChatChoice, bool) {
	for _, c := range choices {
		if strings.EqualFold(c.Title, what) || c.ID == what {
			return c, true
		}
	}
	return ChatChoice{}, false
}

// chatTurn runs one action and returns the transcript lines it adds and the choices the
// customer has after it: those of the bot's latest message of the turn, none when its reply
// offered none (an old picker does not stay active). A wait or a failed action keeps them.
func chatTurn(ctx context.Context, b ChatBackend, a Action, choices []ChatChoice) ([]entry, []ChatChoice, error) {
	var got []ChatMessage
	var err error
	var lines []entry
	switch a.Kind {
	case "text":
		lines = append(lines, entry{who: "you", text: a.Text})
		got, err = b.SendText(ctx, a.Text)
	case "press":
		c, ok := findChoice(choices, a.Text)
		if !ok {
			var titles []string
			for _, c := range choices {
				titles = append(titles, c.Title)
			}
			if len(titles) == 0 {
				return nil, choices, fmt.Errorf("no button or list row to press %q: the bot's last message offered none", a.Text)
			}
			return nil, choices, fmt.Errorf("no button or list row %q: choose one of %s", a.Text, strings.Join(titles, ", "))
		}
		lines = append(lines, entry{who: "you", text: "[" + c.Title + "]"})
		got, err = b.Choose(ctx, c)
	case "form":
		lines = append(lines, entry{who: "you", text: "[form] " + a.Text})
		got, err = b.SubmitForm(ctx, a.Form)
	case "wait":
		b.Advance(a.Wait)
		return []entry{{who: "--", text: "waited " + a.Wait.String() + " (the clock moved on)"}}, choices, nil
	case "flow":
		got, err = b.StartFlow(ctx, a.Text)
		if err == nil {
			lines = append(lines, entry{who: "--", text: "started flow " + a.Text})
		}
	default:
		return nil, choices, nil
	}
	if err != nil {
		return lines, choices, err
	}
	choices = nil
	replied, why := false, ""
	for _, m := range got {
		if m.NoReply != "" && m.Message.Type == "" {
			why = m.NoReply
			continue
		}
		replied = true
		lines = append(lines, entry{who: "bot", msg: m})
		if cs := choicesOf(m.Message); cs != nil {
			choices = cs
		}
	}
	if !replied {
		text := "(no reply)"
		if why != "" {
			text = "(no reply: " + why + ")"
		}
		lines = append(lines, entry{who: "--", text: text})
	}
	return lines, choices, nil
}

type entry struct {
	who  string // you, bot, --, error
	text string
	msg  ChatMessage
}

// renderEntry draws one transcript entry wrapped to width columns (0: unwrapped). status is
// the message's tick status ("" none).
func renderEntry(s *Styles, e entry, status string, width int) string {
	e.text = printable(e.text)
	switch e.who {
	case "you":
		return renderLines(s.User, wrap("you: "+e.text, width))
	case "--":
		return renderLines(s.Muted, wrap("· "+e.text, width))
	case "error":
		return renderLines(s.Error, wrap("✗ "+e.text, width))
	}
	body := printable(botText(e.msg.Message))
	tick := ""
	switch status {
	case "sent":
		tick = " ✓"
	case "delivered":
		tick = " ✓✓"
	case "read":
		tick = " ✓✓ read"
	case "failed":
		tick = " ✗ failed"
	}
	if strings.Contains(body, "\n") || e.msg.Message.Type != whatsapp.TypeText {
		return s.Bot.Render("bot:") + s.Tick.Render(tick) + "\n" + renderMessageCard(s, e.msg.Message, width)
	}
	text := wrap("bot: "+body, width)
	last := text[strings.LastIndex(text, "\n")+1:]
	if width > 0 && tick != "" && ansi.StringWidth(last)+ansi.StringWidth(tick) > width {
		tick = "\n    " + tick // the tick goes under the text rather than past the edge
	}
	return renderLines(s.Bot, text) + renderLines(s.Tick, tick)
}

// renderLines renders each line of text on its own, so a style never pads the short lines of
// a block to the width of its longest.
func renderLines(st lipgloss.Style, text string) string {
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = st.Render(l)
		}
	}
	return strings.Join(lines, "\n")
}

func botText(m whatsapp.Message) string {
	if m.Text != nil {
		return m.Text.Body
	}
	return ""
}

// renderMessageCard draws a non-text bot message as a card no wider than width (0: any),
// buttons and rows included.
func renderMessageCard(s *Styles, m whatsapp.Message, width int) string {
	var b strings.Builder
	switch {
	case m.Template != nil:
		writeTemplate(&b, m.Template)
	case m.Interactive != nil:
		in := m.Interactive
		if in.Header != nil && in.Header.Text != "" {
			b.WriteString(in.Header.Text + "\n")
		}
		if in.Body != nil {
			b.WriteString(in.Body.Text)
		}
		var btns []string
		for _, bt := range in.Action.Buttons {
			btns = append(btns, "[ "+bt.Reply.Title+" ]")
		}
		if row := strings.Join(btns, " "); len(btns) > 0 && (width <= 0 || ansi.StringWidth(row) <= width-cardFrame) {
			b.WriteString("\n" + row)
		} else if len(btns) > 0 { // too narrow for a row: one button a line
			b.WriteString("\n" + strings.Join(btns, "\n"))
		}
		if in.Action.Button != "" {
			b.WriteString("\n≡ " + in.Action.Button)
		}
		for _, sec := range in.Action.Sections {
			if sec.Title != "" {
				b.WriteString("\n" + sec.Title)
			}
			for _, r := range sec.Rows {
				b.WriteString("\n  • " + r.Title)
				if r.Description != "" {
					b.WriteString(" — " + r.Description)
				}
			}
		}
		if in.Action.Parameters != nil {
			fmt.Fprintf(&b, "\n[ %s ] → %s", in.Action.Parameters.DisplayText, in.Action.Parameters.URL)
		}
		if f := in.Action.Flow; f != nil {
			fmt.Fprintf(&b, "\n[ %s ] → a WhatsApp Flow form", f.FlowCTA)
		}
	case m.Location != nil:
		fmt.Fprintf(&b, "location %g, %g", m.Location.Latitude, m.Location.Longitude)
		if m.Location.Name != "" {
			b.WriteString("\n" + m.Location.Name)
		}
		if m.Location.Address != "" {
			b.WriteString("\n" + m.Location.Address)
		}
	case m.Text != nil:
		b.WriteString(m.Text.Body)
	default:
		if !writeMedia(&b, &m) {
			b.WriteString(m.Type + " message")
		}
	}
	return renderCard(s, b.String(), width)
}

// RunChatScript runs actions against b and writes the transcript to w (no status ticks:
// they arrive asynchronously). It stops at the first failing action.
func RunChatScript(ctx context.Context, b ChatBackend, actions []Action, s *Styles, w io.Writer) error {
	var choices []ChatChoice
	fmt.Fprintf(w, "%s\n", s.Muted.Render("· chatting as "+b.Customer()))
	for _, a := range actions {
		if a.Kind == "quit" {
			break
		}
		lines, cs, err := chatTurn(ctx, b, a, choices)
		choices = cs
		for _, e := range lines {
			fmt.Fprintln(w, renderEntry(s, e, "", 0))
		}
		if err != nil {
			return fmt.Errorf("script line %d: %w", a.Line, err)
		}
	}
	return nil
}

// Chat is the interactive chat screen. The bot's reply buttons are a row picked with ←/→, a
// list's rows a column picked with ↑/↓; the first is selected when they arrive and enter on
// an empty line presses the selected one.
type Chat struct {
	styles  *Styles
	keys    KeyMap
	ctx     context.Context
	backend ChatBackend

	input   textinput.Model
	entries []entry
	choices []ChatChoice
	cursor  int // the selected choice
	busy    bool
	width   int
	height  int

	// KeepState says the session's state outlives the chat (gtc messages can read it); while
	// it is false the screen says the state is throwaway. Set before Run.
	KeepState bool
	// StateNote, when set, replaces the screen's line about the state (where it is kept, or
	// how to keep it). Set before Run.
	StateNote string

	// Quit is true after /quit or Ctrl+C.
	Quit bool
}

type chatResultMsg struct {
	lines   []entry
	choices []ChatChoice
	err     error
}

type chatTickMsg struct{}

// NewChat builds the chat screen over backend.
func NewChat(ctx context.Context, s *Styles, k KeyMap, backend ChatBackend) *Chat {
	in := textinput.New()
	in.Placeholder = "type a message (or /press, /stop, /start, /wait, /flow, /quit)"
	in.Prompt = "> "
	// Every part of the input is drawn through s, so NO_COLOR holds there too.
	in.PromptStyle, in.PlaceholderStyle = s.Prompt, s.Muted
	in.TextStyle, in.CompletionStyle = s.renderer.NewStyle(), s.Muted
	in.Cursor.Style, in.Cursor.TextStyle = s.Cursor, s.renderer.NewStyle()
	in.Cursor.SetMode(1)
	in.Focus()
	c := &Chat{styles: s, keys: k, ctx: ctx, backend: backend, input: in, height: 24}
	c.resize(80)
	return c
}

func (c *Chat) resize(width int) {
	c.width = width
	if w := width - 3; w > 0 { // the prompt and the cursor
		c.input.Width = w
	}
}

func (c *Chat) Init() tea.Cmd { return c.tick() }

func (c *Chat) tick() tea.Cmd {
	return tea.Tick(300*time.Millisecond, func(time.Time) tea.Msg { return chatTickMsg{} })
}

func (c *Chat) run(a Action) tea.Cmd {
	c.busy = true
	choices := c.choices
	return func() tea.Msg {
		lines, cs, err := chatTurn(c.ctx, c.backend, a, choices)
		return chatResultMsg{lines: lines, choices: cs, err: err}
	}
}

// listPicker reports whether the choices are list rows (a column) rather than reply buttons
// (a row).
func (c *Chat) listPicker() bool {
	return len(c.choices) > 0 && c.choices[0].Kind == "list"
}

func (c *Chat) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.resize(msg.Width)
		c.height = msg.Height
		return c, nil
	case chatTickMsg:
		if c.Quit {
			return c, nil
		}
		return c, c.tick()
	case chatResultMsg:
		c.busy = false
		c.entries = append(c.entries, msg.lines...)
		if msg.err != nil {
			c.entries = append(c.entries, entry{who: "error", text: msg.err.Error()})
		}
		if offered(msg.lines) || len(msg.choices) != len(c.choices) {
			c.cursor = 0 // a new picker starts at its first choice
		}
		c.choices = msg.choices
		return c, nil
	case tea.KeyMsg:
		if key.Matches(msg, c.keys.Quit) {
			c.Quit = true
			return c, tea.Quit
		}
		if c.busy {
			return c, nil
		}
		picking := strings.TrimSpace(c.input.Value()) == "" && len(c.choices) > 0
		prev, next := c.keys.Left, c.keys.Right
		if c.listPicker() {
			prev, next = c.keys.Up, c.keys.Down
		}
		switch {
		case picking && key.Matches(msg, prev):
			if c.cursor > 0 {
				c.cursor--
			}
			return c, nil
		case picking && key.Matches(msg, next):
			if c.cursor < len(c.choices)-1 {
				c.cursor++
			}
			return c, nil
		case picking && key.Matches(msg, c.keys.Up, c.keys.Down, c.keys.Left, c.keys.Right):
			return c, nil // the other axis does nothing
		case key.Matches(msg, c.keys.Next):
			if picking {
				return c, c.run(Action{Kind: "press", Text: c.choices[c.cursor].ID})
			}
			if strings.TrimSpace(c.input.Value()) == "" {
				return c, nil
			}
			a, err := ParseAction(c.input.Value())
			c.input.Reset()
			if err != nil {
				c.entries = append(c.entries, entry{who: "error", text: err.Error()})
				return c, nil
			}
			if a.Kind == "quit" {
				c.Quit = true
				return c, tea.Quit
			}
			return c, c.run(a)
		}
	}
	var cmd tea.Cmd
	c.input, cmd = c.input.Update(msg)
	return c, cmd
}

// offered reports whether the bot offered choices among lines.
func offered(lines []entry) bool {
	for _, e := range lines {
		if e.who == "bot" && choicesOf(e.msg.Message) != nil {
			return true
		}
	}
	return false
}

// stateLine is the line under the title about the session's state.
func (c *Chat) stateLine() string {
	switch {
	case c.StateNote != "":
		return c.StateNote
	case c.KeepState:
		return ""
	}
	return "throwaway state: this chat's contacts and messages are deleted when it ends"
}

// picker draws the choices: buttons in a row (wrapped to the width), list rows one a line;
// the selected one is marked while the input line is empty.
func (c *Chat) picker() []string {
	s := c.styles
	showCursor := strings.TrimSpace(c.input.Value()) == ""
	item := func(i int, label string) string {
		if showCursor && i == c.cursor {
			return s.Cursor.Render(">" + label)
		}
		return s.Choice.Render(" " + label)
	}
	var out []string
	if c.listPicker() {
		for i, ch := range c.choices {
			label := printable(ch.Title)
			if ch.Description != "" {
				label += " — " + printable(ch.Description)
			}
			if c.width > 0 && ansi.StringWidth(label)+1 > c.width {
				label = ansi.Truncate(label, c.width-2, "…")
			}
			out = append(out, item(i, label))
		}
		return out
	}
	line, lineW := "", 0
	for i, ch := range c.choices {
		label := "[" + printable(ch.Title) + "]"
		w := ansi.StringWidth(label) + 1
		if lineW > 0 && c.width > 0 && lineW+1+w > c.width {
			out = append(out, line)
			line, lineW = "", 0
		}
		if lineW > 0 {
			line += " "
			lineW++
		}
		line += item(i, label)
		lineW += w
	}
	return append(out, line)
}

func (c *Chat) View() string {
	s := c.styles
	var head []string
	head = append(head, strings.Split(renderLines(s.Title, wrap("gtc chat — you are "+c.backend.Customer(), c.width)), "\n")...)
	if note := c.stateLine(); note != "" {
		head = append(head, strings.Split(renderLines(s.Muted, wrap("· "+note, c.width)), "\n")...)
	}
	var body []string
	for _, e := range c.entries {
		status := ""
		if e.who == "bot" {
			status = c.backend.Status(e.msg.ID)
		}
		body = append(body, strings.Split(renderEntry(s, e, status, c.width), "\n")...)
	}
	var foot []string
	help := "enter send • /quit or ctrl+c quit"
	if len(c.choices) > 0 {
		foot = append(foot, c.picker()...)
		help = "←/→ choose a button • enter press it • or type a reply • ctrl+c quit"
		if c.listPicker() {
			help = "↑/↓ choose a row • enter pick it • or type a reply • ctrl+c quit"
		}
	}
	if c.busy {
		foot = append(foot, s.Muted.Render("…"))
	}
	foot = append(foot, c.input.View())
	foot = append(foot, strings.Split(renderLines(s.Help, wrap(help, c.width)), "\n")...)
	room := c.height - len(head) - len(foot) - 1
	if room < 3 {
		room = 3
	}
	if len(body) > room {
		body = body[len(body)-room:]
	}
	lines := append(head, body...)
	lines = append(lines, "")
	lines = append(lines, foot...)
	return strings.Join(lines, "\n") + "\n"
}

// writeTemplate writes a template's name, language and filled parameters (by name when the
// template uses named parameters, else by position; a media header by its link, a button's
// payload as such).
func writeTemplate(b *strings.Builder, t *whatsapp.Template) {
	fmt.Fprintf(b, "template %s (%s)", t.Name, t.Language.Code)
	for _, c := range t.Components {
		part := c.Type
		if c.Index != nil {
			part += " " + *c.Index
		}
		for i, p := range c.Parameters {
			switch {
			case p.Image != nil || p.Video != nil || p.Document != nil:
				md := p.Image
				if md == nil {
					md = p.Video
				}
				if md == nil {
					md = p.Document
				}
				ref := md.Link
				if ref == "" {
					ref = "media " + md.ID
				}
				fmt.Fprintf(b, "\n  %s %s = %s", part, p.Type, ref)
			case p.Type == "payload":
				fmt.Fprintf(b, "\n  %s payload = %s", part, p.Payload)
			default:
				name := p.ParameterName
				if name == "" {
					name = strconv.Itoa(i + 1)
				}
				fmt.Fprintf(b, "\n  %s {{%s}} = %s", part, name, p.Text)
			}
		}
	}
}

// printable makes text from outside (the bot's messages) safe to draw: a tab becomes a space
// and any other control character, an escape sequence's ESC included, becomes U+FFFD, so a
// message can neither restyle nor move around the terminal. Line breaks stay.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '\uFFFD'
		}
		return r
	}, s)
}

// cardFrame is the columns a card's border and padding take.
const cardFrame = 4

// renderCard draws text in a bordered card no wider than width columns, wrapping the text to
// fit (width 0: as wide as the text).
func renderCard(s *Styles, text string, width int) string {
	text = printable(text)
	if width > 0 {
		text = wrap(text, width-cardFrame)
	}
	return s.Card.Render(text)
}

// writeMedia writes a media message's kind, link or id, filename and caption; false when m
// carries no media.
func writeMedia(b *strings.Builder, m *whatsapp.Message) bool {
	md := m.MediaOf()
	if md == nil {
		return false
	}
	ref := md.Link
	if ref == "" {
		ref = "media " + md.ID
	}
	fmt.Fprintf(b, "%s %s", m.Type, ref)
	if md.Filename != "" {
		b.WriteString("\n" + md.Filename)
	}
	if md.Caption != "" {
		b.WriteString("\n" + md.Caption)
	}
	return true
}
