package tui

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/greentic/gtc/pkg/answers"
)

func press(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "ctrl+u":
		return tea.KeyMsg{Type: tea.KeyCtrlU}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// isKeyName reports whether s names a key for press rather than text to type.
func isKeyName(s string) bool {
	return press(s).Type != tea.KeyRunes
}

func typeInto(m tea.Model, s string) tea.Model {
	for _, r := range s {
		m, _ = m.Update(press(string(r)))
	}
	return m
}

// wizardInputs answers every field like testdata/tui/wizard_answers.json.
var wizardInputs = []string{
	"", // enabled: yes (pre-selected)
	"https://bot.example.com",
	"123456789012345",
	"EAAtesttoken",
	"my-verify-token",
	"987654321098765",
	"", // api_version: keep the default
	"${WA_APP_SECRET}",
	"", // tenant: default
	"support",
}

func newTestWizard() *Wizard {
	return NewWizard(WizardConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Target: "./my-bundle"})
}

func TestWizardUpdateView(t *testing.T) {
	tests := []struct {
		name     string
		keys     []string
		wantView []string
		notView  []string
	}{
		{name: "first field is enabled with the seed help", wantView: []string{"enabled", "(1 of 10)", "Enable/disable the provider", "> yes"}},
		{name: "bad url shows inline error while typing",
			keys:     []string{"enter", "f", "t", "p", ":", "/", "/", "x"},
			wantView: []string{"public_base_url", "✗ public_base_url must start with https://"}},
		{name: "http on a public host is refused inline",
			keys:     []string{"enter", "http://bot.example.com"},
			wantView: []string{"✗ public_base_url must use https"}},
		{name: "localhost http is a warning, not an error",
			keys:     []string{"enter", "http://localhost:8080"},
			wantView: []string{"! plain http is for local testing only"}, notView: []string{"✗"}},
		{name: "enter on an invalid value stays",
			keys:     []string{"enter", "enter"},
			wantView: []string{"public_base_url", "(2 of 10)", "✗ public_base_url must be an absolute URL"}},
		{name: "secret is masked while typing",
			keys:     []string{"enter", "https://bot.example.com", "enter", "123", "enter", "EAAsecret"},
			wantView: []string{"access_token", "> *********"}, notView: []string{"EAAsecret"}},
		{name: "phone number id must be digits",
			keys:     []string{"enter", "https://bot.example.com", "enter", "12a"},
			wantView: []string{"✗ phone_number_id must be digits only"}},
		{name: "env reference accepted",
			keys:    []string{"enter", "${PUBLIC_URL}"},
			notView: []string{"✗"}},
		{name: "api_version default pre-filled",
			keys:     []string{"enter", "https://b.example", "enter", "1", "enter", "t", "enter", "v", "enter", "", "enter"},
			wantView: []string{"api_version", "> " + answers.DefaultAPIVersion}},
		{name: "esc goes back",
			keys:     []string{"enter", "https://b.example", "enter", "esc"},
			wantView: []string{"(2 of 10)", "> https://b.example"}},
		{name: "shift+tab goes back",
			keys:     []string{"enter", "https://b.example", "enter", "shift+tab"},
			wantView: []string{"(2 of 10)", "> https://b.example"}},
		{name: "enabled is a list: down picks no",
			keys:     []string{"down"},
			wantView: []string{"  yes", "> no", "↑/↓ choose"}},
		{name: "the pick is the answer",
			keys:     []string{"down", "enter", "esc"},
			wantView: []string{"(1 of 10)", "> no"}},
		{name: "an error goes once the value is fixed",
			keys:     []string{"enter", "https://b.example", "enter", "12a", "backspace"},
			wantView: []string{"(3 of 10)", "> 12"}, notView: []string{"✗"}},
		{name: "optional field accepts empty",
			keys:     []string{"enter", "https://b.example", "enter", "1", "enter", "t", "enter", "v", "enter", "enter"},
			wantView: []string{"api_version", "(7 of 10)"}, notView: []string{"✗"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m tea.Model = newTestWizard()
			for _, k := range tt.keys {
				if isKeyName(k) {
					m, _ = m.Update(press(k))
				} else {
					m = typeInto(m, k)
				}
			}
			v := stripANSI(m.View())
			for _, want := range tt.wantView {
				if !strings.Contains(v, want) {
					t.Errorf("view lacks %q:\n%s", want, v)
				}
			}
			for _, not := range tt.notView {
				if strings.Contains(v, not) {
					t.Errorf("view has %q:\n%s", not, v)
				}
			}
		})
	}
}

