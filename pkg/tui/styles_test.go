package tui

import (
	"bytes"
	"context"
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
			out := tt.styles.Error.Render("boom") + tt.styles.Title.Render("title") + tt.styles.Warn.Render("hm")
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

// TestScreensNoColor draws the chat and the composer's preview with NO_COLOR styles: no
// colour escape anywhere, the text input's prompt and placeholder included; with colour, the
// same screens are coloured (so the check can fail).
func TestScreensNoColor(t *testing.T) {
	var buf bytes.Buffer
	colour := NewStyles(&buf, false)
	colour.renderer.SetColorProfile(termenv.TrueColor)
	colour = newStyles(colour.renderer)
	for _, tt := range []struct {
		name    string
		styles  *Styles
		colored bool
	}{{"NO_COLOR", NewStyles(&buf, true), false}, {"colour", colour, true}} {
		t.Run(tt.name, func(t *testing.T) {
			chat := NewChat(context.Background(), tt.styles, DefaultKeyMap(), &fakeChat{})
			step(chat, typed("hi"), press("enter"))
			comp := NewComposer(ComposerConfig{Styles: tt.styles, Keys: DefaultKeyMap(), Backend: &fakeBackend{}, Normalize: testNormalize})
			drive(comp, "+4915123456789", "enter", "enter", "Hi", "enter")
			for name, v := range map[string]string{"chat": chat.View(), "composer": comp.View()} {
				if has := strings.Contains(v, "\x1b[38;") || strings.Contains(v, "\x1b[3"); has != tt.colored {
					t.Errorf("%s: colour escapes = %v, want %v:\n%q", name, has, tt.colored, v)
				}
			}
		})
	}
}
