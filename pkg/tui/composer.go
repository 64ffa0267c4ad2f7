package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Template is an approved message template as the composer offers it.
type Template struct {
	Name     string
	Language string
	Category string
	Params   []TemplateParam
}

// TemplateParam is one parameter a template declares: a placeholder {{1}} (Index) or
// {{name}} (Name) in a component's text (header, body, or a URL button's link), a media
// header (Format image, video or document: a link is asked for), or a quick-reply button's
// payload (ButtonType quick_reply).
type TemplateParam struct {
	Component   string // header, body, button
	ButtonIndex string // "0".."9" for a button's parameter
	ButtonType  string // url or quick_reply for a button's parameter ("" means url)
	ButtonText  string // the button's title, for the prompt
	Format      string // image, video or document for a media header; "" for text
	Index       int    // positional placeholder number, 0 for a named one
	Name        string // named placeholder
	Example     string
}

// media reports whether p is a media header (its value is a link).
func (p TemplateParam) media() bool { return p.Format != "" }

// payload reports whether p is a quick-reply button's payload (optional).
func (p TemplateParam) payload() bool { return p.ButtonType == "quick_reply" }

// Label names the parameter for a prompt: "body {{1}}", "header image", "button 1 payload".
func (p TemplateParam) Label() string {
	c := p.Component
	if c == "button" {
		c = "button " + p.ButtonIndex
	}
	switch {
	case p.media():
		return c + " " + p.Format
	case p.payload():
		return c + " payload"
	}
	ph := p.Name
	if p.Index > 0 {
		ph = strconv.Itoa(p.Index)
	}
	return c + " {{" + ph + "}}"
}

// TemplateFromInfo lists every parameter of a template as Graph describes it, in the order
// Meta wants the components: header (text placeholders, or one image, video or document
// link), body placeholders (with the template's examples), then each button's (a URL
// button's placeholders, a quick-reply button's payload). A location header and the other
// button types take no parameter the composer asks for.
func TemplateFromInfo(ti whatsapp.TemplateInfo) Template {
	t := Template{Name: ti.Name, Language: ti.Language, Category: ti.Category}
	for _, c := range ti.Components {
		typ := strings.ToLower(c.Type)
		switch typ {
		case "header":
			switch f := strings.ToLower(c.Format); f {
			case "", "text":
				t.Params = append(t.Params, withExamples(ParamsFromText("header", "", c.Text), c.Example, "header_text")...)
			case "image", "video", "document":
				t.Params = append(t.Params, TemplateParam{Component: "header", Format: f, Example: firstExample(c.Example, "header_handle")})
			}
		case "body":
			t.Params = append(t.Params, withExamples(ParamsFromText("body", "", c.Text), c.Example, "body_text")...)
		case "buttons":
			for i, bt := range c.Buttons {
				idx := strconv.Itoa(i)
				switch strings.ToLower(bt.Type) {
				case "url":
					for _, p := range ParamsFromText("button", idx, bt.URL) {
						p.ButtonType, p.ButtonText = "url", bt.Text
						t.Params = append(t.Params, p)
					}
				case "quick_reply":
					t.Params = append(t.Params, TemplateParam{Component: "button", ButtonIndex: idx, ButtonType: "quick_reply", ButtonText: bt.Text})
				}
			}
		}
	}
	return t
}

// withExamples fills the examples of a component's placeholders from its "example" object
// ({"body_text":[["Alice","A-1"]]} or {"header_text":["Alice"]}), when it has them.
func withExamples(ps []TemplateParam, raw json.RawMessage, field string) []TemplateParam {
	if len(raw) == 0 {
		return ps
	}
	var ex map[string]json.RawMessage
	if json.Unmarshal(raw, &ex) != nil {
		return ps
	}
	var vals []string
	var nested [][]string
	if json.Unmarshal(ex[field], &nested) == nil && len(nested) > 0 {
		vals = nested[0]
	} else {
		_ = json.Unmarshal(ex[field], &vals)
	}
	for i := range ps {
		if i < len(vals) {
			ps[i].Example = vals[i]
		}
	}
	return ps
}

