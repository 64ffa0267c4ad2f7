package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/x/ansi"

	"github.com/greentic/gtc/pkg/secret"
)

// Field is one question of a form: a typed value, or a pick from Choices.
type Field struct {
	Key     string
	Title   string
	Help    string
	Secret  bool   // masked while typing and in summaries
	Default string // pre-filled when the form has no value for Key yet
	// Choices, when not empty, make the field a list to pick from.
	Choices []Choice
	// Validate checks a typed value (trimmed); nil accepts anything. It is the huh input's
	// validator, so enter refuses a bad value, and the form also runs it after every key
	// press so the error shows while typing.
	Validate func(string) error
	// Warn returns a warning worth showing for an acceptable value ("" for none).
	Warn func(string) string
	// Check checks a value Validate accepted, only when it is submitted (enter): for checks too
	// slow to run on every key press, like a look-up in the state database. nil accepts.
	Check func(string) error
	// Decides marks a field whose answer changes which fields follow (the composer's kind and
	// template): until every such field is behind, the step counter shows no total.
	Decides bool
}

// Choice is one entry of a choice field.
type Choice struct {
	Label  string
	Value  string
	Detail string
}

// form asks a sequence of fields, one at a time, each as a huh form holding one huh field
// (huh.Input, or huh.Select for a field with Choices). The sequence is recomputed from the
// answers so far by plan, so a later field can depend on an earlier answer (the composer's
// message kind, the chosen template's parameters), which is why each question gets its own
// huh form rather than the whole plan being one.
type form struct {
	styles *Styles
	keys   KeyMap
	theme  *huh.Theme
	plan   func(values map[string]string) []Field

	values map[string]string
	idx    int
	width  int

	step  *huh.Form // the current field's form, nil when every field is answered
	value string    // bound to the current huh field
	err   error     // Validate's verdict on value after the last key press
	start tea.Cmd   // the first field's Init command

	keysHelp string // the key help line for a typed field, when not the usual one
}

func newForm(s *Styles, k KeyMap, values map[string]string, plan func(map[string]string) []Field) *form {
	if values == nil {
		values = map[string]string{}
	}
	f := &form{styles: s, keys: k, theme: s.HuhTheme(), plan: plan, values: values, width: 80}
	f.start = f.enter()
	return f
}

// init is the first field's Init command, for the screen's Init.
func (f *form) init() tea.Cmd { return f.start }

// fields is the current plan.
func (f *form) fields() []Field { return f.plan(f.values) }

// current is the field being asked, false when every field is answered.
func (f *form) current() (Field, bool) {
	fs := f.fields()
	if f.idx < 0 || f.idx >= len(fs) {
		return Field{}, false
	}
	return fs[f.idx], true
}

// enter builds the huh form of the current field, loaded with its value (the answer so far,
// else its default), and returns the form's Init command (focus, cursor blink).
func (f *form) enter() tea.Cmd {
	f.err = nil
	f.step = nil
	fd, ok := f.current()
	if !ok {
		return nil
	}
	v, have := f.values[fd.Key]
	if !have {
		v = fd.Default
	}
	f.value = v
	title := fd.Title + "  " + f.styles.Step.Render(f.counter())
	help := wrap(fd.Help, f.fieldWidth())
	var field huh.Field
	if len(fd.Choices) > 0 {
		opts := make([]huh.Option[string], len(fd.Choices))
		for i, c := range fd.Choices {
			label := c.Label
			if c.Detail != "" {
				label += "  " + f.styles.Muted.Render(c.Detail)
			}
			// One line an option: huh sizes the list by options, so a wrapped one hides the next.
			if w := f.fieldWidth() - 3; w > 10 {
				label = ansi.Truncate(label, w, "…")
			}
			opts[i] = huh.NewOption(label, c.Value)
		}
		field = huh.NewSelect[string]().Key(fd.Key).Title(title).Description(help).Options(opts...).Value(&f.value)
	} else {
		in := huh.NewInput().Key(fd.Key).Title(title).Description(help).Value(&f.value).
			Validate(func(s string) error { return validate(fd, strings.TrimSpace(s)) })
		if fd.Secret {
			in.EchoMode(huh.EchoModePassword)
		}
		field = in
	}
	f.step = newStep(f.theme, f.keys, f.width, field)
	return f.step.Init()
}