func TestWizardStartsFromCurrentValues(t *testing.T) {
	w := NewWizard(WizardConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Initial: map[string]string{
		"enabled": "false", "public_base_url": "https://old.example.com"}})
	if v := stripANSI(w.View()); !strings.Contains(v, "> no") {
		t.Fatalf("enabled=false not pre-selected:\n%s", v)
	}
	m, _ := w.Update(press("enter"))
	if v := stripANSI(m.View()); !strings.Contains(v, "> https://old.example.com") {
		t.Fatalf("current public_base_url not pre-filled:\n%s", v)
	}
}

func TestWizardSummaryMasksSecretsAndEditGoesBack(t *testing.T) {
	var m tea.Model = newTestWizard()
	for _, in := range wizardInputs {
		if in != "" {
			m, _ = m.Update(press("ctrl+u"))
		}
		m = typeInto(m, in)
		m, _ = m.Update(press("enter"))
	}
	v := stripANSI(m.View())
	for _, want := range []string{"Summary", "access_token         set (12 characters)", "app_secret           ${WA_APP_SECRET}", "Write ./my-bundle?"} {
		if !strings.Contains(v, want) {
			t.Errorf("summary lacks %q:\n%s", want, v)
		}
	}
	for _, secretText := range []string{"EAAtesttoken", "my-verify-token"} {
		if strings.Contains(v, secretText) {
			t.Errorf("summary shows a secret:\n%s", v)
		}
	}
	m, _ = m.Update(press("n"))
	if v := stripANSI(m.View()); !strings.Contains(v, "Which answer do you want to change?") || !strings.Contains(v, "> enabled") ||
		!strings.Contains(v, "access_token         set (12 characters)") || strings.Contains(v, "EAAtesttoken") {
		t.Errorf("n did not ask which answer to edit:\n%s", v)
	}
	m, _ = m.Update(press("down"))
	m, _ = m.Update(press("enter"))
	if v := stripANSI(m.View()); !strings.Contains(v, "public_base_url  (2 of 10)") || !strings.Contains(v, "> https://bot.example.com") ||
		!strings.Contains(v, "enter save • esc back to the summary") {
		t.Errorf("the picked answer is not asked again:\n%s", v)
	}
	m, _ = m.Update(press("ctrl+u"))
	m = typeInto(m, "https://new.example.com")
	m, _ = m.Update(press("enter"))
	v = stripANSI(m.View())
	for _, want := range []string{"Summary", "public_base_url      https://new.example.com", "team                 support", "Write ./my-bundle?"} {
		if !strings.Contains(v, want) {
			t.Errorf("not back at the summary with the edited answer, lacks %q:\n%s", want, v)
		}
	}
}

// TestWizardSummaryWarns shows the answers' warnings (no app secret) above the write question.
func TestWizardSummaryWarns(t *testing.T) {
	var m tea.Model = newTestWizard()
	for _, in := range wizardInputs {
		if in == "${WA_APP_SECRET}" {
			in = ""
		}
		if in != "" {
			m, _ = m.Update(press("ctrl+u"))
		}
		m = typeInto(m, in)
		m, _ = m.Update(press("enter"))
	}
	v := stripANSI(m.View())
	warn, write := strings.Index(v, "! app_secret is not set"), strings.Index(v, "Write ./my-bundle?")
	if warn < 0 || write < 0 || warn > write {
		t.Errorf("the app_secret warning is not above the write question:\n%s", v)
	}
}

