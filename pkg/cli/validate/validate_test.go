package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/problem"
)

func testIO() (*cmdutil.IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &cmdutil.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut, NoColor: true}, out, errOut
}

func noEnv(string) (string, bool) { return "", false }

func TestNewCmdValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		json    bool
	}{
		{"dir", []string{"b"}, false, false},
		{"json", []string{"a.json", "--json"}, false, true},
		{"none", nil, true, false},
		{"two", []string{"a", "b"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := testIO()
			var got *ValidateOptions
			cmd := NewCmdValidate(&cmdutil.Factory{IO: io}, func(o *ValidateOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Out)
			cmd.SetErr(io.ErrOut)
			err := cmd.Execute()
			var fe *cmdutil.FlagError
			if tt.wantErr != errors.As(err, &fe) {
				t.Fatalf("err %v", err)
			}
			if !tt.wantErr && (got.Target != tt.args[0] || got.JSON != tt.json) {
				t.Fatalf("opts %+v", got)
			}
		})
	}
}

func writeBundle(t *testing.T) string {
	t.Helper()
	in := `{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://x.example","phone_number_id":"1","access_token":"tok-SECRET","verify_token":"${VT}","app_secret":"s"}}`
	a, probs := answers.Parse("a.json", []byte(in))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{GTCVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateBundle(t *testing.T) {
	dir := writeBundle(t)
	io, out, errOut := testIO()
	if err := validateRun(&ValidateOptions{IO: io, Target: dir, LookupEnv: noEnv}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "is valid: 1 provider(s), 0 flow(s)") {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut.String(), "environment variable VT, which is not set") {
		t.Errorf("stderr %q", errOut)
	}

	// An invalid bundle: --json lists the problems and the exit code is 2.
	must(t, os.WriteFile(filepath.Join(dir, "flows", "x.ygtc"), []byte("nodes: 1\n"), 0o644))
	f, err := os.OpenFile(filepath.Join(dir, "bundle.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("extra: 1\n")
	must(t, err)
	must(t, f.Close())
	io, out, _ = testIO()
	err = validateRun(&ValidateOptions{IO: io, Target: dir, LookupEnv: noEnv, JSON: true})
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitInvalid {
		t.Fatalf("err %v, want exit 2", err)
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Valid || res.Kind != "bundle" {
		t.Fatalf("result %+v", res)
	}
	var files []string
	for _, p := range res.Problems {
		if p.Severity == "error" {
			files = append(files, filepath.Base(p.File))
		}
	}
	if !strings.Contains(strings.Join(files, " "), "bundle.yaml") || !strings.Contains(strings.Join(files, " "), "x.ygtc") {
		t.Errorf("problems in %v, want bundle.yaml and x.ygtc", files)
	}
	if strings.Contains(out.String(), "tok-SECRET") {
		t.Error("secret in output")
	}
	// Without --json the problems come back as a *problem.Error (exit 2 in pkg/cli).
	io, _, _ = testIO()
	err = validateRun(&ValidateOptions{IO: io, Target: dir, LookupEnv: noEnv})
	if _, ok := problem.As(err); !ok {
		t.Fatalf("err %T %v", err, err)
	}
}

func TestValidateAnswers(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	must(t, os.WriteFile(good, []byte(`{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://x.example","phone_number_id":"1","access_token":"t","verify_token":"v"}}`), 0o644))
	io, out, errOut := testIO()
	if err := validateRun(&ValidateOptions{IO: io, Target: good}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "flat form") || !strings.Contains(errOut.String(), "app_secret is not set") {
		t.Fatalf("out %q err %q", out, errOut)
	}
	io, _, _ = testIO()
	err := validateRun(&ValidateOptions{IO: io, Target: filepath.Join(dir, "nope.json")})
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) {
		t.Fatalf("missing file: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
