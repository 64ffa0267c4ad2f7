package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/secret"
)

// ProviderID is the seed's provider key in answers.json.
const ProviderID = answers.ProviderID

// WizardFields are answers.json's fields in the seed's order, with the help text of the
// seed's option table, then gtc's additions (app_secret, tenant, team). Each value is checked
// by answers.CheckField, the validator `gtc setup --answers` uses.
func WizardFields() []Field {
	check := func(field string, optional bool) (func(string) error, func(string) string) {
		validate := func(v string) error {
			if optional && v == "" {
				return nil
			}
			_, err := answers.CheckField(field, v)
			return err
		}
		warn := func(v string) string {
			w, _ := answers.CheckField(field, v)
			return w
		}
		return validate, warn
	}
	field := func(key, help string, secret, optional bool, def string) Field {
		v, w := check(key, optional)
		return Field{Key: key, Title: key, Help: help, Secret: secret, Default: def, Validate: v, Warn: w}
	}
	return []Field{
		{Key: answers.FieldEnabled, Title: answers.FieldEnabled, Help: "Enable/disable the provider (required).", Default: "true",
			Choices: []Choice{{Label: "yes", Value: "true"}, {Label: "no", Value: "false"}}},
		field(answers.FieldPublicBaseURL, "Public URL for the webhook (required), e.g. https://your-domain.ngrok-free.app. Meta calls {public_base_url}/webhook/whatsapp/{tenant}/{team}.", false, false, ""),
		field(answers.FieldPhoneNumberID, "WhatsApp phone number ID (required): app dashboard → WhatsApp → Getting Started.", false, false, ""),
		field(answers.FieldAccessToken, "Permanent access token (required). ${ENV_NAME} keeps it in the environment.", true, false, ""),
		field(answers.FieldVerifyToken, "Webhook verification token (required): any string you choose, entered again under WhatsApp → Configuration.", true, false, ""),
		field(answers.FieldBusinessAccountID, "WhatsApp Business Account ID (optional; needed to list templates).", false, true, ""),
		field(answers.FieldAPIVersion, "Graph API version (optional, default: "+answers.DefaultAPIVersion+").", false, false, answers.DefaultAPIVersion),
		field(answers.FieldAppSecret, "App secret for checking X-Hub-Signature-256 on webhooks (optional, recommended).", true, true, ""),
		field(answers.FieldTenant, "Tenant this provider belongs to (optional, default: default).", false, false, answers.DefaultTenant),
		field(answers.FieldTeam, "Team within the tenant (optional, default: default).", false, false, answers.DefaultTeam),
	}
}

// WizardConfig configures the setup wizard.
type WizardConfig struct {
	Styles *Styles
	Keys   KeyMap
	// Initial holds current values (an existing bundle's), keyed like answers.json.
	Initial map[string]string
	// Target names what will be written, for the confirm question.
	Target string
}

// Wizard is the setup wizard's model: each field of answers.json is a huh form (see form),
// then the summary with its warnings and a huh.Confirm "Write …?". "No, edit" asks which
// answer to change and comes back to the summary after it. Run it, then read Cancelled,
// Confirmed and Values.
type Wizard struct {
	cfg     WizardConfig
	fields  []Field
	form    *form
	confirm *confirm // the write question, nil until every field is answered

	pick      *huh.Form // "which answer?" after "No, edit"; nil otherwise
	pickValue string    // the key of the answer picked
	editing   int       // the index of the answer being edited from the summary, -1 when none

	// Confirmed is true when the user accepted the summary.
	Confirmed bool
	// Cancelled is true after Ctrl+C.
	Cancelled bool
}

// NewWizard builds the wizard.
func NewWizard(cfg WizardConfig) *Wizard {
	if cfg.Styles == nil {
		cfg.Styles = PlainStyles()
	}
	if cfg.Target == "" {
		cfg.Target = "the bundle"
	}
	values := map[string]string{}
	for k, v := range cfg.Initial {
		values[k] = v
	}
	fields := WizardFields()
	w := &Wizard{cfg: cfg, fields: fields, editing: -1}
	w.form = newForm(cfg.Styles, cfg.Keys, values, func(map[string]string) []Field { return fields })
	return w
}

