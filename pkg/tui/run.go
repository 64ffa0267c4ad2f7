package tui

import (
	"context"
	"fmt"
	"io"

	tea "github.com/charmbracelet/bubbletea"
)

// Run runs m full screen-less (inline) reading keys from in and drawing on out (stderr),
// until the model quits or ctx ends, and returns the final model.
func Run(ctx context.Context, m tea.Model, in io.Reader, out io.Writer) (tea.Model, error) {
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	final, err := p.Run()
	if err != nil {
		return final, fmt.Errorf("run terminal ui: %w", err)
	}
	return final, nil
}
