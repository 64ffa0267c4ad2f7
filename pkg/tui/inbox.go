package tui

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// InboxOptions are the inbox's settings.
type InboxOptions struct {
	// Queue lists only this queue's conversations ("" for all).
	Queue string
	// Refresh is how often the list and the open conversation are read again (0: 5s).
	Refresh time.Duration
	// Now is the clock (nil: time.Now); times are shown in its location.
	Now func() time.Time
	// Page is how many messages one History call reads (0: 50).
	Page int
	// Explain turns a failed reply's error into advice (ExplainSendError); optional.
	Explain func(error) string
}

// DefaultInboxRefresh is how often the inbox reads the list again.
const DefaultInboxRefresh = 5 * time.Second

type inboxMode int

const (
	inboxList         inboxMode = iota
	inboxConversation           // reading a conversation
	inboxReply                  // writing a free-form reply
	inboxNoteMode               // writing a note
	inboxTemplate               // picking a template and its parameters
	inboxTemplateSend           // the template's preview and "Send?"
	inboxRelease                // picking the node to release to
	inboxReleaseSure            // "Release?"
)

type (
	inboxTickMsg struct{}
	inboxListMsg struct {
		convs []InboxConversation
		err   error
	}
	inboxHistoryMsg struct {
		contact string
		msgs    []InboxMessage
		older   bool // a page before the loaded ones
		err     error
	}
	inboxTemplatesMsg struct {
		templates []Template
		err       error
	}
	// inboxDoneMsg is the outcome of a reply, note or release.
	inboxDoneMsg struct {
		what    string // reply, template, note, release
		contact string
		node    string
		err     error
	}
)

// Inbox is the agents' inbox screen: the open handoffs, one conversation's history, and a
// reply box, template picker, notes and release.
type Inbox struct {
	styles  *Styles
	keys    KeyMap
	ctx     context.Context
	backend InboxBackend
	opts    InboxOptions

	width, height int
	mode          inboxMode
	busy          string // what is being done ("" when idle)

	convs   []InboxConversation
	listed  bool
	listErr error
	cursor  int

	// The open conversation.
	conv     InboxConversation
	gone     bool // no longer in the list (released elsewhere, timed out)
	history  []InboxMessage
	histErr  error
	loaded   bool // the first page arrived
	more     bool // older messages may exist
	scroll   int  // lines scrolled up from the newest
	box      textarea.Model
	drafts   map[string]string // unsent replies by contact
	status   string            // the last action's outcome
	statusOK bool
	advice   string

	templates    []Template
	templatesErr error
	tform        *form
	confirm      *confirm
	pending      InboxReply
	node         string

	// Quit is true once the agent left the inbox; Cancelled when by Ctrl+C.
	Quit, Cancelled bool
}

// NewInbox builds the inbox over backend.
func NewInbox(ctx context.Context, s *Styles, k KeyMap, backend InboxBackend, opts InboxOptions) *Inbox {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultInboxRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Page <= 0 {
		opts.Page = 50
	}
	if ctx == nil {
		ctx = context.Background()
	}
	m := &Inbox{styles: s, keys: k, ctx: ctx, backend: backend, opts: opts, width: 80, height: 24, drafts: map[string]string{}}
	m.box = newInboxBox(s, k)
	m.resize(80, 24)
	return m
}

// newInboxBox is the reply and note box: it wraps long text; enter sends, the Newline key
// breaks a line.
func newInboxBox(s *Styles, k KeyMap) textarea.Model {
	b := textarea.New()
	b.ShowLineNumbers = false
	b.Prompt = "│ "
	b.CharLimit = whatsapp.MaxTextBody
	b.MaxHeight = 0
	b.KeyMap.InsertNewline = k.Newline
	plain := s.renderer.NewStyle()
	st := textarea.Style{Base: plain, CursorLine: plain, CursorLineNumber: plain, EndOfBuffer: s.Muted,
		LineNumber: s.Muted, Placeholder: s.Muted, Prompt: s.Prompt, Text: plain}
	b.FocusedStyle, b.BlurredStyle = st, st
	b.Cursor.Style, b.Cursor.TextStyle = s.Cursor, plain
	b.Cursor.SetMode(1) // static: no blink, so the screen only changes when something does
	b.SetHeight(3)
	return b
}

