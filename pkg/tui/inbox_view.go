package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// RunInbox runs the inbox on term (full screen, drawn on ErrOut) until the agent quits: q on
// the list returns nil, Ctrl+C returns ErrCancelled.
func RunInbox(ctx context.Context, term Terminal, backend InboxBackend, opts InboxOptions) error {
	m := NewInbox(ctx, NewStyles(term.ErrOut, term.NoColor), DefaultKeyMap(), backend, opts)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(term.In), tea.WithOutput(term.ErrOut), tea.WithAltScreen())
	final, err := p.Run()
	if err != nil {
		return fmt.Errorf("run inbox: %w", err)
	}
	if in, ok := final.(*Inbox); ok && in.Cancelled {
		return ErrCancelled
	}
	return nil
}

// helpKey is a binding's key as its help shows it.
func helpKey(b key.Binding) string { return b.Help().Key }

func (m *Inbox) helpLine() string {
	k := m.keys
	switch m.mode {
	case inboxList:
		return fmt.Sprintf("%s/%s choose • %s open • %s quit", helpKey(k.Up), helpKey(k.Down), helpKey(k.Next), helpKey(k.Close))
	case inboxConversation:
		reply := "reply"
		if !m.conv.windowOpen(m.now()) {
			reply = "reply (template)"
		}
		return fmt.Sprintf("%s %s • %s template • %s note • %s release • %s/%s scroll • %s back • %s quit",
			helpKey(k.Reply), reply, helpKey(k.Template), helpKey(k.Note), helpKey(k.Release),
			helpKey(k.Up), helpKey(k.Down), helpKey(k.Back), helpKey(k.Quit))
	case inboxReply:
		return fmt.Sprintf("%s send • %s new line • %s/%s scroll • %s back • %s quit", helpKey(k.Next), helpKey(k.Newline), helpKey(k.PageUp), helpKey(k.PageDown), helpKey(k.Back), helpKey(k.Quit))
	case inboxNoteMode:
		return fmt.Sprintf("%s save the note • %s new line • %s back • %s quit", helpKey(k.Next), helpKey(k.Newline), helpKey(k.Back), helpKey(k.Quit))
	case inboxTemplateSend:
		return fmt.Sprintf("%s send • %s edit • ←/→ choose • %s quit", helpKey(k.Confirm), helpKey(k.Deny), helpKey(k.Quit))
	case inboxReleaseSure:
		return fmt.Sprintf("%s release • %s back • ←/→ choose • %s quit", helpKey(k.Confirm), helpKey(k.Deny), helpKey(k.Quit))
	}
	return "" // the forms draw their own
}

func (m *Inbox) View() string {
	if m.mode == inboxList {
		return m.listView()
	}
	head, foot := m.convHead(), m.convFoot()
	body := m.historyLines()
	room := m.roomFor(head, foot)
	end := len(body) - m.scroll
	if end > len(body) {
		end = len(body)
	}
	start := end - room
	if start < 0 {
		start = 0
	}
	if end < start {
		end = start
	}
	lines := append(append([]string{}, head...), body[start:end]...)
	lines = append(lines, "")
	lines = append(lines, foot...)
	return strings.Join(lines, "\n") + "\n"
}

// roomFor is how many history lines fit between head and foot.
func (m *Inbox) roomFor(head, foot []string) int {
	room := m.height - len(head) - len(foot) - 2
	if room < 3 {
		room = 3
	}
	return room
}

// bodyRoom is how many history lines the screen shows now.
func (m *Inbox) bodyRoom() int { return m.roomFor(m.convHead(), m.convFoot()) }

// block is text made safe to draw, wrapped to the screen and styled, as lines.
func (m *Inbox) block(st lipgloss.Style, text string) []string {
	return strings.Split(renderLines(st, wrap(printable(text), m.width)), "\n")
}