func TestAnswersJSON(t *testing.T) {
	values := map[string]string{"enabled": "true", "public_base_url": "https://x.example", "phone_number_id": "1",
		"access_token": "EAAsecret", "verify_token": "${VT}", "business_account_id": "", "api_version": "v18.0",
		"app_secret": "shh", "tenant": "default", "team": "default"}
	for _, tt := range []struct {
		keep bool
		want map[string]any
	}{
		{keep: true, want: map[string]any{"enabled": true, "public_base_url": "https://x.example", "phone_number_id": "1",
			"access_token": "EAAsecret", "verify_token": "${VT}", "api_version": "v18.0", "app_secret": "shh", "tenant": "default", "team": "default"}},
		{keep: false, want: map[string]any{"enabled": true, "public_base_url": "https://x.example", "phone_number_id": "1",
			"access_token": "${GTC_ACCESS_TOKEN}", "verify_token": "${VT}", "api_version": "v18.0", "app_secret": "${GTC_APP_SECRET}", "tenant": "default", "team": "default"}},
	} {
		t.Run(map[bool]string{true: "with secrets", false: "secrets as references"}[tt.keep], func(t *testing.T) {
			b, err := AnswersJSON(values, tt.keep)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(got[ProviderID], tt.want) {
				t.Errorf("got %v\nwant %v", got[ProviderID], tt.want)
			}
		})
	}
	if _, err := AnswersJSON(map[string]string{"enabled": "maybe"}, true); err == nil {
		t.Error("enabled=maybe accepted")
	}
}

// TestWizardTeatestFullRun drives the wizard as a program with a fixed terminal size and
// checks the summary screen against a golden file and the answers against
// testdata/tui/wizard_answers.json, the equivalent --answers file.
func TestWizardTeatestFullRun(t *testing.T) {
	tm := teatest.NewTestModel(t, snapModel{newTestWizard()}, teatest.WithInitialTermSize(80, 30))
	for _, in := range wizardInputs {
		if in != "" {
			tm.Send(press("ctrl+u"))
			tm.Type(in)
		}
		tm.Send(press("enter"))
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Write ./my-bundle?")) },
		teatest.WithDuration(5*time.Second))
	golden(t, "wizard_summary", snapshot(t, tm))
	tm.Send(press("y"))
	final := finalScreen(t, tm).(*Wizard)
	if !final.Confirmed || final.Cancelled {
		t.Fatalf("confirmed=%v cancelled=%v", final.Confirmed, final.Cancelled)
	}
	got, err := AnswersJSON(final.Values(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, probs := answers.Parse("wizard", got); probs != nil && probs.Err() != nil {
		t.Fatalf("answers.Parse refuses the wizard's answers: %v", probs.Err())
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "tui", "wizard_answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g, wj any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &wj); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, wj) {
		t.Errorf("wizard answers differ from wizard_answers.json:\n%s", got)
	}
}

func TestWizardTeatestInlineError(t *testing.T) {
	tm := teatest.NewTestModel(t, snapModel{newTestWizard()}, teatest.WithInitialTermSize(80, 30))
	tm.Send(press("enter"))
	tm.Type("http://bot.example.com")
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("must use https")) },
		teatest.WithDuration(5*time.Second))
	golden(t, "wizard_inline_error", snapshot(t, tm))
	tm.Send(press("ctrl+c"))
	if final := finalScreen(t, tm).(*Wizard); !final.Cancelled {
		t.Error("ctrl+c did not cancel")
	}
}

func TestWizardTeatestCtrlC(t *testing.T) {
	tm := teatest.NewTestModel(t, snapModel{newTestWizard()}, teatest.WithInitialTermSize(80, 30))
	tm.Send(press("enter"))
	tm.Type("https://bot.example.com")
	tm.Send(press("ctrl+c"))
	final := finalScreen(t, tm).(*Wizard)
	if !final.Cancelled || final.Confirmed {
		t.Fatalf("cancelled=%v confirmed=%v after ctrl+c", final.Cancelled, final.Confirmed)
	}
}

