package setup

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/secret"
)

var update = flag.Bool("update", false, "rewrite bundles/example from testdata/answers/example.json")

func testIO(tty bool) (*cmdutil.IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut, InTTY: tty, ErrTTY: tty, NoColor: true}, out, errOut
}

func TestNewCmdSetup(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		tty     bool
		wantErr string
		want    SetupOptions
	}{
		{name: "answers", args: []string{"--answers", "a.json", "dir"}, want: SetupOptions{AnswersFile: "a.json", Dir: "dir"}},
		{name: "flows and json", args: []string{"--answers", "a.json", "--flows", "f", "--json", "dir"}, want: SetupOptions{AnswersFile: "a.json", FlowsDir: "f", JSON: true, Dir: "dir"}},
		{name: "no answers no tty", args: []string{"dir"}, wantErr: "--answers is required when not running interactively"},
		{name: "wizard on a terminal", args: []string{"dir"}, tty: true, want: SetupOptions{Dir: "dir"}},
		{name: "save answers", args: []string{"--save-answers", "a.json", "dir"}, tty: true, want: SetupOptions{SaveAnswers: "a.json", Dir: "dir"}},
		{name: "save answers with answers", args: []string{"--save-answers", "a.json", "--answers", "b.json", "dir"}, tty: true, wantErr: "--save-answers goes with the wizard"},
		{name: "save secrets", args: []string{"--save-answers", "a.json", "--save-secrets", "dir"}, tty: true, want: SetupOptions{SaveAnswers: "a.json", SaveSecrets: true, Dir: "dir"}},
		{name: "save secrets alone", args: []string{"--save-secrets", "dir"}, tty: true, wantErr: "--save-secrets needs --save-answers FILE"},
		{name: "no dir", args: []string{"--answers", "a.json"}, wantErr: "expected the bundle folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := testIO(tt.tty)
			var got *SetupOptions
			cmd := NewCmdSetup(&cmdutil.Factory{IO: io}, func(o *SetupOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Out)
			cmd.SetErr(io.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want FlagError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AnswersFile != tt.want.AnswersFile || got.FlowsDir != tt.want.FlowsDir || got.JSON != tt.want.JSON || got.Dir != tt.want.Dir || got.SaveAnswers != tt.want.SaveAnswers || got.SaveSecrets != tt.want.SaveSecrets {
				t.Fatalf("options %+v, want %+v", got, tt.want)
			}
			// Without --answers on a terminal, the wizard of pkg/tui is wired in.
			if (got.AnswersFile == "") != (got.Wizard != nil) {
				t.Fatalf("wizard set %v with --answers %q", got.Wizard != nil, got.AnswersFile)
			}
		})
	}
}

func TestWizard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	io, _, errOut := testIO(true)
	var sawDefaults bool
	opts := &SetupOptions{IO: io, Dir: dir, StarterFlows: StarterFlows,
		Wizard: func(_ context.Context, cur *answers.Answers) (*answers.Answers, error) {
			sawDefaults = cur.APIVersion == answers.DefaultAPIVersion && cur.Tenant == "default"
			a := *cur
			a.PublicBaseURL, a.PhoneNumberID = "https://w.example", "42"
			a.AccessToken, a.VerifyToken, a.AppSecret = secret.New("wizard-token"), secret.New("wv"), secret.New("ws")
			return &a, nil
		}}
	if err := setupRun(opts); err != nil {
		t.Fatal(err)
	}
	if !sawDefaults || !strings.Contains(errOut.String(), "https://w.example/webhook/whatsapp/default/default") {
		t.Fatalf("wizard run: defaults %v, output %s", sawDefaults, errOut)
	}
	// On a re-run the wizard starts from the bundle's settings.
	opts.Wizard = func(_ context.Context, cur *answers.Answers) (*answers.Answers, error) {
		if cur.PhoneNumberID != "42" {
			t.Errorf("wizard did not get the bundle's settings: %+v", cur)
		}
		return nil, cmdutil.ErrCancelled
	}
	if err := setupRun(opts); !errors.Is(err, cmdutil.ErrCancelled) {
		t.Fatalf("cancel: %v", err)
	}
	// Bad answers from a wizard are rejected like a bad file.
	opts.Wizard = func(_ context.Context, cur *answers.Answers) (*answers.Answers, error) {
		a := *cur
		a.PhoneNumberID = "x"
		return &a, nil
	}
	if err := setupRun(opts); err == nil || !strings.Contains(err.Error(), "phone_number_id must be digits only") {
		t.Fatalf("bad wizard answers: %v", err)
	}
}