func firstExample(raw json.RawMessage, field string) string {
	ps := withExamples([]TemplateParam{{}}, raw, field)
	return ps[0].Example
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// ParamsFromText lists the placeholders of one component's text ("Hi {{1}}, order {{2}}"),
// each once, in order of appearance.
func ParamsFromText(component, buttonIndex, text string) []TemplateParam {
	var out []TemplateParam
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		p := TemplateParam{Component: component, ButtonIndex: buttonIndex}
		if n, err := strconv.Atoi(m[1]); err == nil {
			p.Index = n
		} else {
			p.Name = m[1]
		}
		out = append(out, p)
	}
	return out
}

// ComposerBackend is what the composer needs from the Graph API client.
type ComposerBackend interface {
	// ListTemplates returns the business account's approved templates.
	ListTemplates(ctx context.Context) ([]Template, error)
	// Send sends one message and returns its message id.
	Send(ctx context.Context, m *whatsapp.Message) (string, error)
}

// ComposerConfig configures the composer.
type ComposerConfig struct {
	Styles  *Styles
	Keys    KeyMap
	Context context.Context
	Backend ComposerBackend
	// Normalize checks and normalizes a recipient to E.164 (whatsapp.NormalizeE164).
	Normalize func(string) (string, error)
	// CheckRecipient checks the normalized recipient when it is entered, before anything is
	// composed (an opted-out contact is refused there); optional.
	CheckRecipient func(to string) error
	// Check validates the finished message before the preview (Message.Validate, the 24-hour
	// window); optional.
	Check func(*whatsapp.Message) error
	// Explain turns a send error into its class and advice for the result screen; optional.
	Explain func(error) string
	// To pre-fills the recipient.
	To string
}

// Composer kinds, in the order the composer offers them.
var composerKinds = []Choice{
	{Label: "text", Value: "text"},
	{Label: "template", Value: "template", Detail: "the only kind allowed outside the 24-hour window"},
	{Label: "buttons", Value: "buttons", Detail: "up to 3 reply buttons"},
	{Label: "list", Value: "list", Detail: "up to 10 rows"},
	{Label: "image", Value: "image"},
	{Label: "document", Value: "document"},
	{Label: "audio", Value: "audio"},
	{Label: "video", Value: "video"},
	{Label: "location", Value: "location"},
}

type composerStage int

const (
	stageFields composerStage = iota
	stageLoading
	stagePreview
	stageSending
	stageFailed // the send failed: edit and retry, or quit
	stageResult
)

type templatesMsg struct {
	templates []Template
	err       error
}

type sentMsg struct {
	id  string
	err error
}

// Composer is the message composer's model: each question is a huh form (see form), the
// preview ends with a huh.Confirm "Send to …?". A failed send shows its error and advice once
// and asks whether to edit and try again. After Run, read Cancelled, Sent, MessageID and
// SendErr (the last attempt's error, already shown on the screen).
type Composer struct {
	cfg     ComposerConfig
	form    *form
	stage   composerStage
	confirm *confirm // the send question of the preview (nil when the message has a problem), or the retry question after a failed send

	templates     []Template
	templatesErr  error
	templatesDone bool

	message  *whatsapp.Message
	buildErr error

	// Cancelled is true after Ctrl+C (nothing was sent).
	Cancelled bool
	// Sent is true once a send was attempted; MessageID or SendErr hold the outcome.
	Sent      bool
	MessageID string
	SendErr   error
}

