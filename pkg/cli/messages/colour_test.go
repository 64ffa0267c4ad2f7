package messages

import (
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/greentic/gtc/pkg/tui"
)

// TestColourStatus marks each status through the Styles (a Transform shows where a colour
// would go, whatever the terminal) and leaves the columns where the table put them.
func TestColourStatus(t *testing.T) {
	st := tui.PlainStyles()
	mark := func(c string) lipgloss.Style {
		return lipgloss.NewStyle().Transform(func(s string) string { return c + "[" + s + "]" })
	}
	st.OK, st.Warn, st.Error = mark("G"), mark("A"), mark("R")
	table := "SENT  TO   STATUS     CLASS\n" +
		"t1    +49  delivered  -\n" +
		"t2    +49  refused    window_closed\n" +
		"t3    +49  retrying   transient\n" +
		"\nRECEIVED  FROM  KIND\n" +
		"t4        +49   message\n"
	want := "SENT  TO   STATUS     CLASS\n" +
		"t1    +49  G[delivered]  -\n" +
		"t2    +49  R[refused]    window_closed\n" +
		"t3    +49  A[retrying]   transient\n" +
		"\nRECEIVED  FROM  KIND\n" +
		"t4        +49   message\n"
	if got := string(colourStatus([]byte(table), 3, st)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := string(colourStatus([]byte(table), 3, tui.PlainStyles())); got != table {
		t.Errorf("plain styles changed the table:\n%s", got)
	}
}