// TestNoSecretOutsideSecretsEnv greps every file of a fresh bundle for every secret value.
func TestNoSecretOutsideSecretsEnv(t *testing.T) {
	for _, name := range []string{"local.json", "structured.json", "seed.json"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			io, out, errOut := testIO(false)
			file := filepath.Join("..", "..", "..", "testdata", "answers", name)
			if err := setupRun(&SetupOptions{IO: io, Dir: dir, AnswersFile: file, StarterFlows: StarterFlows, JSON: true}); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(file)
			a, _ := answers.Parse(file, data)
			secrets := []string{a.AccessToken.Raw(), a.VerifyToken.Raw()}
			if !a.AppSecret.IsZero() {
				secrets = append(secrets, a.AppSecret.Raw())
			}
			env, err := os.ReadFile(filepath.Join(dir, "secrets.env"))
			if err != nil {
				t.Fatal(err)
			}
			apiKey := regexp.MustCompile(`(?m)^GTC_API_KEY=(.+)$`).FindSubmatch(env)
			if apiKey == nil {
				t.Fatal("no GTC_API_KEY in secrets.env")
			}
			secrets = append(secrets, string(apiKey[1]))
			for _, s := range secrets {
				if !bytes.Contains(env, []byte(s)) {
					t.Errorf("secrets.env lacks a secret")
				}
				if strings.Contains(out.String(), s) || strings.Contains(errOut.String(), s) {
					t.Errorf("a secret was printed")
				}
			}
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || filepath.Base(p) == "secrets.env" {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for _, s := range secrets {
					if bytes.Contains(b, []byte(s)) {
						t.Errorf("%s holds a secret", p)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" {
				st, err := os.Stat(filepath.Join(dir, "secrets.env"))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("secrets.env mode %v %v", st.Mode().Perm(), err)
				}
			}
		})
	}
}

// TestExampleBundle checks that bundles/example is what setup writes today from
// testdata/answers/example.json (go test -run TestExampleBundle -update rewrites it).
func TestExampleBundle(t *testing.T) {
	golden := filepath.Join("..", "..", "..", "bundles", "example")
	dir := filepath.Join(t.TempDir(), "example")
	io, _, _ := testIO(false)
	file := filepath.Join("..", "..", "..", "testdata", "answers", "example.json")
	if err := setupRun(&SetupOptions{IO: io, Dir: dir, AnswersFile: file, StarterFlows: StarterFlows}); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	if *update {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		for rel, b := range got {
			p := filepath.Join(golden, filepath.FromSlash(rel))
			mode := os.FileMode(0o644)
			if rel == "secrets.env" {
				mode = 0o600
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, mode); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := readTree(t, golden)
	for rel, b := range got {
		w, ok := want[rel]
		if !ok {
			t.Errorf("%s is missing from bundles/example (run go test ./pkg/cli/setup -run TestExampleBundle -update)", rel)
			continue
		}
		if !bytes.Equal(b, w) {
			t.Errorf("%s differs from what setup writes today (run go test ./pkg/cli/setup -run TestExampleBundle -update):\n--- got\n%s\n--- want\n%s", rel, b, w)
		}
	}
	for rel := range want {
		if _, ok := got[rel]; !ok {
			t.Errorf("bundles/example/%s is no longer written by setup", rel)
		}
	}
}

var versionLine = regexp.MustCompile(`(?m)^gtc_version: .*$`)

// readTree reads every file under dir; bundle.yaml's gtc_version (which depends on how the
// binary was built) is normalized.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "bundle.yaml" {
			b = versionLine.ReplaceAll(b, []byte("gtc_version: dev"))
		}
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWizardCancel drives the real terminal wizard: Ctrl+C cancels (exit 130), nothing written.
func TestWizardCancel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	io, _, _ := testIO(true)
	io.In = strings.NewReader("\x03")
	opts := &SetupOptions{IO: io, Dir: dir}
	opts.Wizard = terminalWizard(opts)
	err := setupRun(opts)
	if !errors.Is(err, cmdutil.ErrCancelled) {
		t.Fatalf("err %v, want cancelled", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("bundle written after cancel")
	}
}

func TestSetupRunWithoutWizard(t *testing.T) {
	io, _, _ := testIO(false)
	err := setupRun(&SetupOptions{IO: io, Dir: t.TempDir()})
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v", err)
	}
}

// TestWizardSaveAnswersSaysWhatToExport: after --save-answers the summary names the
// variables the saved file's ${NAME} references need.
func TestWizardSaveAnswersSaysWhatToExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	io, _, errOut := testIO(true)
	opts := &SetupOptions{IO: io, Dir: dir, StarterFlows: StarterFlows, SaveAnswers: filepath.Join(t.TempDir(), "a.json"),
		Wizard: func(_ context.Context, cur *answers.Answers) (*answers.Answers, error) {
			a := *cur
			a.PublicBaseURL, a.PhoneNumberID = "https://w.example", "42"
			a.AccessToken, a.VerifyToken, a.AppSecret = secret.New("wizard-token"), secret.New("${MY_VERIFY}"), secret.New("ws")
			return &a, nil
		}}
	if err := setupRun(opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"export GTC_ACCESS_TOKEN=...", "export MY_VERIFY=...", "export GTC_APP_SECRET=...", "Next:\n  gtc serve " + dir + "\n  gtc chat " + dir} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut.String(), "wizard-token") {
		t.Errorf("summary shows a secret:\n%s", errOut)
	}
}