// NewComposer builds the composer.
func NewComposer(cfg ComposerConfig) *Composer {
	if cfg.Styles == nil {
		cfg.Styles = PlainStyles()
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	c := &Composer{cfg: cfg}
	values := map[string]string{}
	if cfg.To != "" {
		values["to"] = cfg.To
	}
	c.form = newForm(cfg.Styles, cfg.Keys, values, c.plan)
	return c
}

// Init starts the first field's form (focus, cursor blink).
func (c *Composer) Init() tea.Cmd { return c.form.init() }

func (c *Composer) loadTemplates() tea.Msg {
	ts, err := c.cfg.Backend.ListTemplates(c.cfg.Context)
	return templatesMsg{templates: ts, err: err}
}

func (c *Composer) send() tea.Msg {
	id, err := c.cfg.Backend.Send(c.cfg.Context, c.message)
	return sentMsg{id: id, err: err}
}

// edit leaves the preview for the last question.
func (c *Composer) edit() tea.Cmd {
	c.stage = stageFields
	c.confirm = nil
	return c.form.back()
}

func (c *Composer) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.form.resize(msg.Width)
		if c.confirm != nil {
			c.confirm.resize(c.form.width)
		}
		return c, nil
	case templatesMsg:
		c.templates, c.templatesErr, c.templatesDone = msg.templates, msg.err, true
		if c.templatesErr == nil && len(c.templates) == 0 {
			c.templatesErr = errors.New("the business account has no approved templates")
		}
		c.stage = stageFields
		return c, c.form.enter()
	case sentMsg:
		c.Sent, c.MessageID, c.SendErr = true, msg.id, msg.err
		if msg.err == nil {
			c.stage = stageResult
			return c, tea.Quit // the result stays on the screen
		}
		c.stage = stageFailed
		var cmd tea.Cmd
		c.confirm, cmd = newConfirm(c.cfg.Styles, c.cfg.Keys, c.form.width, "Edit the message and try again?", "Edit", "Quit")
		return c, cmd
	case tea.KeyMsg:
		if key.Matches(msg, c.cfg.Keys.Quit) {
			switch c.stage {
			case stageFailed: // nothing more was sent: quit with the error shown
				c.stage, c.confirm = stageResult, nil
			case stageResult:
			default:
				c.Cancelled = true
			}
			return c, tea.Quit
		}
		switch c.stage {
		case stageLoading, stageSending:
			return c, nil
		case stageResult:
			return c, tea.Quit
		case stagePreview:
			if key.Matches(msg, c.cfg.Keys.Back) || (c.confirm == nil && key.Matches(msg, c.cfg.Keys.Deny)) {
				return c, c.edit()
			}
		case stageFailed:
			if key.Matches(msg, c.cfg.Keys.Back) {
				return c, c.edit()
			}
		}
	}
	switch c.stage {
	case stageFailed:
		answered, cmd := c.confirm.update(msg)
		switch {
		case !answered:
			return c, cmd
		case c.confirm.yes:
			return c, c.edit()
		default: // quit: the error stays on the screen
			c.stage = stageResult
			c.confirm = nil
			return c, tea.Quit
		}
	case stagePreview:
		if c.confirm == nil {
			return c, nil
		}
		answered, cmd := c.confirm.update(msg)
		switch {
		case !answered:
			return c, cmd
		case c.confirm.yes:
			c.stage = stageSending
			return c, c.send
		default: // "no, edit"
			return c, c.edit()
		}
	case stageFields:
	default:
		return c, nil
	}
	done, cmd := c.form.update(msg)
	if c.form.values["kind"] == "template" && !c.templatesDone && c.cfg.Backend != nil {
		if _, asked := c.form.values["template"]; !asked && c.form.idx == 2 {
			c.stage = stageLoading
			return c, tea.Batch(cmd, c.loadTemplates)
		}
	}
	if done {
		c.message, c.buildErr = c.build()
		if c.buildErr == nil && c.cfg.Check != nil {
			c.buildErr = c.cfg.Check(c.message)
		}
		c.stage = stagePreview
		c.confirm = nil
		if c.buildErr == nil {
			c.confirm, cmd = newConfirm(c.cfg.Styles, c.cfg.Keys, c.form.width, "Send to "+c.message.To+"?", "Send", "No, edit")
		}
	}
	return c, cmd
}

