package flow

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTranscripts plays the scripts under testdata/flows/conversations/transcripts through
// Step and compares what happened with the .golden file beside each (-update rewrites
// them). Script lines: "> text" a message, "@id title" a tapped button or row, "~" the
// clock moves to the deadline and the timeout fires, "!" a person releases the contact,
// "#200 {json}" an http result, "#ai text" an ai result, "/form {json}" a submitted
// WhatsApp Flow (the JSON is its response_json), "# ..." a comment.
func TestTranscripts(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join(convDir, "transcripts", "*.script"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, sp := range scripts {
		t.Run(strings.TrimSuffix(filepath.Base(sp), ".script"), func(t *testing.T) {
			data, err := os.ReadFile(sp)
			if err != nil {
				t.Fatal(err)
			}
			c := newChat(t)
			var b strings.Builder
			for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
				b.WriteString(line + "\n")
				if line == "" || strings.HasPrefix(line, "# ") {
					continue
				}
				var out Outcome
				switch {
				case strings.HasPrefix(line, "> "):
					out = c.say(line[2:])
				case strings.HasPrefix(line, "/form "):
					out = c.form(line[len("/form "):])
				case strings.HasPrefix(line, "@"):
					id, title, _ := strings.Cut(line[1:], " ")
					out = c.tap(id, title)
				case line == "~":
					if c.conv != nil {
						c.now = max(c.now, c.conv.Deadline)
					}
					out = c.step(TimeoutInput(0))
				case line == "!":
					out = c.step(ReleaseInput("", ""))
				case strings.HasPrefix(line, "#ai "):
					out = c.step(ResultInput(0, CallResult{Text: line[4:], FinishReason: "stop"}))
				case strings.HasPrefix(line, "#"):
					code, body, _ := strings.Cut(line[1:], " ")
					status, _ := strconv.Atoi(code)
					var v any
					if err := json.Unmarshal([]byte(body), &v); err != nil {
						t.Fatalf("%s: %v", line, err)
					}
					out = c.step(ResultInput(0, CallResult{Status: status, Body: v}))
				default:
					t.Fatalf("bad script line %q", line)
				}
				b.WriteString(c.describe(out))
			}
			golden := strings.TrimSuffix(sp, ".script") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestTranscripts -update writes it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("transcript differs from %s (-update rewrites it):\n%s", golden, b.String())
			}
		})
	}
}

// describe writes what a step did, one fact a line.
func (c *chat) describe(out Outcome) string {
	var b strings.Builder
	for _, r := range out.Replies {
		m := r.Message
		switch {
		case m.Text != nil:
			fmt.Fprintf(&b, "< %s\n", m.Text.Body)
		case m.Interactive != nil:
			var opts []string
			for _, ch := range choicesOf(&m) {
				opts = append(opts, ch.ID+": "+ch.Title)
			}
			if f := m.Interactive.Action.Flow; f != nil {
				data, _ := json.Marshal(f.FlowActionPayload)
				opts = append(opts, fmt.Sprintf("flow %s%s: %s, token %s, %s", f.FlowID, f.FlowName, f.FlowCTA, f.FlowToken, data))
			}
			fmt.Fprintf(&b, "< %s [%s]\n", m.Interactive.Body.Text, strings.Join(opts, " | "))
		default:
			fmt.Fprintf(&b, "< (%s)\n", m.Type)
		}
	}
	if out.Invalid != "" {
		fmt.Fprintf(&b, "  invalid: %s\n", out.Invalid)
	}
	if out.Ignored != "" {
		fmt.Fprintf(&b, "  ignored: %s\n", out.Ignored)
	}
	if k := out.Call; k != nil {
		if k.HTTP != nil {
			fmt.Fprintf(&b, "  call: %s %s (key %s)\n", k.HTTP.Method, k.HTTP.URL, k.IdempotencyKey)
		} else {
			fmt.Fprintf(&b, "  ai: %d messages, last %q\n", len(k.AI.Messages), k.AI.Messages[len(k.AI.Messages)-1].Content)
		}
	}
	if h := out.Handoff; h != nil {
		fmt.Fprintf(&b, "  handoff: queue %s, note %q, for %s\n", h.Queue, h.Note, h.Timeout)
	}
	if c.conv != nil && c.conv.FlowToken != "" {
		fmt.Fprintf(&b, "  waits for the form with flow_token %s\n", c.conv.FlowToken)
	}
	var keys []string
	for k := range out.UserUpdates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  user.%s = %v\n", k, out.UserUpdates[k])
	}
	for _, e := range out.Ended {
		fmt.Fprintf(&b, "  ended %s.%s: %s %s\n", e.Flow, e.Node, e.Reason, e.Detail)
	}
	if c.conv == nil {
		b.WriteString("  = no conversation\n")
	} else {
		fmt.Fprintf(&b, "  = %s.%s %s", c.conv.Flow, c.conv.Node, c.conv.State)
		if c.conv.Retries > 0 {
			fmt.Fprintf(&b, ", retries %d", c.conv.Retries)
		}
		if c.conv.Deadline > 0 {
			fmt.Fprintf(&b, ", deadline in %s", (time.Duration(c.conv.Deadline-c.now) * time.Second))
		}
		b.WriteString("\n")
	}
	return b.String()
}