func (m *Inbox) resize(w, h int) {
	if w > 0 {
		m.width = w
	}
	if h > 0 {
		m.height = h
	}
	m.box.SetWidth(m.width)
	if m.tform != nil {
		m.tform.resize(m.width)
	}
	if m.confirm != nil {
		m.confirm.resize(m.width)
	}
}

func (m *Inbox) now() time.Time { return m.opts.Now() }

// Init lists the conversations and starts the refresh tick.
func (m *Inbox) Init() tea.Cmd { return tea.Batch(m.list, m.tick()) }

func (m *Inbox) tick() tea.Cmd {
	return tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return inboxTickMsg{} })
}

func (m *Inbox) list() tea.Msg {
	convs, err := m.backend.List(m.ctx, InboxFilter{Queue: m.opts.Queue})
	return inboxListMsg{convs: convs, err: err}
}

// loadHistory reads the newest page of the open conversation and marks it read.
func (m *Inbox) loadHistory() tea.Cmd {
	contact, limit := m.conv.Contact, m.opts.Page
	return func() tea.Msg {
		msgs, err := m.backend.History(m.ctx, contact, "", limit)
		if err == nil {
			err = m.backend.MarkRead(m.ctx, contact)
		}
		return inboxHistoryMsg{contact: contact, msgs: msgs, err: err}
	}
}

// loadOlder reads the page before the oldest loaded message.
func (m *Inbox) loadOlder() tea.Cmd {
	if !m.more || len(m.history) == 0 || m.busy != "" {
		return nil
	}
	m.busy = "Loading older messages…"
	contact, before, limit := m.conv.Contact, m.history[0].Cursor, m.opts.Page
	return func() tea.Msg {
		msgs, err := m.backend.History(m.ctx, contact, before, limit)
		return inboxHistoryMsg{contact: contact, msgs: msgs, older: true, err: err}
	}
}

func (m *Inbox) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case inboxTickMsg:
		if m.Quit {
			return m, nil
		}
		cmds := []tea.Cmd{m.list, m.tick()}
		if m.mode != inboxList {
			cmds = append(cmds, m.loadHistory())
		}
		return m, tea.Batch(cmds...)
	case inboxListMsg:
		m.gotList(msg)
		return m, nil
	case inboxHistoryMsg:
		m.gotHistory(msg)
		return m, nil
	case inboxTemplatesMsg:
		return m, m.gotTemplates(msg)
	case inboxDoneMsg:
		return m, m.done(msg)
	case tea.KeyMsg:
		if key.Matches(msg, m.keys.Quit) {
			m.Quit, m.Cancelled = true, true
			return m, tea.Quit
		}
		if m.busy != "" && m.mode != inboxConversation && m.mode != inboxList {
			return m, nil
		}
		return m, m.key(msg)
	}
	return m, m.forward(msg)
}

// forward passes other messages (cursor, focus) to the field in use.
func (m *Inbox) forward(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch m.mode {
	case inboxReply, inboxNoteMode:
		m.box, cmd = m.box.Update(msg)
	case inboxTemplate, inboxRelease:
		if m.tform != nil {
			_, cmd = m.tform.update(msg)
		}
	case inboxTemplateSend, inboxReleaseSure:
		if m.confirm != nil {
			_, cmd = m.confirm.update(msg)
		}
	}
	return cmd
}

func (m *Inbox) gotList(msg inboxListMsg) {
	m.listed = true
	m.listErr = msg.err
	if msg.err != nil {
		return // keep showing the last list
	}
	selected := ""
	if m.cursor < len(m.convs) {
		selected = m.convs[m.cursor].Contact
	}
	m.convs = msg.convs
	m.cursor = 0
	for i, c := range m.convs {
		if c.Contact == selected {
			m.cursor = i
		}
	}
	if m.mode != inboxList {
		m.gone = true
		for _, c := range m.convs {
			if c.Contact == m.conv.Contact {
				m.conv, m.gone = c, false
				m.conv.Unread = 0
			}
		}
	}
}

func (m *Inbox) gotHistory(msg inboxHistoryMsg) {
	if msg.older {
		m.busy = ""
	}
	if m.mode == inboxList || msg.contact != m.conv.Contact {
		return // a late answer for a conversation no longer open
	}
	m.histErr = msg.err
	if msg.err != nil {
		return
	}
	m.loaded = true
	if msg.older {
		m.more = len(msg.msgs) >= m.opts.Page
	} else if m.history == nil {
		m.more = len(msg.msgs) >= m.opts.Page
	}
	before := len(m.historyLines())
	m.history = mergeHistory(m.history, msg.msgs)
	if m.scroll > 0 && !msg.older {
		// Scrolled up: newer lines arrive below, so keep the lines being read in place.
		m.scroll += len(m.historyLines()) - before
	}
}