// counter is the step counter of the current field: "(3 of 5)", or "(step 3)" while an
// answer still to give (this field's or a later one's) decides how many questions follow.
func (f *form) counter() string {
	fs := f.fields()
	for _, fd := range fs[f.idx:] {
		if fd.Decides {
			return fmt.Sprintf("(step %d)", f.idx+1)
		}
	}
	return fmt.Sprintf("(%d of %d)", f.idx+1, len(fs))
}

// fieldWidth is the text width inside a field (huh draws a border and a space on its left).
func (f *form) fieldWidth() int { return f.width - 2 }

// resize applies a new terminal width to the current field.
func (f *form) resize(width int) {
	if width <= 0 {
		return
	}
	f.width = width
	if f.step != nil {
		sizeStep(f.step, width)
	}
}

// done reports whether every field of the plan is answered.
func (f *form) done() bool { _, ok := f.current(); return !ok }

// back returns to the previous field (or the last one after completion).
func (f *form) back() tea.Cmd {
	if f.idx > 0 {
		f.idx--
	}
	if n := len(f.fields()); f.idx >= n {
		f.idx = n - 1
	}
	return f.enter()
}

// update handles a message for the current field. It returns true when that answered the
// last field.
func (f *form) update(msg tea.Msg) (bool, tea.Cmd) {
	fd, ok := f.current()
	if !ok || f.step == nil {
		return true, nil
	}
	km, isKey := msg.(tea.KeyMsg)
	if isKey && key.Matches(km, f.keys.Back) {
		return false, f.back()
	}
	_, cmd := f.step.Update(msg)
	if !isKey {
		return false, cmd
	}
	if key.Matches(km, f.keys.Next) {
		if err := f.step.GetFocusedField().Error(); err == nil && fd.Check != nil {
			if err := fd.Check(strings.TrimSpace(f.value)); err != nil {
				f.err = err
				return false, nil
			}
		}
		if !submitStep(f.step) {
			f.err = f.step.GetFocusedField().Error()
			return false, nil
		}
		return f.accept(fd, strings.TrimSpace(f.value))
	}
	if len(fd.Choices) == 0 {
		f.err = validate(fd, strings.TrimSpace(f.value))
	}
	return false, cmd
}

func validate(fd Field, v string) error {
	if fd.Validate == nil {
		return nil
	}
	return fd.Validate(v)
}

func (f *form) accept(fd Field, v string) (bool, tea.Cmd) {
	f.values[fd.Key] = v
	f.idx++
	if f.done() {
		f.step = nil
		return true, nil
	}
	return false, f.enter()
}

// view draws the current field, its validation error or warning under it, and the key help.
func (f *form) view() string {
	fd, ok := f.current()
	if !ok || f.step == nil {
		return ""
	}
	s := f.styles
	var b strings.Builder
	b.WriteString(f.step.View() + "\n")
	if f.err != nil {
		b.WriteString(renderLines(s.Error, wrap("✗ "+f.err.Error(), f.width)) + "\n")
	} else if fd.Warn != nil && len(fd.Choices) == 0 {
		if w := fd.Warn(strings.TrimSpace(f.value)); w != "" {
			b.WriteString(renderLines(s.Warn, wrap("! "+w, f.width)) + "\n")
		}
	}
	keys := "enter next • esc back • ctrl+c cancel"
	if f.keysHelp != "" {
		keys = f.keysHelp
	}
	if len(fd.Choices) > 0 {
		keys = "↑/↓ choose • " + keys
	}
	b.WriteString("\n" + renderLines(s.Help, wrap(keys, f.width)) + "\n")
	return b.String()
}

// confirm asks one yes/no question with a huh.Confirm.
type confirm struct {
	keys KeyMap
	step *huh.Form
	yes  bool
}

