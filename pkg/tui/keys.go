package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/huh"
)

// KeyMap is every key binding of every screen.
type KeyMap struct {
	Next    key.Binding // accept the field and go on
	Back    key.Binding // previous field
	Up      key.Binding
	Down    key.Binding
	Left    key.Binding // previous reply button in a row (chat)
	Right   key.Binding // next reply button in a row (chat)
	Confirm key.Binding // yes on a confirm screen
	Deny    key.Binding // no on a confirm screen: go back and edit
	Quit    key.Binding // cancel everything (exit 130 in the wizard and composer)

	// The inbox's keys.
	Close    key.Binding // leave the inbox from its list
	Reply    key.Binding // write a reply (a template once the 24-hour window is closed)
	Template key.Binding // pick a template to send, inside the window too
	Note     key.Binding // add an internal note (never sent)
	Release  key.Binding // hand the conversation back to the bot
	PageUp   key.Binding // scroll the conversation a page up (older messages)
	PageDown key.Binding // scroll the conversation a page down
	Newline  key.Binding // a line break in a reply or note (enter sends)
}

// DefaultKeyMap is the key map gtc uses.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Next:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next")),
		Back:    key.NewBinding(key.WithKeys("shift+tab", "esc"), key.WithHelp("esc", "back")),
		Up:      key.NewBinding(key.WithKeys("up", "ctrl+p"), key.WithHelp("↑", "up")),
		Down:    key.NewBinding(key.WithKeys("down", "ctrl+n", "tab"), key.WithHelp("↓", "down")),
		Left:    key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "left")),
		Right:   key.NewBinding(key.WithKeys("right"), key.WithHelp("→", "right")),
		Confirm: key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		Deny:    key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n", "edit")),
		Quit:    key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "cancel")),

		Close:    key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Reply:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reply")),
		Template: key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "template")),
		Note:     key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "note")),
		Release:  key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "release to bot")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "older")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "newer")),
		Newline:  key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"), key.WithHelp("alt+enter", "new line")),
	}
}

// huh is the key map of the huh forms the wizard and the composer embed, made from k: enter
// submits a field, ↑/↓ move in a list, y/n answer a confirm, ctrl+c quits. The screens see
// Back and Quit before their form does (a form holds one field, so huh's own previous-field
// key has nothing to go back to), and a list's "/" filter is off, so esc always means back.
func (k KeyMap) huh() *huh.KeyMap {
	km := huh.NewDefaultKeyMap()
	km.Quit = k.Quit
	km.Input.Submit = k.Next
	km.Input.Prev = k.Back
	km.Select.Submit = k.Next
	km.Select.Prev = k.Back
	km.Select.Up = k.Up
	km.Select.Down = k.Down
	km.Select.Filter.SetEnabled(false)
	km.Confirm.Submit = k.Next
	km.Confirm.Prev = k.Back
	km.Confirm.Accept = k.Confirm
	km.Confirm.Reject = k.Deny
	return km
}