func (c *Composer) View() string {
	s := c.cfg.Styles
	var b strings.Builder
	b.WriteString(renderLines(s.Title, wrap("gtc send — compose a message", c.form.width)) + "\n\n")
	switch c.stage {
	case stageLoading:
		b.WriteString(renderLines(s.Muted, wrap("Loading the business account's templates…", c.form.width)) + "\n")
	case stageFields:
		b.WriteString(c.form.view())
	case stagePreview, stageSending:
		b.WriteString(s.Label.Render("Preview") + "\n")
		b.WriteString(renderMessage(s, c.message, c.form.width) + "\n")
		if c.buildErr != nil {
			b.WriteString(renderLines(s.Error, wrap("✗ "+c.buildErr.Error(), c.form.width)) + "\n")
			b.WriteString("\n" + renderLines(s.Help, wrap("n edit • ctrl+c cancel", c.form.width)) + "\n")
			break
		}
		if c.stage == stageSending {
			b.WriteString("\n" + renderLines(s.Muted, wrap("Sending…", c.form.width)) + "\n")
			break
		}
		b.WriteString("\n" + c.confirm.view() + "\n")
		b.WriteString("\n" + renderLines(s.Help, wrap("y send • n edit • ←/→ choose • ctrl+c cancel", c.form.width)) + "\n")
	case stageFailed, stageResult:
		if c.SendErr == nil {
			b.WriteString(s.OK.Render("✓ sent, message id "+c.MessageID) + "\n")
			break
		}
		b.WriteString(renderMessage(s, c.message, c.form.width) + "\n")
		b.WriteString(renderLines(s.Error, wrap("✗ not sent: "+c.SendErr.Error(), c.form.width)) + "\n")
		if c.cfg.Explain != nil {
			if adv := c.cfg.Explain(c.SendErr); adv != "" {
				b.WriteString(renderLines(s.Muted, wrap(adv, c.form.width)) + "\n")
			}
		}
		if c.stage == stageFailed {
			b.WriteString("\n" + c.confirm.view() + "\n")
			b.WriteString("\n" + renderLines(s.Help, wrap("y edit and retry • n quit • ←/→ choose • ctrl+c quit", c.form.width)) + "\n")
		}
	}
	return b.String()
}

// plan lists the fields for the answers so far.
func (c *Composer) plan(v map[string]string) []Field {
	fs := []Field{
		{Key: "to", Title: "recipient", Help: "The customer's phone number in international format, like +4915123456789.",
			Validate: func(s string) error {
				if c.cfg.Normalize == nil {
					if s == "" {
						return errors.New("the recipient is required")
					}
					return nil
				}
				_, err := c.cfg.Normalize(s)
				return err
			},
			Check: func(s string) error {
				if c.cfg.CheckRecipient == nil {
					return nil
				}
				if c.cfg.Normalize != nil {
					n, err := c.cfg.Normalize(s)
					if err != nil {
						return err
					}
					s = n
				}
				return c.cfg.CheckRecipient(s)
			}},
		{Key: "kind", Title: "kind", Help: "What to send.", Choices: composerKinds, Decides: true},
	}
	req := func(what string, max int) func(string) error {
		return func(s string) error {
			if s == "" {
				return fmt.Errorf("%s is required", what)
			}
			if max > 0 && len([]rune(s)) > max {
				return fmt.Errorf("%s is %d characters, at most %d are allowed", what, len([]rune(s)), max)
			}
			return nil
		}
	}
	opt := func(what string, max int) func(string) error {
		return func(s string) error {
			if s == "" {
				return nil
			}
			return req(what, max)(s)
		}
	}
	switch v["kind"] {
	case "text":
		fs = append(fs, Field{Key: "body", Title: "text", Help: "The message text (up to 4096 characters).", Validate: req("the text", whatsapp.MaxTextBody)})
	case "template":
		fs = append(fs, c.templateFields(v)...)
	case "buttons":
		fs = append(fs,
			Field{Key: "body", Title: "body", Help: "The text above the buttons.", Validate: req("the body", whatsapp.MaxInteractiveBody)},
			Field{Key: "button1", Title: "button 1", Help: "First button title (up to 20 characters).", Validate: req("the first button", whatsapp.MaxButtonTitle)},
			Field{Key: "button2", Title: "button 2", Help: "Second button title (optional).", Validate: opt("the second button", whatsapp.MaxButtonTitle)},
			Field{Key: "button3", Title: "button 3", Help: "Third button title (optional).", Validate: opt("the third button", whatsapp.MaxButtonTitle)})
	case "list":
		fs = append(fs,
			Field{Key: "body", Title: "body", Help: "The text above the list button.", Validate: req("the body", whatsapp.MaxTextBody)},
			Field{Key: "button", Title: "list button", Help: "The label of the button that opens the list (up to 20 characters).", Default: "Options", Validate: req("the list button", whatsapp.MaxListButton)},
			Field{Key: "rows", Title: "rows", Help: "Row titles separated by ; (1 to 10 rows, each up to 24 characters), like Billing; Technical support.", Validate: func(s string) error {
				rows := splitList(s)
				if len(rows) == 0 || len(rows) > whatsapp.MaxRowsTotal {
					return fmt.Errorf("give 1 to %d rows separated by ;", whatsapp.MaxRowsTotal)
				}
				for i, r := range rows {
					if len([]rune(r)) > whatsapp.MaxRowTitle {
						return fmt.Errorf("row %d %q is longer than %d characters", i+1, r, whatsapp.MaxRowTitle)
					}
				}
				return nil
			}})
	case "image", "video", "document", "audio":
		fs = append(fs, Field{Key: "link", Title: "link", Help: "Public URL of the " + v["kind"] + ".", Validate: checkLink})
		if v["kind"] != "audio" {
			fs = append(fs, Field{Key: "caption", Title: "caption", Help: "Caption (optional).", Validate: opt("the caption", whatsapp.MaxCaption)})
		}
		if v["kind"] == "document" {
			fs = append(fs, Field{Key: "filename", Title: "filename", Help: "File name shown to the customer (optional), like invoice.pdf."})
		}
	case "location":
		coord := func(what string, lim float64) func(string) error {
			return func(s string) error {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil || f < -lim || f > lim {
					return fmt.Errorf("%s must be a number between -%g and %g", what, lim, lim)
				}
				return nil
			}
		}
		fs = append(fs,
			Field{Key: "latitude", Title: "latitude", Help: "Like 52.5200.", Validate: coord("latitude", 90)},
			Field{Key: "longitude", Title: "longitude", Help: "Like 13.4050.", Validate: coord("longitude", 180)},
			Field{Key: "name", Title: "name", Help: "Place name (optional)."},
			Field{Key: "address", Title: "address", Help: "Address (optional)."})
	}
	return fs
}

