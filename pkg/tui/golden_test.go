package tui

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
)

// updating reports whether -update was given; the flag is registered by teatest's golden
// package, which this package's tests import.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]`)

// stripANSI removes escape sequences and trailing spaces.
func stripANSI(s string) string {
	s = ansiRE.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// golden compares got with ../../testdata/tui/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "tui", name+".golden")
	got = stripANSI(got)
	if updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run go test -update if the change is intended)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// snapModel wraps a screen run by teatest so a test can read its View on the program's own
// goroutine: the huh fields' cursor blinks keep updating the model while the program runs, so
// calling View from the test goroutine would race.
type snapModel struct{ tea.Model }

// snapMsg asks snapModel for the screen's current View.
type snapMsg chan string

func (m snapModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if ch, ok := msg.(snapMsg); ok {
		ch <- m.Model.View()
		return m, nil
	}
	next, cmd := m.Model.Update(msg)
	return snapModel{next}, cmd
}

// snapshot returns the View of the screen tm runs once every message sent before it was
// handled.
func snapshot(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	ch := make(snapMsg, 1)
	tm.Send(ch)
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not answer the snapshot")
		return ""
	}
}

// finalScreen is the screen model of a finished teatest program.
func finalScreen(t *testing.T, tm *teatest.TestModel) tea.Model {
	t.Helper()
	return tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(snapModel).Model
}