// Values returns the answers collected, keyed like answers.json.
func (w *Wizard) Values() map[string]string { return w.form.values }

// Init starts the first field's form (focus, cursor blink).
func (w *Wizard) Init() tea.Cmd { return w.form.init() }

func (w *Wizard) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		w.form.resize(msg.Width)
		if w.confirm != nil {
			w.confirm.resize(w.form.width)
		}
		if w.pick != nil {
			sizeStep(w.pick, w.form.width)
		}
		return w, nil
	case tea.KeyMsg:
		if key.Matches(msg, w.cfg.Keys.Quit) {
			w.Cancelled = true
			return w, tea.Quit
		}
		switch {
		case w.confirm != nil && key.Matches(msg, w.cfg.Keys.Back):
			return w, w.openPick()
		case w.pick != nil && key.Matches(msg, w.cfg.Keys.Back), w.editing >= 0 && key.Matches(msg, w.cfg.Keys.Back):
			return w, w.summary() // the answer stays as it was
		case w.pick != nil && key.Matches(msg, w.cfg.Keys.Next):
			w.pick.Update(msg)
			if !submitStep(w.pick) {
				return w, nil
			}
			return w, w.edit(w.pickValue)
		}
	}
	if w.pick != nil {
		_, cmd := w.pick.Update(msg)
		return w, cmd
	}
	if w.confirm != nil {
		answered, cmd := w.confirm.update(msg)
		switch {
		case !answered:
			return w, cmd
		case w.confirm.yes:
			w.Confirmed = true
			return w, tea.Quit
		default: // "no, edit": which answer?
			return w, w.openPick()
		}
	}
	done, cmd := w.form.update(msg)
	if w.editing >= 0 && w.form.idx != w.editing { // the edited answer was accepted
		return w, w.summary()
	}
	if done {
		return w, w.summary()
	}
	return w, cmd
}

// summary shows the answers and the write question.
func (w *Wizard) summary() tea.Cmd {
	w.pick, w.editing, w.form.keysHelp = nil, -1, ""
	w.form.idx, w.form.step = len(w.fields), nil
	var cmd tea.Cmd
	w.confirm, cmd = newConfirm(w.cfg.Styles, w.cfg.Keys, w.form.width, "Write "+w.cfg.Target+"?", "Yes, write", "No, edit")
	return cmd
}

// openPick asks which answer to edit, the first one selected.
func (w *Wizard) openPick() tea.Cmd {
	w.confirm = nil
	opts := make([]huh.Option[string], len(w.fields))
	for i, fd := range w.fields {
		opts[i] = huh.NewOption(fmt.Sprintf("%-20s %s", fd.Key, w.cfg.Styles.Muted.Render(masked(fd, w.form.values[fd.Key]))), fd.Key)
	}
	w.pickValue = w.fields[0].Key
	w.pick = newStep(w.form.theme, w.cfg.Keys, w.form.width,
		huh.NewSelect[string]().Title("Which answer do you want to change?").Options(opts...).Value(&w.pickValue))
	return w.pick.Init()
}

// edit asks one answer again; accepting it returns to the summary.
func (w *Wizard) edit(key string) tea.Cmd {
	w.pick = nil
	for i, fd := range w.fields {
		if fd.Key == key {
			w.editing, w.form.idx = i, i
			w.form.keysHelp = "enter save • esc back to the summary • ctrl+c cancel"
			return w.form.enter()
		}
	}
	return w.summary()
}

