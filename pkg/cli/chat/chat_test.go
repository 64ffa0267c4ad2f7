package chat

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/tui"
)

const exampleBundle = "../../../bundles/example"

func startSession(t *testing.T) *Session {
	t.Helper()
	s, err := Start(context.Background(), SessionConfig{Dir: exampleBundle, From: "+4915123456789", Name: "Alice",
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("start session: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// noTicks hides the asynchronous status ticks so a screen can be compared with a golden file.
type noTicks struct{ *Session }

func (noTicks) Status(string) string { return "" }

func TestNewCmdChatFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		tty     bool
		wantErr string
		check   func(*ChatOptions) bool
	}{
		{name: "script", args: []string{"b", "--script", "s.txt", "--as", "+4915123456789", "--name", "Alice"},
			check: func(o *ChatOptions) bool { return o.Dir == "b" && o.ScriptFile == "s.txt" && o.Name == "Alice" }},
		{name: "defaults on a terminal", args: []string{"b"}, tty: true,
			check: func(o *ChatOptions) bool { return o.As == DefaultCustomer && o.ScriptFile == "" }},
		{name: "no terminal needs a script", args: []string{"b"}, wantErr: "--script is required when not running interactively"},
		{name: "bad number", args: []string{"b", "--as", "0151", "--script", "s"}, wantErr: "--as 0151"},
		{name: "no dir", args: []string{}, wantErr: "expected the bundle folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io := &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: tt.tty, ErrTTY: tt.tty}
			var got *ChatOptions
			cmd := NewCmdChat(&cmdutil.Factory{IO: io}, func(o *ChatOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

// TestChatTeatestPressReplyButton types a greeting in the chat screen, picks the "Get Help"
// reply button with the arrow keys and checks the bot's help text — through the real
// server handler, delivery and graphfake.
func TestChatTeatestPressReplyButton(t *testing.T) {
	s := startSession(t)
	m := tui.NewChat(context.Background(), tui.PlainStyles(), tui.DefaultKeyMap(), noTicks{s})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	tm.Type("hi")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("[Talk to Human]")) },
		teatest.WithDuration(20*time.Second), teatest.WithCheckInterval(50*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Here's how I can help")) },
		teatest.WithDuration(20*time.Second), teatest.WithCheckInterval(50*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	final := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*tui.Chat)
	golden(t, "chat_press_button", final.View())
	calls := s.fake.Calls()
	if len(calls) == 0 {
		t.Fatal("graphfake got no calls")
	}
}

// TestSessionStatusTicks checks that graphfake's status webhooks reach the session.
func TestSessionStatusTicks(t *testing.T) {
	s := startSession(t)
	got, err := s.SendText(context.Background(), "hi")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d replies, want greeting and buttons", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Status(got[0].ID) != "read" {
		if time.Now().After(deadline) {
			t.Fatalf("status of %s is %q, want read", got[0].ID, s.Status(got[0].ID))
		}
		time.Sleep(20 * time.Millisecond) // waiting on another goroutine's HTTP posts, not on time
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "testdata", "tui", name+".golden")
	var lines []string
	for _, l := range strings.Split(got, "\n") {
		lines = append(lines, strings.TrimRight(l, " "))
	}
	got = strings.Join(lines, "\n")
	if f := flagUpdate(); f {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (go test -update creates it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from its golden file (go test -update if intended)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