// TestWizardConfirm drives the huh.Confirm under the summary: y writes, n and esc go back
// to the last field, and enter takes the highlighted button (←/→ move it).
func TestWizardConfirm(t *testing.T) {
	tests := []struct {
		name      string
		keys      []string
		confirmed bool
		wantView  []string
	}{
		{name: "y writes", keys: []string{"y"}, confirmed: true},
		{name: "enter takes the pre-selected yes", keys: []string{"enter"}, confirmed: true},
		{name: "right then enter is no", keys: []string{"right", "enter"}, wantView: []string{"Which answer do you want to change?"}},
		{name: "esc edits", keys: []string{"esc"}, wantView: []string{"Which answer do you want to change?"}},
		{name: "esc at the pick is back at the summary", keys: []string{"n", "esc"}, wantView: []string{"Summary", "[ Yes, write ]"}},
		{name: "esc while editing keeps the answer", keys: []string{"n", "down", "enter", "ctrl+u", "x", "esc"},
			wantView: []string{"Summary", "public_base_url      https://bot.example.com"}},
		{name: "the last answer can be picked", keys: []string{"n", "down", "down", "down", "down", "down", "down", "down", "down", "down", "enter"},
			wantView: []string{"team  (10 of 10)", "> support"}},
		{name: "right moves the brackets to no", keys: []string{"right"}, wantView: []string{"Yes, write   [ No, edit ]"}},
		{name: "back at the summary after editing", keys: []string{"n", "enter", "enter"}, wantView: []string{"Summary", "[ Yes, write ]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m tea.Model = newTestWizard()
			for _, in := range wizardInputs {
				if in != "" {
					m, _ = m.Update(press("ctrl+u"))
				}
				m = typeInto(m, in)
				m, _ = m.Update(press("enter"))
			}
			for _, k := range tt.keys {
				m, _ = m.Update(press(k))
			}
			w := m.(*Wizard)
			if w.Confirmed != tt.confirmed || w.Cancelled {
				t.Fatalf("confirmed=%v cancelled=%v, want confirmed=%v", w.Confirmed, w.Cancelled, tt.confirmed)
			}
			v := stripANSI(w.View())
			for _, want := range tt.wantView {
				if !strings.Contains(v, want) {
					t.Errorf("view lacks %q:\n%s", want, v)
				}
			}
		})
	}
}

// TestWizardColours checks the forms take their colours from the Styles: none at all with
// NO_COLOR, some with a colour terminal.
func TestWizardColours(t *testing.T) {
	colour := lipgloss.NewRenderer(io.Discard)
	colour.SetColorProfile(termenv.TrueColor)
	for _, tt := range []struct {
		name   string
		styles *Styles
		escape bool
	}{
		{name: "NO_COLOR", styles: NewStyles(io.Discard, true)},
		{name: "colour terminal", styles: newStyles(colour), escape: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m tea.Model = NewWizard(WizardConfig{Styles: tt.styles, Keys: DefaultKeyMap()})
			views := []string{m.View()}
			m, _ = m.Update(press("enter"))
			m = typeInto(m, "ftp://x")
			views = append(views, m.View())
			for _, v := range views {
				if got := strings.Contains(v, "\x1b["); got != tt.escape {
					t.Errorf("escape sequences=%v, want %v:\n%q", got, tt.escape, v)
				}
			}
		})
	}
}

// TestWizardTeatestEditPick: "No, edit" lists the answers (secrets masked) to pick one.
func TestWizardTeatestEditPick(t *testing.T) {
	tm := teatest.NewTestModel(t, snapModel{newTestWizard()}, teatest.WithInitialTermSize(80, 30))
	for _, in := range wizardInputs {
		if in != "" {
			tm.Send(press("ctrl+u"))
			tm.Type(in)
		}
		tm.Send(press("enter"))
	}
	tm.Send(press("n"))
	tm.Send(press("down"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Which answer")) },
		teatest.WithDuration(5*time.Second))
	golden(t, "wizard_edit_pick", snapshot(t, tm))
	tm.Send(press("ctrl+c"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func TestAnswersEnvRefs(t *testing.T) {
	values := map[string]string{"access_token": "EAAsecret", "verify_token": "${VT}", "app_secret": ""}
	tests := []struct {
		keep bool
		want string
	}{
		{keep: false, want: "access_token=GTC_ACCESS_TOKEN(replaced) verify_token=VT"},
		{keep: true, want: "verify_token=VT"},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range AnswersEnvRefs(values, tt.keep) {
			s := r.Field + "=" + r.Name
			if r.Replaced {
				s += "(replaced)"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("keep=%v: got %q, want %q", tt.keep, g, tt.want)
		}
		data, err := AnswersJSON(values, tt.keep)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range AnswersEnvRefs(values, tt.keep) {
			if !strings.Contains(string(data), "${"+r.Name+"}") {
				t.Errorf("keep=%v: the file lacks ${%s}:\n%s", tt.keep, r.Name, data)
			}
		}
	}
}