// templateFields asks for the template (picked from the list, or typed when the list could
// not be fetched) and then each of its parameters.
func (c *Composer) templateFields(v map[string]string) []Field {
	if c.templatesErr != nil || c.cfg.Backend == nil {
		why := "no client"
		if c.templatesErr != nil {
			why = c.templatesErr.Error()
		}
		return []Field{
			{Key: "template", Title: "template name", Help: "Could not list templates: " + why + ". Type the approved template's name.",
				Validate: func(s string) error {
					if s == "" {
						return errors.New("the template name is required")
					}
					return nil
				}},
			{Key: "language", Title: "language", Help: "The template's language code, like en or en_US.", Default: "en",
				Validate: func(s string) error {
					if s == "" {
						return errors.New("the language code is required")
					}
					return nil
				}},
			{Key: "header_param", Title: "header parameter", Help: "Empty when the template's header has no parameter; else its text, or image:, video: or document: and a link, like image:https://example.com/a.jpg.",
				Validate: func(s string) error {
					if kind, link, ok := mediaRef(s); ok {
						if err := checkLink(link); err != nil {
							return fmt.Errorf("%s header: %w", kind, err)
						}
					}
					return nil
				}},
			{Key: "body_params", Title: "body parameters", Help: "Values for {{1}}, {{2}}, … separated by ; (empty for none)."},
		}
	}
	choices := make([]Choice, len(c.templates))
	for i, t := range c.templates {
		choices[i] = Choice{Label: t.Name, Value: strconv.Itoa(i), Detail: t.Language + " · " + strings.ToLower(t.Category) + " · " + plural(len(t.Params), "parameter")}
	}
	fs := []Field{{Key: "template", Title: "template", Help: "Approved templates of the business account.", Choices: choices, Decides: true}}
	if t, ok := c.chosenTemplate(v); ok {
		for i, p := range t.Params {
			fs = append(fs, paramField("param"+strconv.Itoa(i), p))
		}
	}
	return fs
}

// paramField is the question for one template parameter.
func paramField(key string, p TemplateParam) Field {
	f := Field{Key: key, Title: p.Label()}
	switch {
	case p.media():
		f.Help = "Public https:// link to the header's " + p.Format + "; Meta downloads it when it delivers the message."
		f.Validate = func(s string) error {
			if s == "" {
				return fmt.Errorf("the template's header is %s %s: a link is required", article(p.Format), p.Format)
			}
			return checkLink(s)
		}
	case p.payload():
		f.Help = fmt.Sprintf("Payload your webhook receives when the customer taps %q (optional: empty sends none).", p.ButtonText)
	default:
		f.Help = "Value for " + p.Label() + "."
		if p.ButtonType == "url" {
			f.Help = fmt.Sprintf("Value for %s, the end of the link of button %q.", p.Label(), p.ButtonText)
			f.Warn = func(s string) string {
				if e := urlParam(s); e != s {
					return "sent percent-encoded, as " + e
				}
				return ""
			}
		}
		f.Validate = func(s string) error {
			if s == "" {
				return fmt.Errorf("a value for %s is required", p.Label())
			}
			if n := len([]rune(s)); p.Component == "header" && n > whatsapp.MaxHeaderText {
				return fmt.Errorf("a header is at most %d characters, the value alone is %d", whatsapp.MaxHeaderText, n)
			}
			return nil
		}
	}
	if p.Example != "" {
		f.Help += " Example: " + p.Example + "."
	}
	return f
}

