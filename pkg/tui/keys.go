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