func (m *Inbox) listView() string {
	title := "gtc inbox — " + plural(len(m.convs), "open conversation")
	if m.opts.Queue != "" {
		title += " in " + m.opts.Queue
	}
	head := m.block(m.styles.Title, title)
	var items [][]string
	for i, c := range m.convs {
		items = append(items, m.listItem(c, i == m.cursor))
	}
	var body []string
	switch {
	case !m.listed:
		body = m.block(m.styles.Muted, "Loading…")
	case len(m.convs) == 0:
		body = append(m.block(m.styles.Label, "No open conversations."),
			m.block(m.styles.Muted, "Handoffs show up here; the list is read again every "+m.opts.Refresh.String()+".")...)
	}
	var foot []string
	if m.listErr != nil {
		foot = append(foot, m.block(m.styles.Error, "✗ could not read the inbox: "+m.listErr.Error()+" (trying again every "+m.opts.Refresh.String()+")")...)
	}
	foot = append(foot, m.statusLines()...)
	foot = append(foot, m.block(m.styles.Help, m.helpLine())...)
	room := m.height - len(head) - len(foot) - 2
	if room < 3 {
		room = 3
	}
	// Show the items from the first one that keeps the selected one on the screen.
	first, used := 0, 0
	for i := 0; i <= m.cursor && i < len(items); i++ {
		used += len(items[i]) + 1
		for used > room && first < i {
			used -= len(items[first]) + 1
			first++
		}
	}
	for i := first; i < len(items); i++ {
		if len(body)+len(items[i]) > room && i > m.cursor {
			break
		}
		body = append(body, items[i]...)
		body = append(body, "")
	}
	lines := append(append(head, ""), body...)
	lines = append(lines, foot...)
	return strings.Join(lines, "\n") + "\n"
}

// listItem draws one conversation of the list: who, how long it waits, the window, the note.
func (m *Inbox) listItem(c InboxConversation, selected bool) []string {
	now := m.now()
	who := []string{c.Contact}
	if c.Name != "" {
		who = append(who, c.Name)
	}
	if c.Queue != "" {
		who = append(who, c.Queue)
	}
	first, st := "  "+strings.Join(who, " · "), m.styles.Label
	if selected {
		first, st = "> "+strings.Join(who, " · "), m.styles.Cursor
	}
	out := m.block(st, first)
	var facts []string
	if !c.Since.IsZero() {
		facts = append(facts, "waiting "+human(now.Sub(c.Since)))
	}
	if c.Unread > 0 {
		facts = append(facts, fmt.Sprintf("%d unread", c.Unread))
	}
	window, wst := m.windowFact(c, now)
	facts = append(facts, window)
	if c.OptedOut {
		facts, wst = append(facts, "opted out"), m.styles.Error
	}
	out = append(out, m.block(wst, "    "+strings.Join(facts, " · "))...)
	if c.Note != "" {
		out = append(out, m.block(m.styles.Note, "    note: "+c.Note)...)
	}
	return out
}

// windowFact says how long the 24-hour window stays open, and how urgent that is.
func (m *Inbox) windowFact(c InboxConversation, now time.Time) (string, lipgloss.Style) {
	switch {
	case c.WindowClosesAt.IsZero():
		return "no window (templates only)", m.styles.Warn
	case !now.Before(c.WindowClosesAt):
		return "window closed " + human(now.Sub(c.WindowClosesAt)) + " ago (templates only)", m.styles.Warn
	case c.WindowClosesAt.Sub(now) < time.Hour:
		return "window " + human(c.WindowClosesAt.Sub(now)) + " left", m.styles.Warn
	}
	return "window " + human(c.WindowClosesAt.Sub(now)) + " left", m.styles.Muted
}

// human is a duration as an agent reads it: 45s, 12m, 3h 05m, 2d 4h.
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func (m *Inbox) convHead() []string {
	c, now := m.conv, m.now()
	who := []string{c.Contact}
	if c.Name != "" {
		who = append(who, c.Name)
	}
	if c.Queue != "" {
		who = append(who, c.Queue)
	}
	head := m.block(m.styles.Title, "gtc inbox — "+strings.Join(who, " · "))
	window, wst := m.windowFact(c, now)
	if !c.Since.IsZero() {
		window = "waiting " + human(now.Sub(c.Since)) + " · " + window
	}
	head = append(head, m.block(wst, window)...)
	if c.OptedOut {
		head = append(head, m.block(m.styles.Error, "opted out (sent STOP): replies are refused")...)
	}
	if c.Note != "" {
		head = append(head, m.block(m.styles.Note, "note: "+c.Note)...)
	}
	if m.gone {
		head = append(head, m.block(m.styles.Warn, "! no longer in the inbox: released or timed out, the bot has this contact again")...)
	}
	return append(head, m.block(m.styles.Muted, strings.Repeat("─", max(m.width, 1)))...)
}

