package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key binding of every screen.
type KeyMap struct {
	Next    key.Binding // accept the field and go on
	Back    key.Binding // previous field
	Up      key.Binding
	Down    key.Binding
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
		Confirm: key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		Deny:    key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n", "edit")),
		Quit:    key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "cancel")),
	}
}
