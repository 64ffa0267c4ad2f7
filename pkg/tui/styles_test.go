package tui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/muesli/termenv"
)

func TestStylesNoColor(t *testing.T) {
	var buf bytes.Buffer
	tests := []struct {
		name    string
		styles  *Styles
		colored bool
	}{
		{name: "NO_COLOR", styles: NewStyles(&buf, true)},
		{name: "not a terminal", styles: NewStyles(&buf, false)},
		{name: "plain", styles: PlainStyles()},
		{name: "colour terminal", styles: func() *Styles {
			s := NewStyles(&buf, false)
			s.renderer.SetColorProfile(termenv.TrueColor)
			return newStyles(s.renderer)
		}(), colored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.styles.Error.Render("boom") + tt.styles.Title.Render("title")
			if has := strings.Contains(out, "\x1b["); has != tt.colored {
				t.Errorf("escape codes present = %v, want %v: %q", has, tt.colored, out)
			}
		})
	}
}

func TestDarkBackground(t *testing.T) {
	for in, want := range map[string]bool{"": true, "15;0": true, "0;15": false, "0;7": false, "default;default": true} {
		if got := darkBackground(in); got != want {
			t.Errorf("darkBackground(%q) = %v, want %v", in, got, want)
		}
	}
}