// mergeHistory adds msgs to h: a message already there is replaced (its status moved on),
// and the result is in time order.
func mergeHistory(h, msgs []InboxMessage) []InboxMessage {
	at := map[string]int{}
	out := append([]InboxMessage(nil), h...)
	for i, x := range out {
		at[x.ID] = i
	}
	for _, x := range msgs {
		if i, ok := at[x.ID]; ok && x.ID != "" {
			out[i] = x
			continue
		}
		at[x.ID] = len(out)
		out = append(out, x)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func (m *Inbox) gotTemplates(msg inboxTemplatesMsg) tea.Cmd {
	m.busy = ""
	m.templates, m.templatesErr = msg.templates, msg.err
	if m.templatesErr == nil && len(m.templates) == 0 {
		m.templatesErr = errors.New("the business account has no approved templates")
	}
	if m.templatesErr != nil {
		m.mode = inboxConversation
		m.setStatus(false, "✗ could not list the templates: "+m.templatesErr.Error(), "")
		m.templates = nil
		return nil
	}
	return m.startTemplate()
}

func (m *Inbox) setStatus(ok bool, text, advice string) {
	m.status, m.statusOK, m.advice = text, ok, advice
}

// done handles the outcome of a reply, note or release.
func (m *Inbox) done(msg inboxDoneMsg) tea.Cmd {
	m.busy = ""
	if msg.err != nil {
		text, advice := "✗ not sent: "+msg.err.Error(), ""
		var ref *InboxRefusal
		switch {
		case errors.As(msg.err, &ref):
			text = "✗ refused: " + ref.Reason
			switch ref.Code {
			case RefusedWindowClosed:
				advice = "The 24-hour window is closed: press t to send a template."
			case RefusedNotHandedOff:
				advice = "The bot has this conversation again; it is no longer in the inbox."
			}
		case msg.what == "note":
			text = "✗ note not saved: " + msg.err.Error()
		case msg.what == "release":
			text = "✗ not released: " + msg.err.Error()
		case m.opts.Explain != nil:
			advice = m.opts.Explain(msg.err)
		}
		m.setStatus(false, text, advice)
		switch msg.what {
		case "reply", "note": // the text stays in the box to edit or copy
			m.box.Focus()
			return nil
		}
		m.mode = inboxConversation
		m.tform, m.confirm = nil, nil
		return nil
	}
	switch msg.what {
	case "reply", "template":
		m.setStatus(true, "✓ reply queued for "+msg.contact, "")
		delete(m.drafts, msg.contact)
	case "note":
		m.setStatus(true, "✓ note added (internal, not sent)", "")
	case "release":
		where := "the conversation ended; the next message goes to the triggers"
		if msg.node != "" {
			where = "the bot resumes at " + msg.node
		}
		m.setStatus(true, "✓ released "+msg.contact+" to the bot: "+where, "")
		m.closeConversation()
		return m.list
	}
	m.box.Reset()
	m.box.Blur()
	m.mode = inboxConversation
	m.tform, m.confirm = nil, nil
	m.scroll = 0
	return m.loadHistory()
}

func (m *Inbox) openConversation(c InboxConversation) tea.Cmd {
	m.mode = inboxConversation
	m.conv, m.gone = c, false
	m.conv.Unread = 0
	m.history, m.histErr, m.more, m.scroll, m.loaded = nil, nil, false, 0, false
	m.setStatus(false, "", "")
	return m.loadHistory()
}

func (m *Inbox) closeConversation() {
	m.mode = inboxList
	m.history, m.histErr = nil, nil
	m.tform, m.confirm = nil, nil
	m.box.Blur()
}

func (m *Inbox) key(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch m.mode {
	case inboxList:
		switch {
		case key.Matches(msg, k.Close):
			m.Quit = true
			return tea.Quit
		case key.Matches(msg, k.Up):
			if m.cursor > 0 {
				m.cursor--
			}
		case key.Matches(msg, k.Down):
			if m.cursor < len(m.convs)-1 {
				m.cursor++
			}
		case key.Matches(msg, k.Next):
			if m.cursor < len(m.convs) {
				return m.openConversation(m.convs[m.cursor])
			}
		}
		return nil
	case inboxConversation:
		page := m.bodyRoom() - 1
		switch {
		case key.Matches(msg, k.Back):
			m.closeConversation()
			m.setStatus(false, "", "")
			return m.list
		case key.Matches(msg, k.Up):
			return m.scrollBy(1)
		case key.Matches(msg, k.Down):
			return m.scrollBy(-1)
		case key.Matches(msg, k.PageUp):
			return m.scrollBy(page)
		case key.Matches(msg, k.PageDown):
			return m.scrollBy(-page)
		case key.Matches(msg, k.Reply):
			if !m.conv.windowOpen(m.now()) {
				return m.pickTemplate()
			}
			m.mode = inboxReply
			m.setStatus(false, "", "")
			m.box.Reset()
			m.box.SetValue(m.drafts[m.conv.Contact])
			return m.box.Focus()
		case key.Matches(msg, k.Template):
			return m.pickTemplate()
		case key.Matches(msg, k.Note):
			m.mode = inboxNoteMode
			m.setStatus(false, "", "")
			m.box.Reset()
			return m.box.Focus()
		case key.Matches(msg, k.Release):
			return m.pickRelease()
		}
		return nil
	case inboxReply, inboxNoteMode:
		switch {
		case key.Matches(msg, k.PageUp): // the conversation scrolls while typing
			return m.scrollBy(m.bodyRoom() - 1)
		case key.Matches(msg, k.PageDown):
			return m.scrollBy(1 - m.bodyRoom())
		case key.Matches(msg, k.Back):
			if m.mode == inboxReply {
				m.drafts[m.conv.Contact] = m.box.Value()
			}
			m.box.Blur()
			m.mode = inboxConversation
			return nil
		case key.Matches(msg, k.Next):
			text := strings.TrimSpace(m.box.Value())
			if text == "" {
				return nil
			}
			contact := m.conv.Contact
			if m.mode == inboxNoteMode {
				m.busy = "Saving the note…"
				return func() tea.Msg {
					return inboxDoneMsg{what: "note", contact: contact, err: m.backend.Note(m.ctx, contact, text)}
				}
			}
			m.drafts[contact] = m.box.Value()
			m.busy = "Sending…"
			return func() tea.Msg {
				return inboxDoneMsg{what: "reply", contact: contact, err: m.backend.Reply(m.ctx, contact, InboxReply{Text: text})}
			}
		}
		var cmd tea.Cmd
		m.box, cmd = m.box.Update(msg)
		return cmd
	case inboxTemplate, inboxRelease:
		if key.Matches(msg, k.Back) && m.tform.idx == 0 {
			m.mode, m.tform = inboxConversation, nil
			return nil
		}
		finished, cmd := m.tform.update(msg)
		if !finished {
			return cmd
		}
		if m.mode == inboxRelease {
			return m.askRelease()
		}
		return m.askTemplate()
	case inboxTemplateSend, inboxReleaseSure:
		if key.Matches(msg, k.Back) {
			return m.reopenForm()
		}
		answered, cmd := m.confirm.update(msg)
		if !answered {
			return cmd
		}
		if !m.confirm.yes {
			return m.reopenForm()
		}
		contact, node, reply := m.conv.Contact, m.node, m.pending
		m.confirm = nil
		if m.mode == inboxReleaseSure {
			m.busy = "Releasing…"
			return func() tea.Msg {
				return inboxDoneMsg{what: "release", contact: contact, node: node, err: m.backend.Release(m.ctx, contact, node)}
			}
		}
		m.busy = "Sending…"
		return func() tea.Msg {
			return inboxDoneMsg{what: "template", contact: contact, err: m.backend.Reply(m.ctx, contact, reply)}
		}
	}
	return nil
}

// reopenForm goes back from a confirm question to the form's last question.
func (m *Inbox) reopenForm() tea.Cmd {
	m.confirm = nil
	if m.mode == inboxReleaseSure {
		m.mode = inboxRelease
	} else {
		m.mode = inboxTemplate
	}
	return m.tform.back()
}

// scrollBy moves the conversation n lines up (negative: down); past the oldest loaded
// message it loads the page before.
func (m *Inbox) scrollBy(n int) tea.Cmd {
	m.scroll += n
	if m.scroll < 0 {
		m.scroll = 0
	}
	if max := m.maxScroll(); m.scroll >= max {
		m.scroll = max
		if n > 0 {
			return m.loadOlder()
		}
	}
	return nil
}

func (m *Inbox) maxScroll() int {
	n := len(m.historyLines()) - m.bodyRoom()
	if n < 0 {
		return 0
	}
	return n
}

// pickTemplate starts the template picker, loading the templates the first time.
func (m *Inbox) pickTemplate() tea.Cmd {
	m.setStatus(false, "", "")
	m.mode = inboxTemplate
	if m.templates == nil {
		m.busy = "Loading the business account's templates…"
		return func() tea.Msg {
			ts, err := m.backend.Templates(m.ctx)
			return inboxTemplatesMsg{templates: ts, err: err}
		}
	}
	return m.startTemplate()
}

// startTemplate asks for the template, then each of its parameters (the composer's
// questions).
func (m *Inbox) startTemplate() tea.Cmd {
	m.mode = inboxTemplate
	m.tform = newForm(m.styles, m.keys, nil, m.templatePlan)
	m.tform.keysHelp = "enter next • esc back • ctrl+c quit"
	m.tform.resize(m.width)
	return m.tform.init()
}

func (m *Inbox) templatePlan(v map[string]string) []Field {
	choices := make([]Choice, len(m.templates))
	for i, t := range m.templates {
		choices[i] = Choice{Label: t.Name, Value: strconv.Itoa(i), Detail: t.Language + " · " + strings.ToLower(t.Category) + " · " + plural(len(t.Params), "parameter")}
	}
	fs := []Field{{Key: "template", Title: "template", Help: "Approved templates of the business account.", Choices: choices, Decides: true}}
	if t, ok := m.chosenTemplate(v); ok {
		for i, p := range t.Params {
			fs = append(fs, paramField("param"+strconv.Itoa(i), p))
		}
	}
	return fs
}

func (m *Inbox) chosenTemplate(v map[string]string) (Template, bool) {
	i, err := strconv.Atoi(v["template"])
	if err != nil || i < 0 || i >= len(m.templates) {
		return Template{}, false
	}
	return m.templates[i], true
}

// askTemplate builds the template reply and asks whether to send it.
func (m *Inbox) askTemplate() tea.Cmd {
	v := m.tform.values
	t, _ := m.chosenTemplate(v)
	values := make([]string, len(t.Params))
	for i := range t.Params {
		values[i] = v["param"+strconv.Itoa(i)]
	}
	m.pending = InboxReply{Template: &whatsapp.Template{Name: t.Name, Language: whatsapp.Language{Code: t.Language},
		Components: templateComponents(t.Params, values)}}
	m.mode = inboxTemplateSend
	var cmd tea.Cmd
	m.confirm, cmd = newConfirm(m.styles, m.keys, m.width, "Send to "+m.conv.Contact+"?", "Send", "No, edit")
	return cmd
}

// pickRelease asks for the node the bot resumes at.
func (m *Inbox) pickRelease() tea.Cmd {
	m.setStatus(false, "", "")
	m.mode = inboxRelease
	choices := []Choice{{Label: "(none)", Value: "", Detail: "the conversation ends; the next message goes to the triggers"}}
	for _, n := range m.backend.Nodes() {
		choices = append(choices, Choice{Label: n, Value: n})
	}
	m.tform = newForm(m.styles, m.keys, nil, func(map[string]string) []Field {
		return []Field{{Key: "node", Title: "release to the bot", Help: "Where the bot resumes with " + m.conv.Contact + ".", Choices: choices}}
	})
	m.tform.keysHelp = "enter next • esc back • ctrl+c quit"
	m.tform.resize(m.width)
	return m.tform.init()
}

func (m *Inbox) askRelease() tea.Cmd {
	m.node = m.tform.values["node"]
	q := "Release " + m.conv.Contact + " to the bot? The conversation ends."
	if m.node != "" {
		q = "Release " + m.conv.Contact + " to the bot at " + m.node + "?"
	}
	m.mode = inboxReleaseSure
	var cmd tea.Cmd
	m.confirm, cmd = newConfirm(m.styles, m.keys, m.width, q, "Release", "No")
	return cmd
}
