package flow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/problem"
)

func execValidate(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	f, out, errOut := testFactory()
	cmd := NewCmdValidate(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(errOut)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestValidateCommand(t *testing.T) {
	out, _, err := execValidate(t, seedDir)
	if err != nil || !strings.Contains(out, "10 flow file(s) valid") {
		t.Errorf("seed: out=%q err=%v", out, err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ygtc")
	os.WriteFile(bad, []byte("name: bad\nnodes:\n  - id: a\n    type: reply\n    config: {message: hi}\n    next: b\n"), 0o644)
	_, _, err = execValidate(t, filepath.Join(seedDir, "greeting.ygtc"), bad)
	pe, ok := problem.As(err)
	if !ok || len(pe.Problems) != 1 || pe.Problems[0].File != bad || pe.Problems[0].Line != 6 || pe.Problems[0].Col != 11 {
		t.Errorf("err = %v, want one problem at %s:6:11", err, bad)
	}
	out, _, err = execValidate(t, "--json", bad)
	var res ValidateResult
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil || res.Valid || len(res.Problems) != 1 {
		t.Errorf("json: %v %+v", jerr, res)
	}
	if ee, ok := err.(*cmdutil.ExitError); !ok || ee.Code != 2 {
		t.Errorf("json exit = %v", err)
	}
	if _, _, err := execValidate(t, filepath.Join(dir, "missing.ygtc")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := execValidate(t); err == nil {
		t.Error("no args accepted")
	}
}