func article(word string) string {
	if strings.ContainsAny(word[:1], "aeiou") {
		return "an"
	}
	return "a"
}

// checkLink accepts an http(s) URL.
func checkLink(s string) error {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return errors.New("the link must be an http(s) URL Meta can download, like https://example.com/file.pdf")
	}
	return nil
}

// urlParam percent-encodes a URL button's value, as Meta requires, unless it is encoded
// already.
func urlParam(s string) string {
	if u, err := url.PathUnescape(s); err == nil && u != s {
		return s
	}
	return url.PathEscape(s)
}

// mediaRef splits "image:https://…" into its kind and link.
func mediaRef(s string) (kind, link string, ok bool) {
	kind, link, ok = strings.Cut(s, ":")
	switch kind = strings.ToLower(strings.TrimSpace(kind)); kind {
	case "image", "video", "document":
		return kind, strings.TrimSpace(link), ok
	}
	return "", "", false
}

func (c *Composer) chosenTemplate(v map[string]string) (Template, bool) {
	i, err := strconv.Atoi(v["template"])
	if err != nil || i < 0 || i >= len(c.templates) || c.templatesErr != nil {
		return Template{}, false
	}
	return c.templates[i], true
}

// build turns the answers into the message.
func (c *Composer) build() (*whatsapp.Message, error) {
	v := c.form.values
	to := v["to"]
	if c.cfg.Normalize != nil {
		n, err := c.cfg.Normalize(to)
		if err != nil {
			return nil, fmt.Errorf("recipient: %w", err)
		}
		to = n
	}
	m := &whatsapp.Message{MessagingProduct: whatsapp.MessagingProduct, RecipientType: whatsapp.RecipientIndividual, To: to}
	switch v["kind"] {
	case "text":
		m.Type = whatsapp.TypeText
		m.Text = &whatsapp.Text{Body: v["body"], PreviewURL: strings.Contains(v["body"], "https://")}
	case "template":
		m.Type = whatsapp.TypeTemplate
		if t, ok := c.chosenTemplate(v); ok {
			m.Template = &whatsapp.Template{Name: t.Name, Language: whatsapp.Language{Code: t.Language}}
			values := make([]string, len(t.Params))
			for i := range t.Params {
				values[i] = v["param"+strconv.Itoa(i)]
			}
			m.Template.Components = templateComponents(t.Params, values)
		} else {
			m.Template = &whatsapp.Template{Name: v["template"], Language: whatsapp.Language{Code: v["language"]}}
			var ps []TemplateParam
			var vals []string
			if h := v["header_param"]; h != "" {
				if kind, link, ok := mediaRef(h); ok {
					ps, vals = append(ps, TemplateParam{Component: "header", Format: kind}), append(vals, link)
				} else {
					ps, vals = append(ps, TemplateParam{Component: "header", Index: 1}), append(vals, h)
				}
			}
			for i, val := range splitList(v["body_params"]) {
				ps, vals = append(ps, TemplateParam{Component: "body", Index: i + 1}), append(vals, val)
			}
			m.Template.Components = templateComponents(ps, vals)
		}
	case "buttons":
		m.Type = whatsapp.TypeInteractive
		in := &whatsapp.Interactive{Type: "button", Body: &whatsapp.InteractiveText{Text: v["body"]}}
		for i, k := range []string{"button1", "button2", "button3"} {
			if v[k] != "" {
				in.Action.Buttons = append(in.Action.Buttons, whatsapp.ReplyButton{Type: "reply",
					Reply: whatsapp.Reply{ID: "button_" + strconv.Itoa(i+1), Title: v[k]}})
			}
		}
		m.Interactive = in
	case "list":
		m.Type = whatsapp.TypeInteractive
		sec := whatsapp.Section{}
		for i, r := range splitList(v["rows"]) {
			sec.Rows = append(sec.Rows, whatsapp.Row{ID: "row_" + strconv.Itoa(i+1), Title: r})
		}
		m.Interactive = &whatsapp.Interactive{Type: "list", Body: &whatsapp.InteractiveText{Text: v["body"]},
			Action: whatsapp.Action{Button: v["button"], Sections: []whatsapp.Section{sec}}}
	case "image", "video", "document", "audio":
		m.SetMedia(v["kind"], &whatsapp.Media{Link: v["link"], Caption: v["caption"], Filename: v["filename"]})
	case "location":
		lat, err1 := strconv.ParseFloat(v["latitude"], 64)
		lon, err2 := strconv.ParseFloat(v["longitude"], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("location: %w", err)
		}
		m.Type = whatsapp.TypeLocation
		m.Location = &whatsapp.Location{Latitude: lat, Longitude: lon, Name: v["name"], Address: v["address"]}
	default:
		return nil, fmt.Errorf("unknown kind %q", v["kind"])
	}
	return m, nil
}

