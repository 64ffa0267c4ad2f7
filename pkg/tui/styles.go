// Package tui holds gtc's interactive terminal screens: the setup wizard, the message
// composer and the chat simulator. Each screen is a bubbletea model that draws on the
// writer it is given (stderr); colours come from one Styles value and keys from one KeyMap,
// both passed in, so NO_COLOR and non-colour terminals render plain text.
package tui

import (
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Styles is every colour and decoration the screens use. Build it with NewStyles.
type Styles struct {
	renderer *lipgloss.Renderer

	Title  lipgloss.Style // screen title
	Step   lipgloss.Style // "step 3 of 10"
	Label  lipgloss.Style // a field's name
	Help   lipgloss.Style // a field's help text and the key help line
	Error  lipgloss.Style // inline validation errors and failed sends
	Warn   lipgloss.Style // warnings: acceptable, but worth a second look
	OK     lipgloss.Style // success lines
	Cursor lipgloss.Style // the selected choice
	Choice lipgloss.Style // an unselected choice
	Value  lipgloss.Style // a value in a summary
	Card   lipgloss.Style // a bordered card (preview, template, media)
	User   lipgloss.Style // the customer's chat bubble
	Bot    lipgloss.Style // the bot's chat bubble
	Tick   lipgloss.Style // status ticks
	Muted  lipgloss.Style // secondary text
	Prompt lipgloss.Style // the text-input prompt
	Agent  lipgloss.Style // an agent's message (inbox)
	Note   lipgloss.Style // an internal note, never sent (inbox)
}

// NewStyles builds the styles for w. With noColor (NO_COLOR set, a dumb or non-colour
// terminal) every style renders as plain text.
func NewStyles(w io.Writer, noColor bool) *Styles {
	r := lipgloss.NewRenderer(w)
	if noColor {
		r.SetColorProfile(termenv.Ascii)
	}
	// Decide the background from COLORFGBG instead of asking the terminal (an OSC 11 query
	// that reads stdin and stalls terminals that never answer).
	r.SetHasDarkBackground(darkBackground(os.Getenv("COLORFGBG")))
	return newStyles(r)
}

// darkBackground reads COLORFGBG ("fg;bg"): background colours 7 and 15 are light; dark
// is assumed otherwise.
func darkBackground(colorfgbg string) bool {
	i := strings.LastIndex(colorfgbg, ";")
	bg := colorfgbg[i+1:]
	return bg != "7" && bg != "15"
}

// PlainStyles renders without any colour or attribute; tests and goldens use it.
func PlainStyles() *Styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return newStyles(r)
}

func newStyles(r *lipgloss.Renderer) *Styles {
	green := lipgloss.AdaptiveColor{Light: "#1a7f37", Dark: "#25D366"}
	red := lipgloss.AdaptiveColor{Light: "#cf222e", Dark: "#ff6b6b"}
	amber := lipgloss.AdaptiveColor{Light: "#9a6700", Dark: "#d29922"}
	muted := lipgloss.AdaptiveColor{Light: "#6e7781", Dark: "#8b949e"}
	accent := lipgloss.AdaptiveColor{Light: "#0969da", Dark: "#58a6ff"}
	return &Styles{
		renderer: r,
		Title:    r.NewStyle().Bold(true).Foreground(green),
		Step:     r.NewStyle().Foreground(muted),
		Label:    r.NewStyle().Bold(true),
		Help:     r.NewStyle().Foreground(muted),
		Error:    r.NewStyle().Foreground(red),
		Warn:     r.NewStyle().Foreground(amber),
		OK:       r.NewStyle().Foreground(green),
		Cursor:   r.NewStyle().Foreground(accent).Bold(true),
		Choice:   r.NewStyle(),
		Value:    r.NewStyle().Foreground(accent),
		Card:     r.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1),
		User:     r.NewStyle().Foreground(accent),
		Bot:      r.NewStyle().Foreground(green),
		Tick:     r.NewStyle().Foreground(muted),
		Muted:    r.NewStyle().Foreground(muted),
		Prompt:   r.NewStyle().Foreground(accent),
		Agent:    r.NewStyle().Foreground(accent).Bold(true),
		Note:     r.NewStyle().Foreground(amber).Italic(true),
	}
}