func (m *Inbox) statusLines() []string {
	var out []string
	if m.status != "" {
		st := m.styles.Error
		if m.statusOK {
			st = m.styles.OK
		}
		out = append(out, m.block(st, m.status)...)
	}
	if m.advice != "" {
		out = append(out, m.block(m.styles.Muted, m.advice)...)
	}
	return out
}

func (m *Inbox) convFoot() []string {
	var foot []string
	if m.histErr != nil {
		foot = append(foot, m.block(m.styles.Error, "✗ could not read the conversation: "+m.histErr.Error())...)
	}
	if m.busy != "" {
		foot = append(foot, m.block(m.styles.Muted, m.busy)...)
	}
	foot = append(foot, m.statusLines()...)
	switch m.mode {
	case inboxReply:
		foot = append(foot, m.block(m.styles.Label, "Reply to "+m.conv.Contact)...)
		foot = append(foot, strings.Split(m.box.View(), "\n")...)
	case inboxNoteMode:
		foot = append(foot, m.block(m.styles.Label, "Note (internal: agents see it, the customer never does)")...)
		foot = append(foot, strings.Split(m.box.View(), "\n")...)
	case inboxTemplate, inboxRelease:
		if m.tform != nil {
			if m.mode == inboxTemplate && !m.conv.windowOpen(m.now()) {
				foot = append(foot, m.block(m.styles.Warn, "The 24-hour window is closed: only a template can be sent.")...)
			}
			foot = append(foot, strings.Split(strings.TrimRight(m.tform.view(), "\n"), "\n")...)
		}
		return foot
	case inboxTemplateSend:
		foot = append(foot, m.block(m.styles.Label, "Preview")...)
		foot = append(foot, strings.Split(renderMessage(m.styles, m.pending.Message(m.conv.Contact), m.width), "\n")...)
		if m.confirm != nil {
			foot = append(foot, strings.Split(m.confirm.view(), "\n")...)
		}
	case inboxReleaseSure:
		if m.confirm != nil {
			foot = append(foot, strings.Split(m.confirm.view(), "\n")...)
		}
	}
	return append(foot, m.block(m.styles.Help, m.helpLine())...)
}

// historyLines draws the loaded history, oldest first.
func (m *Inbox) historyLines() []string {
	var out []string
	if m.more {
		out = append(out, m.block(m.styles.Muted, "· older messages: scroll up")...)
	}
	switch {
	case !m.loaded && m.histErr == nil:
		out = append(out, m.block(m.styles.Muted, "· loading the conversation…")...)
	case m.loaded && len(m.history) == 0:
		out = append(out, m.block(m.styles.Muted, "· no messages yet")...)
	}
	for _, x := range m.history {
		out = append(out, strings.Split(m.renderInboxMessage(x), "\n")...)
	}
	return out
}

// stamp is when a message was sent, in the clock's location: the time today, else the day
// too.
func (m *Inbox) stamp(t time.Time) string {
	now := m.now()
	t = t.In(now.Location())
	if y, mo, d := now.Date(); t.Year() == y && t.Month() == mo && t.Day() == d {
		return t.Format("15:04")
	}
	return t.Format("Jan 2 15:04")
}

// tickOf is the status mark of an outbound message.
func tickOf(status string) string {
	switch status {
	case "":
		return ""
	case "sent":
		return " ✓"
	case "delivered":
		return " ✓✓"
	case "read":
		return " ✓✓ read"
	case "failed":
		return " ✗ failed"
	}
	return " · " + status
}

