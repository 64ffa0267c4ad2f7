package flow

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/flows/golden")

const (
	seedDir   = "../../../testdata/flows/seed"
	goldenDir = "../../../testdata/flows/golden"
)

func testFactory() (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	io := &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	return &cmdutil.Factory{IO: io, Now: func() time.Time { return time.Unix(1_700_000_000, 0) },
		LookupEnv: func(string) (string, bool) { return "", false }}, out, errOut
}

func execRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	f, out, errOut := testFactory()
	cmd := NewCmdRun(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(errOut)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// Golden request bodies of gtc flow run over the seed flows.
func TestRunGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"greeting", []string{"--text", "hi"}},
		{"show_menu", []string{"--text", "Menu"}},
		{"list_billing", []string{"--list", "billing"}},
		{"button_help", []string{"--button", "help"}},
		{"button_status", []string{"--button", "status"}},
		{"button_human", []string{"--button", "human"}},
		{"button_unknown", []string{"--button", "nope"}},
		{"send_image", []string{"--text", "photo"}},
		{"quick_reply_confirm", []string{"--payload", "confirm"}},
		{"send_document", []string{"--text", "invoice"}},
		{"send_location", []string{"--text", "office"}},
		{"order_confirmation", []string{"--flow", "order_confirmation", "--var", "order_id=A-1001", "--var", "customer_name=Ada Lovelace"}},
		{"appointment_reminder", []string{"--flow", "appointment_reminder", "--var", "customer_name=Ada", "--var", "appointment_time=Tue 10:00"}},
		{"follow_up_inside_window", []string{"--flow", "follow_up", "--now", "1700050000", "--last-message-time", "1700000000"}},
		{"follow_up_outside_window", []string{"--flow", "follow_up", "--now", "1800000000", "--last-message-time", "1700000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := execRun(t, append([]string{seedDir, "--from", "4915112345678"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden := filepath.Join(goldenDir, tt.name+".jsonl")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s:\n got: %s\nwant: %s", golden, out, want)
			}
			if out == "" {
				t.Error("no request bodies")
			}
			v, err := metaschema.Default()
			if err != nil {
				t.Logf("Meta's OpenAPI spec not found, bodies not checked against it: %v", err)
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if err := v.ValidateMessage([]byte(line)); err != nil {
					t.Errorf("Meta schema: %v\n%s", err, line)
				}
			}
		})
	}
}

func TestRunNoMatch(t *testing.T) {
	out, errOut, err := execRun(t, seedDir, "--media", "image")
	if err != nil || out != "" || !strings.Contains(errOut, "no trigger matches this image message") {
		t.Errorf("out=%q err=%v stderr=%q", out, err, errOut)
	}
	// --flow restricts the triggers to that flow.
	out, errOut, err = execRun(t, seedDir, "--flow", "menu", "--text", "hi")
	if err != nil || out != "" || !strings.Contains(errOut, "no trigger matches") {
		t.Errorf("out=%q err=%v stderr=%q", out, err, errOut)
	}
}

func TestRunContactName(t *testing.T) {
	dir := t.TempDir()
	src := "name: hi\nnodes:\n  - id: a\n    type: reply\n    config: {message: \"Hi {{contact.name}}, {{message.text}}\"}\ntriggers:\n  - type: text\n    target: a\n"
	if err := os.WriteFile(filepath.Join(dir, "hi.ygtc"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := execRun(t, dir, "--text", "yo", "--contact-name", "Ada")
	if err != nil || !strings.Contains(out, `"body":"Hi Ada, yo"`) {
		t.Errorf("out=%q err=%v stderr=%q", out, err, errOut)
	}
	// Without a name the reply is refused rather than sent as "Hi , yo".
	if _, _, err := execRun(t, dir, "--text", "yo"); err == nil || !strings.Contains(err.Error(), "{{contact.name}} is empty") {
		t.Errorf("err = %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.ygtc"), []byte("name: x\nnodes:\n  - id: a\n    type: reply\n    config: {mesage: hi}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		flagErr bool
		want    string
	}{
		{"no message", []string{seedDir}, true, "give an inbound message"},
		{"two messages", []string{seedDir, "--text", "a", "--button", "b"}, true, "not --text and --button"},
		{"bad location", []string{seedDir, "--location", "north"}, true, "give LAT,LNG"},
		{"bad media", []string{seedDir, "--media", "gif"}, true, "use one of image"},
		{"bad var", []string{seedDir, "--flow", "follow_up", "--var", "novalue"}, true, "write name=value"},
		{"unknown flow", []string{seedDir, "--flow", "nope"}, true, "no such flow"},
		{"missing var", []string{seedDir, "--flow", "order_confirmation", "--var", "order_id=1"}, true, "missing variable customer_name"},
		{"node without flow", []string{seedDir, "--text", "x", "--node", "a"}, true, "--node only applies"},
		{"no such dir", []string{filepath.Join(bad, "nope"), "--text", "x"}, true, "no such folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execRun(t, tt.args...)
			var fe *cmdutil.FlagError
			if err == nil || errors.As(err, &fe) != tt.flagErr || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want a flag error containing %q", err, tt.want)
			}
		})
	}
	_, _, err := execRun(t, bad, "--text", "x")
	pe, ok := problem.As(err)
	if !ok || len(pe.Problems) == 0 || pe.Problems[0].Line != 5 {
		t.Errorf("invalid flows: err = %v, want a *problem.Error at line 5", err)
	}
}

// The flags land in the options.
func TestRunFlags(t *testing.T) {
	f, _, _ := testFactory()
	var got *RunOptions
	cmd := NewCmdRun(f, func(o *RunOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"b", "--text", "hi", "--from", "49", "--var", "a=1", "--var", "b=x", "--now", "5"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Dir != "b" || got.Text != "hi" || got.From != "49" || len(got.Vars) != 2 || got.NowUnix != 5 || got.LastMessageTime != 5 {
		t.Errorf("opts = %+v", got)
	}
	vars, _ := parseVars([]string{"n=7", "f=1.5", "z=007", "t=true", "s=a=b"})
	if vars["n"] != int64(7) || vars["f"] != 1.5 || vars["z"] != "007" || vars["t"] != true || vars["s"] != "a=b" {
		t.Errorf("vars = %#v", vars)
	}
}

// A flow run script is outside input: any bytes give lines or an error, never a panic, and
// every line kept has an input or a wait.
func FuzzParseScript(f *testing.F) {
	for _, s := range []string{"hi\n/button status\n/wait 31m\n", "/location 52.5,13.4\n/media image\n# c\n", "/wait soon\n/press x\n", "/flow\n", "/location 91,0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := parseScript("f.txt", []byte(s), &RunOptions{From: "15550001234"})
		if err != nil {
			return
		}
		for _, l := range lines {
			switch {
			case l.kind == "wait" && l.wait <= 0:
				t.Fatalf("line %d: a wait of %v", l.line, l.wait)
			case l.kind != "wait" && l.kind != "flow" && l.event == nil:
				t.Fatalf("line %d: %s without an event", l.line, l.kind)
			}
		}
	})
}
