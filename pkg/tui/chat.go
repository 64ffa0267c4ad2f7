package tui

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// ChatMessage is one message the bot sent, with the id the Graph API gave it.
type ChatMessage struct {
	ID      string
	Message whatsapp.Message
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
	Advance(d time.Duration)
	// Status is the latest status webhook's status of a bot message (sent, delivered, read).
	Status(id string) string
	Customer() string
}

// Action is one customer action of a chat script or typed line.
type Action struct {
	Kind string // text, press, wait, flow, quit
	Text string // text: the message; press: the button/row title or id; flow: its name
	Wait time.Duration
	Line int
}

// ParseAction reads one typed line: text, or a command /press TITLE, /stop, /start,
// /wait 25h, /flow NAME, /quit.
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
	case "wait":
		d, err := parseWait(arg)
		if err != nil {
			return Action{}, err
		}
		return Action{Kind: "wait", Wait: d}, nil
	}
	return Action{}, fmt.Errorf("unknown command /%s: use /press TITLE, /stop, /start, /wait 25h, /flow NAME or /quit (a line not starting with / is sent as text)", cmd)
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

// chatTurn runs one action and returns the transcript lines it adds and the new choices.
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
	case "wait":
		b.Advance(a.Wait)
		return []entry{{who: "--", text: "waited " + a.Wait.String() + " (the clock moved on)"}}, choices, nil
	case "flow":
		lines = append(lines, entry{who: "--", text: "started flow " + a.Text})
		got, err = b.StartFlow(ctx, a.Text)
	default:
		return nil, choices, nil
	}
	if err != nil {
		return lines, choices, err
	}
	for _, m := range got {
		lines = append(lines, entry{who: "bot", msg: m})
		if cs := choicesOf(m.Message); cs != nil {
			choices = cs
		}
	}
	if len(got) == 0 {
		lines = append(lines, entry{who: "--", text: "(no reply)"})
	}
	return lines, choices, nil
}

type entry struct {
	who  string // you, bot, --, error
	text string
	msg  ChatMessage
}

// renderEntry draws one transcript entry. status is the message's tick status ("" none).
func renderEntry(s *Styles, e entry, status string) string {
	switch e.who {
	case "you":
		return s.User.Render("you: " + e.text)
	case "--":
		return s.Muted.Render("· " + e.text)
	case "error":
		return s.Error.Render("✗ " + e.text)
	}
	body := botText(e.msg.Message)
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
		return s.Bot.Render("bot:"+s.Tick.Render(tick)) + "\n" + renderMessageCard(s, e.msg.Message)
	}
	return s.Bot.Render("bot: "+body) + s.Tick.Render(tick)
}

func botText(m whatsapp.Message) string {
	if m.Text != nil {
		return m.Text.Body
	}
	return ""
}

// renderMessageCard draws a non-text bot message as a card, buttons and rows included.
func renderMessageCard(s *Styles, m whatsapp.Message) string {
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
		if len(btns) > 0 {
			b.WriteString("\n" + strings.Join(btns, " "))
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
	return s.Card.Render(b.String())
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
			fmt.Fprintln(w, renderEntry(s, e, ""))
		}
		if err != nil {
			return fmt.Errorf("script line %d: %w", a.Line, err)
		}
	}
	return nil
}

// Chat is the interactive chat screen.
type Chat struct {
	styles  *Styles
	keys    KeyMap
	ctx     context.Context
	backend ChatBackend

	input   textinput.Model
	entries []entry
	choices []ChatChoice
	cursor  int // -1: typing; 0..: a choice is selected
	busy    bool
	width   int
	height  int

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
	in.Placeholder = "type a message, or /press TITLE, /stop, /start, /wait 25h, /flow NAME, /quit"
	in.Prompt = "> "
	in.Cursor.SetMode(1)
	in.Focus()
	return &Chat{styles: s, keys: k, ctx: ctx, backend: backend, input: in, cursor: -1, width: 80, height: 24}
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

func (c *Chat) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.width, c.height = msg.Width, msg.Height
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
		c.choices = msg.choices
		c.cursor = -1
		return c, nil
	case tea.KeyMsg:
		if key.Matches(msg, c.keys.Quit) {
			c.Quit = true
			return c, tea.Quit
		}
		if c.busy {
			return c, nil
		}
		typing := strings.TrimSpace(c.input.Value()) != ""
		switch {
		case !typing && len(c.choices) > 0 && key.Matches(msg, c.keys.Up):
			if c.cursor <= 0 {
				c.cursor = len(c.choices) - 1
			} else {
				c.cursor--
			}
			return c, nil
		case !typing && len(c.choices) > 0 && key.Matches(msg, c.keys.Down):
			c.cursor = (c.cursor + 1) % len(c.choices)
			return c, nil
		case key.Matches(msg, c.keys.Next):
			if !typing && c.cursor >= 0 && c.cursor < len(c.choices) {
				return c, c.run(Action{Kind: "press", Text: c.choices[c.cursor].ID})
			}
			if !typing {
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
	if strings.TrimSpace(c.input.Value()) != "" {
		c.cursor = -1
	}
	return c, cmd
}

func (c *Chat) View() string {
	s := c.styles
	var lines []string
	lines = append(lines, s.Title.Render("gtc chat — you are "+c.backend.Customer()))
	var body []string
	for _, e := range c.entries {
		status := ""
		if e.who == "bot" {
			status = c.backend.Status(e.msg.ID)
		}
		body = append(body, strings.Split(renderEntry(s, e, status), "\n")...)
	}
	var foot []string
	if len(c.choices) > 0 {
		var cs []string
		for i, ch := range c.choices {
			label := "[" + ch.Title + "]"
			if i == c.cursor {
				cs = append(cs, s.Cursor.Render(">"+label))
			} else {
				cs = append(cs, s.Choice.Render(" "+label))
			}
		}
		foot = append(foot, strings.Join(cs, " "))
	}
	if c.busy {
		foot = append(foot, s.Muted.Render("…"))
	}
	foot = append(foot, c.input.View(), s.Help.Render("enter send • ↑/↓ pick a button • ctrl+c quit"))
	room := c.height - len(lines) - len(foot) - 1
	if room < 3 {
		room = 3
	}
	if len(body) > room {
		body = body[len(body)-room:]
	}
	lines = append(lines, body...)
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

// cardFrame is the columns a card's border and padding take.
const cardFrame = 4

// renderCard draws text in a bordered card no wider than width columns, wrapping the text to
// fit (width 0: as wide as the text).
func renderCard(s *Styles, text string, width int) string {
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
