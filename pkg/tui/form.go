package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

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
	// Validate checks a typed value (trimmed); nil accepts anything. It runs on every key
	// press, so the error shows while typing, and again on enter.
	Validate func(string) error
	// Warn returns a warning worth showing for an acceptable value ("" for none).
	Warn func(string) string
}

// Choice is one entry of a choice field.
type Choice struct {
	Label  string
	Value  string
	Detail string
}

// form asks a sequence of fields. The sequence is recomputed from the answers so far by
// plan, so a later field can depend on an earlier answer (the composer's message kind).
type form struct {
	styles *Styles
	keys   KeyMap
	plan   func(values map[string]string) []Field

	values map[string]string
	idx    int
	input  textinput.Model
	cursor int
	err    error
	width  int
}

func newForm(s *Styles, k KeyMap, values map[string]string, plan func(map[string]string) []Field) *form {
	if values == nil {
		values = map[string]string{}
	}
	f := &form{styles: s, keys: k, plan: plan, values: values, width: 80}
	f.input = textinput.New()
	f.input.Prompt = "> "
	f.input.PromptStyle = s.Prompt
	f.input.Cursor.SetMode(cursor.CursorStatic) // no blinking: stable output in tests and goldens
	f.enter()
	return f
}

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

// enter loads the current field's value into the input.
func (f *form) enter() {
	f.err = nil
	fd, ok := f.current()
	if !ok {
		return
	}
	v, have := f.values[fd.Key]
	if !have {
		v = fd.Default
	}
	if len(fd.Choices) > 0 {
		f.cursor = 0
		for i, c := range fd.Choices {
			if c.Value == v {
				f.cursor = i
			}
		}
		f.input.Blur()
		return
	}
	f.input.Reset()
	f.input.SetValue(v)
	f.input.CursorEnd()
	f.input.EchoMode = textinput.EchoNormal
	if fd.Secret {
		f.input.EchoMode = textinput.EchoPassword
		f.input.EchoCharacter = '•'
	}
	f.input.Focus()
}

// done reports whether every field of the plan is answered.
func (f *form) done() bool { _, ok := f.current(); return !ok }

// back returns to the previous field (or the last one after completion).
func (f *form) back() {
	if f.idx > 0 {
		f.idx--
	}
	if f.idx >= len(f.fields()) {
		f.idx = len(f.fields()) - 1
	}
	f.enter()
}

// update handles a key on the current field. It returns true when that answered the
// last field.
func (f *form) update(msg tea.Msg) (bool, tea.Cmd) {
	fd, ok := f.current()
	if !ok {
		return true, nil
	}
	km, isKey := msg.(tea.KeyMsg)
	if isKey && key.Matches(km, f.keys.Back) {
		f.back()
		return false, nil
	}
	if len(fd.Choices) > 0 {
		if !isKey {
			return false, nil
		}
		switch {
		case key.Matches(km, f.keys.Up):
			f.cursor = (f.cursor - 1 + len(fd.Choices)) % len(fd.Choices)
		case key.Matches(km, f.keys.Down):
			f.cursor = (f.cursor + 1) % len(fd.Choices)
		case key.Matches(km, f.keys.Next):
			return f.accept(fd, fd.Choices[f.cursor].Value), nil
		}
		return false, nil
	}
	if isKey && key.Matches(km, f.keys.Next) {
		return f.accept(fd, strings.TrimSpace(f.input.Value())), nil
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	if isKey {
		f.err = validate(fd, strings.TrimSpace(f.input.Value()))
	}
	return false, cmd
}

func validate(fd Field, v string) error {
	if fd.Validate == nil {
		return nil
	}
	return fd.Validate(v)
}

func (f *form) accept(fd Field, v string) bool {
	if err := validate(fd, v); err != nil {
		f.err = err
		return false
	}
	f.values[fd.Key] = v
	f.idx++
	if f.done() {
		return true
	}
	f.enter()
	return false
}

// view draws the current field.
func (f *form) view() string {
	fd, ok := f.current()
	if !ok {
		return ""
	}
	s := f.styles
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", s.Label.Render(fd.Title), s.Step.Render(fmt.Sprintf("(%d of %d)", f.idx+1, len(f.fields()))))
	if fd.Help != "" {
		b.WriteString(s.Help.Render(wrap(fd.Help, f.width)) + "\n")
	}
	b.WriteString("\n")
	if len(fd.Choices) > 0 {
		for i, c := range fd.Choices {
			line := "  " + c.Label
			st := s.Choice
			if i == f.cursor {
				line = "> " + c.Label
				st = s.Cursor
			}
			if c.Detail != "" {
				line += "  " + s.Muted.Render(c.Detail)
			}
			b.WriteString(st.Render(line) + "\n")
		}
	} else {
		b.WriteString(f.input.View() + "\n")
	}
	if f.err != nil {
		b.WriteString(s.Error.Render(wrap("✗ "+f.err.Error(), f.width)) + "\n")
	} else if fd.Warn != nil && len(fd.Choices) == 0 {
		if w := fd.Warn(strings.TrimSpace(f.input.Value())); w != "" {
			b.WriteString(s.Muted.Render("! "+w) + "\n")
		}
	}
	return b.String()
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

// wrap breaks s into lines of at most width columns at spaces.
func wrap(s string, width int) string {
	if width <= 10 {
		return s
	}
	var out, line strings.Builder
	for _, w := range strings.Fields(s) {
		if line.Len() > 0 && line.Len()+1+len(w) > width {
			out.WriteString(line.String() + "\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(w)
	}
	out.WriteString(line.String())
	return out.String()
}