// renderInboxMessage draws one history entry wrapped to the screen: a text on a line after
// its time and author, anything else as a card under them.
func (m *Inbox) renderInboxMessage(x InboxMessage) string {
	s, width := m.styles, m.width
	stamp := m.stamp(x.At)
	switch x.Dir {
	case InboxNote:
		by := x.By
		if by == "" {
			by = "agent"
		}
		return renderLines(s.Note, wrap(printable(stamp+" note by "+by+" (internal): "+x.Text), width))
	case InboxIn:
		who := m.conv.Name
		if who == "" {
			who = "customer"
		}
		if x.In == nil {
			return renderLines(s.User, wrap(stamp+" "+who+": (message not recorded)", width))
		}
		text, card := inboundText(x.In)
		if card != "" {
			head := stamp + " " + who + ":"
			if text != "" {
				head += " " + text
			}
			return renderLines(s.User, wrap(printable(head), width)) + "\n" + renderCard(s, card, width)
		}
		return renderLines(s.User, wrap(printable(stamp+" "+who+": "+text), width))
	}
	by := x.By
	if by == "" {
		by = "bot"
	}
	st := s.Agent
	if by == "bot" {
		st = s.Bot
	}
	tick := tickOf(x.Status)
	var out string
	switch {
	case x.Out == nil:
		out = m.withTick(st, stamp+" "+by+": (message not recorded)", tick)
	case x.Out.Type == whatsapp.TypeText && x.Out.Text != nil && !strings.Contains(x.Out.Text.Body, "\n"):
		out = m.withTick(st, stamp+" "+by+": "+x.Out.Text.Body, tick)
	default:
		out = m.withTick(st, stamp+" "+by+":", tick) + "\n" + renderMessageCard(s, *x.Out, width)
	}
	if f := x.Failure; f != nil {
		why := "✗ failed"
		if f.Class != "" {
			why += " (" + string(f.Class) + ")"
		}
		if f.Title != "" {
			why += ": " + f.Title
		}
		if f.Code != 0 {
			why += fmt.Sprintf(" [%d]", f.Code)
		}
		if f.Class != "" {
			why += " — " + f.Class.Advice()
		}
		out += "\n" + renderLines(s.Error, wrap(printable("  "+why), width))
	}
	return out
}

// withTick draws text wrapped to the screen with the status tick after its last line, or
// under it (indented when that fits) rather than past the edge.
func (m *Inbox) withTick(st lipgloss.Style, text, tick string) string {
	text = wrap(printable(text), m.width)
	last := text[strings.LastIndex(text, "\n")+1:]
	if m.width > 0 && tick != "" && ansi.StringWidth(last)+ansi.StringWidth(tick) > m.width {
		if under := "     " + tick; ansi.StringWidth(under) <= m.width {
			tick = "\n" + under
		} else {
			tick = "\n" + strings.TrimLeft(tick, " ")
		}
	}
	return renderLines(st, text) + renderLines(m.styles.Tick, tick)
}

// inboundText is a customer's message as a line (text, a pressed button, a picked row), or
// as a card's text (media, location, anything longer).
func inboundText(in *whatsapp.InboundMessage) (line, card string) {
	switch {
	case in.Button != nil:
		return "[" + in.Button.Title + "]", ""
	case in.List != nil:
		l := "≡ " + in.List.Title
		if in.List.Description != "" {
			l += " — " + in.List.Description
		}
		return l, ""
	case in.Media != nil:
		md := in.Media
		kind := md.Type
		if kind == "" {
			kind = in.Type
		}
		if md.Voice {
			kind = "voice message"
		}
		c := kind + " media " + md.ID
		if md.Filename != "" {
			c += "\n" + md.Filename
		}
		if md.Caption != "" {
			c += "\n" + md.Caption
		}
		return "", c
	case in.Location != nil:
		c := fmt.Sprintf("location %g, %g", in.Location.Latitude, in.Location.Longitude)
		for _, l := range []string{in.Location.Name, in.Location.Address, in.Location.URL} {
			if l != "" {
				c += "\n" + l
			}
		}
		return "", c
	case in.Reaction != nil:
		if in.Reaction.Emoji == "" {
			return "(removed a reaction)", ""
		}
		return "reacted " + in.Reaction.Emoji, ""
	case in.FlowReply != nil:
		return "(submitted a form: " + in.FlowReply.Body + ")", ""
	case in.Type == whatsapp.TypeText || in.Text != "":
		return in.Text, ""
	}
	if in.Type == "" {
		return "(empty message)", ""
	}
	return "(" + in.Type + " message)", ""
}