// newConfirm builds the question; yes is pre-selected.
func newConfirm(s *Styles, k KeyMap, width int, title, affirmative, negative string) (*confirm, tea.Cmd) {
	c := &confirm{keys: k, yes: true}
	field := huh.NewConfirm().Title(title).Affirmative(affirmative).Negative(negative).Value(&c.yes)
	c.step = newStep(s.HuhTheme(), k, width, field)
	return c, c.step.Init()
}

// update handles a message; answered is true once y, n or enter chose an answer (in c.yes).
func (c *confirm) update(msg tea.Msg) (answered bool, cmd tea.Cmd) {
	_, cmd = c.step.Update(msg)
	if km, ok := msg.(tea.KeyMsg); ok && key.Matches(km, c.keys.Next, c.keys.Confirm, c.keys.Deny) {
		return submitStep(c.step), nil
	}
	return false, cmd
}

func (c *confirm) resize(width int) { sizeStep(c.step, width) }

func (c *confirm) view() string { return c.step.View() }

// newStep wraps one huh field in a huh form themed and keyed like every other screen. The
// form's own help and error lines are off: the screens draw their key help, and the form
// shows the field's validation error itself so it can show it while typing (huh checks a
// value only on enter).
func newStep(theme *huh.Theme, k KeyMap, width int, field huh.Field) *huh.Form {
	f := huh.NewForm(huh.NewGroup(field)).
		WithTheme(theme).
		WithKeyMap(k.huh()).
		WithShowHelp(false).
		WithShowErrors(false)
	sizeStep(f, width)
	return f
}

// sizeStep sets the form's width, then lets huh size its group to its content through the
// window-size message it handles (a height huh would otherwise take from the terminal and
// clip the field to).
func sizeStep(f *huh.Form, width int) {
	f.WithWidth(width)
	f.Update(tea.WindowSizeMsg{Width: width, Height: 1 << 16})
}

// submitStep completes a one-field huh form whose field was just given a submit key (enter,
// or y/n on a confirm). huh would move on through a NextField command; running that step
// here keeps the whole answer inside the key's Update, so keys typed ahead (a paste, keys
// on stdin) land on the next question and never on the one being left. It returns false,
// with the form unchanged, when the field refused its value.
func submitStep(f *huh.Form) bool {
	if f.GetFocusedField().Error() != nil {
		return false
	}
	f.NextField()
	f.NextGroup()
	return f.State == huh.StateCompleted
}

// masked shows a value for a summary: secrets as their hint, never their text.
func masked(fd Field, v string) string {
	if fd.Secret {
		return secret.New(v).Hint()
	}
	if v == "" {
		return "(empty)"
	}
	return v
}

// wrap breaks s into lines of at most width columns (display width), at spaces, and inside
// a word only when the word alone is longer than a line; the line breaks s has are kept, and
// a line's indentation is repeated on the lines it wraps onto. A width of 10 or less
// (unknown or absurd) leaves s as it is.
func wrap(s string, width int) string {
	if width <= 10 {
		return s
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		indent := para[:len(para)-len(strings.TrimLeft(para, " "))]
		if len(indent) > width/2 {
			indent = ""
		}
		var line strings.Builder
		lineW := 0
		flush := func() {
			out = append(out, indent+line.String())
			line.Reset()
			lineW = 0
		}
		width := width - len(indent)
		for _, w := range strings.Fields(para) {
			ww := ansi.StringWidth(w)
			if lineW > 0 && lineW+1+ww > width {
				flush()
			}
			if ww > width { // a word longer than a line: cut it
				if lineW > 0 {
					flush()
				}
				parts := strings.Split(ansi.Hardwrap(w, width, false), "\n")
				for _, p := range parts[:len(parts)-1] {
					out = append(out, p)
				}
				w, ww = parts[len(parts)-1], ansi.StringWidth(parts[len(parts)-1])
			}
			if lineW > 0 {
				line.WriteByte(' ')
				lineW++
			}
			line.WriteString(w)
			lineW += ww
		}
		flush()
	}
	return strings.Join(out, "\n")
}