func (w *Wizard) View() string {
	s := w.cfg.Styles
	var b strings.Builder
	b.WriteString(renderLines(s.Title, wrap("gtc setup — WhatsApp provider", w.form.width)) + "\n\n")
	switch {
	case w.Confirmed || w.Cancelled:
		return b.String()
	case w.pick != nil:
		b.WriteString(w.pick.View() + "\n")
		b.WriteString("\n" + renderLines(s.Help, wrap("↑/↓ choose • enter edit • esc back to the summary • ctrl+c cancel", w.form.width)) + "\n")
		return b.String()
	case w.confirm == nil:
		b.WriteString(w.form.view())
		return b.String()
	}
	b.WriteString(s.Label.Render("Summary") + "\n")
	b.WriteString(w.Summary() + "\n")
	for _, warn := range w.Warnings() {
		b.WriteString(renderLines(s.Warn, wrap("! "+warn, w.form.width)) + "\n")
	}
	b.WriteString(w.confirm.view() + "\n")
	b.WriteString("\n" + renderLines(s.Help, wrap("y write • n edit • ←/→ choose • ctrl+c cancel", w.form.width)) + "\n")
	return b.String()
}

// Warnings are the answers' warnings `gtc setup` would print (no app secret, …), shown on the
// summary before the write question.
func (w *Wizard) Warnings() []string {
	var out []string
	for _, p := range answers.Check(AnswersFromValues(nil, w.form.values)) {
		if p.Warning() {
			out = append(out, p.Message())
		}
	}
	return out
}

// Summary lists every answer, secrets masked.
func (w *Wizard) Summary() string {
	s := w.cfg.Styles
	var b strings.Builder
	for _, fd := range w.fields {
		fmt.Fprintf(&b, "  %-20s %s\n", fd.Key, s.Value.Render(masked(fd, w.form.values[fd.Key])))
	}
	return b.String()
}

// AnswersJSON renders values as a seed-format answers.json document. With keepSecrets false,
// each secret that is not already a ${ENV} reference is written as one (GTC_ACCESS_TOKEN,
// GTC_VERIFY_TOKEN, GTC_APP_SECRET) so the file can be shared; optional empty values are left
// out.
func AnswersJSON(values map[string]string, keepSecrets bool) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n  " + quote(ProviderID) + ": {\n")
	first := true
	for _, fd := range WizardFields() {
		v, ok := values[fd.Key]
		if !ok || (v == "" && fd.Key != "enabled") {
			continue
		}
		var raw []byte
		switch {
		case fd.Key == "enabled":
			if v != "true" && v != "false" {
				return nil, fmt.Errorf("enabled is %q: use true or false", v)
			}
			raw = []byte(v)
		case fd.Secret && !keepSecrets:
			if _, isRef := secret.IsRef(v); !isRef {
				v = "${GTC_" + strings.ToUpper(fd.Key) + "}"
			}
			fallthrough
		default:
			raw = []byte(quote(v))
		}
		if !first {
			b.WriteString(",\n")
		}
		first = false
		b.WriteString("    " + quote(fd.Key) + ": " + string(raw))
	}
	b.WriteString("\n  }\n}\n")
	return b.Bytes(), nil
}

func quote(s string) string {
	out, _ := json.Marshal(s) // a string always marshals
	return string(out)
}

// AnswersEnvRefs lists the environment variables an answers.json written by AnswersJSON with
// the same arguments refers to, for each secret field: the GTC_* names it writes in place of
// the secrets (keepSecrets false) and the ${NAME} references the user typed. `gtc setup
// --answers FILE` needs them exported; the wizard's caller says so after saving.
func AnswersEnvRefs(values map[string]string, keepSecrets bool) []EnvRef {
	var out []EnvRef
	for _, fd := range WizardFields() {
		v := values[fd.Key]
		if !fd.Secret || v == "" {
			continue
		}
		if name, isRef := secret.IsRef(v); isRef {
			out = append(out, EnvRef{Field: fd.Key, Name: name})
		} else if !keepSecrets {
			out = append(out, EnvRef{Field: fd.Key, Name: "GTC_" + strings.ToUpper(fd.Key), Replaced: true})
		}
	}
	return out
}

// EnvRef is one ${NAME} reference of a saved answers.json.
type EnvRef struct {
	Field    string // access_token, verify_token, app_secret
	Name     string // the environment variable
	Replaced bool   // the file holds the reference in place of the secret the user typed
}