// HuhTheme is the theme of the huh forms the wizard and the composer embed, made from s: the
// same colours, drawn through the same renderer, so NO_COLOR and terminals without colour
// get plain text there too. The focused button of a yes/no question is bracketed, so the
// choice shows without colour.
func (s *Styles) HuhTheme() *huh.Theme {
	r := s.renderer
	accent := s.Prompt.GetForeground()
	bracket := func(l, rt string) lipgloss.Style {
		return r.NewStyle().Border(lipgloss.Border{Left: l, Right: rt}, false, true).Padding(0, 1).MarginRight(1)
	}
	var t huh.Theme
	t.Form.Base = r.NewStyle()
	t.Group.Base = r.NewStyle()
	t.Group.Title = s.Label
	t.Group.Description = s.Help
	t.FieldSeparator = r.NewStyle().SetString("\n\n")
	t.Help = help.Styles{
		Ellipsis: s.Muted, ShortKey: s.Help, ShortDesc: s.Muted, ShortSeparator: s.Muted,
		FullKey: s.Help, FullDesc: s.Muted, FullSeparator: s.Muted,
	}
	t.Focused = huh.FieldStyles{
		Base:                r.NewStyle().PaddingLeft(1).BorderStyle(lipgloss.ThickBorder()).BorderLeft(true).BorderForeground(accent),
		Title:               s.Label,
		Description:         s.Help,
		ErrorIndicator:      s.Error.SetString(" *"),
		ErrorMessage:        s.Error,
		SelectSelector:      s.Cursor.SetString("> "),
		Option:              s.Choice,
		NextIndicator:       s.Cursor.MarginLeft(1).SetString("→"),
		PrevIndicator:       s.Cursor.MarginRight(1).SetString("←"),
		Directory:           s.Cursor,
		File:                s.Choice,
		MultiSelectSelector: s.Cursor.SetString("> "),
		SelectedOption:      s.Cursor,
		SelectedPrefix:      s.OK.SetString("[x] "),
		UnselectedOption:    s.Choice,
		UnselectedPrefix:    s.Muted.SetString("[ ] "),
		TextInput: huh.TextInputStyles{
			Cursor:      s.Cursor,
			CursorText:  r.NewStyle(),
			Placeholder: s.Muted,
			Prompt:      s.Prompt,
			Text:        r.NewStyle(),
		},
		FocusedButton: bracket("[", "]").Inherit(s.Cursor),
		BlurredButton: bracket(" ", " ").Inherit(s.Muted),
		NoteTitle:     s.Label.MarginBottom(1),
	}
	t.Focused.Card = t.Focused.Base
	t.Focused.Next = t.Focused.FocusedButton
	t.Blurred = t.Focused
	t.Blurred.Base = t.Focused.Base.BorderStyle(lipgloss.HiddenBorder())
	t.Blurred.Card = t.Blurred.Base
	t.Blurred.NextIndicator = r.NewStyle()
	t.Blurred.PrevIndicator = r.NewStyle()
	return &t
}

// Status renders text in the colour of a check or message status: "ok" (and delivered, read,
// sent) green, "warning" amber, "problem" (and failed, refused) red, anything else as is.
func (s *Styles) Status(status, text string) string {
	switch status {
	case "ok", "sent", "delivered", "read":
		return s.OK.Render(text)
	case "warning", "pending", "retrying", "sending", "ambiguous":
		return s.Warn.Render(text)
	case "problem", "failed", "refused", "error":
		return s.Error.Render(text)
	}
	return text
}
