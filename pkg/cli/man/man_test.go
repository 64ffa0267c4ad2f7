package man_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/cli"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
)

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	f := cmdutil.NewFactory(&cmdutil.IOStreams{Out: &out, ErrOut: &out})
	f.Now = func() time.Time { return time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC) }
	f.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	root := cli.NewRootCmd(f)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	env := map[string]string{"SOURCE_DATE_EPOCH": "1600000000"} // 2020-09-13
	if _, err := run(t, env, "man", dir); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"gtc.1", "gtc-doctor.1", "gtc-messages.1", "gtc-contacts.1", "gtc-serve.1", "gtc-setup.1"} {
		data, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		s := string(data)
		if !strings.Contains(s, `.TH "GTC" "1" "Sep 2020"`) {
			t.Errorf("%s: header without the SOURCE_DATE_EPOCH date:\n%.200s", page, s)
		}
		if strings.Contains(s, "Auto generated") {
			t.Errorf("%s has cobra's generated-on footer", page)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gtc-man.1")); !os.IsNotExist(err) {
		t.Errorf("the hidden man command got a page")
	}
	doctor, _ := os.ReadFile(filepath.Join(dir, "gtc-doctor.1"))
	if !strings.Contains(string(doctor), "--offline") {
		t.Errorf("gtc-doctor.1 does not document --offline")
	}

	// The same input gives the same pages (reproducible release archives).
	again := filepath.Join(t.TempDir(), "man")
	if _, err := run(t, env, "man", again); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b, _ := os.ReadFile(filepath.Join(again, e.Name()))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", e.Name())
		}
	}
}

func TestManErrors(t *testing.T) {
	if _, err := run(t, nil, "man"); err == nil || !strings.Contains(err.Error(), "expected the folder") {
		t.Errorf("err = %v, want a usage error naming the folder", err)
	}
	_, err := run(t, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "man", t.TempDir())
	var fe *cmdutil.FlagError
	if err == nil || !strings.Contains(err.Error(), "invalid SOURCE_DATE_EPOCH") {
		t.Errorf("err = %v, want invalid SOURCE_DATE_EPOCH", err)
	} else if !errors.As(err, &fe) {
		t.Errorf("err = %T, want a usage error", err)
	}
	// It is hidden from help.
	out, err := run(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "\n  man ") {
		t.Errorf("gtc --help lists the hidden man command:\n%s", out)
	}
}