// templateComponents groups parameter values by component, in placeholder order. An empty
// quick-reply payload sends no button component (the tap then carries the button's text).
func templateComponents(ps []TemplateParam, values []string) []whatsapp.Component {
	var out []whatsapp.Component
	find := func(p TemplateParam) *whatsapp.Component {
		for i := range out {
			if out[i].Type == p.Component && (out[i].Index == nil || *out[i].Index == p.ButtonIndex) {
				return &out[i]
			}
		}
		c := whatsapp.Component{Type: p.Component}
		if p.Component == "button" {
			ix := p.ButtonIndex
			c.Index, c.SubType = &ix, p.ButtonType
			if c.SubType == "" {
				c.SubType = "url"
			}
		}
		out = append(out, c)
		return &out[len(out)-1]
	}
	for i, p := range ps {
		var param whatsapp.Parameter
		switch {
		case p.media():
			param.Type = p.Format
			m := &whatsapp.Media{Link: values[i]}
			switch p.Format {
			case "image":
				param.Image = m
			case "video":
				param.Video = m
			default:
				param.Document = m
			}
		case p.payload():
			if values[i] == "" {
				continue
			}
			param = whatsapp.Parameter{Type: "payload", Payload: values[i]}
		case p.Component == "button":
			param = whatsapp.Parameter{Type: "text", Text: urlParam(values[i]), ParameterName: p.Name}
		default:
			param = whatsapp.Parameter{Type: "text", Text: values[i], ParameterName: p.Name}
		}
		c := find(p)
		c.Parameters = append(c.Parameters, param)
	}
	return out
}

// renderMessage draws a message as a readable card that fits width columns (0: any width).
func renderMessage(s *Styles, m *whatsapp.Message, width int) string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "to %s · %s\n", m.To, m.Type)
	switch {
	case m.Text != nil:
		b.WriteString(m.Text.Body)
	case m.Template != nil:
		writeTemplate(&b, m.Template)
	case m.Interactive != nil:
		if m.Interactive.Body != nil {
			b.WriteString(m.Interactive.Body.Text)
		}
		for _, bt := range m.Interactive.Action.Buttons {
			fmt.Fprintf(&b, "\n  [ %s ]", bt.Reply.Title)
		}
		if m.Interactive.Action.Button != "" {
			fmt.Fprintf(&b, "\n  ≡ %s", m.Interactive.Action.Button)
		}
		for _, sec := range m.Interactive.Action.Sections {
			if sec.Title != "" {
				fmt.Fprintf(&b, "\n  %s", sec.Title)
			}
			for _, r := range sec.Rows {
				fmt.Fprintf(&b, "\n  • %s", r.Title)
				if r.Description != "" {
					fmt.Fprintf(&b, " — %s", r.Description)
				}
			}
		}
	case m.Location != nil:
		fmt.Fprintf(&b, "📍 %g, %g", m.Location.Latitude, m.Location.Longitude)
		if m.Location.Name != "" {
			b.WriteString("\n" + m.Location.Name)
		}
		if m.Location.Address != "" {
			b.WriteString("\n" + m.Location.Address)
		}
	default:
		if !writeMedia(&b, m) {
			raw, _ := json.Marshal(m)
			b.Write(raw)
		}
	}
	return renderCard(s, b.String(), width)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
