package bundle

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/problem"
)

const (
	testToken  = "EAAtestTokenValue123"
	testVerify = "verify-me-42"
	testApp    = "app-secret-xyz"
)

func testAnswers(t *testing.T, tenant, team string) *answers.Answers {
	t.Helper()
	in := `{"tenant":"` + tenant + `","team":"` + team + `","setup_answers":{"messaging-whatsapp":{"enabled":true,
"public_base_url":"https://bot.example.com","phone_number_id":"123","access_token":"` + testToken + `",
"verify_token":"` + testVerify + `","app_secret":"` + testApp + `"}}}`
	a, probs := answers.Parse("a.json", []byte(in))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	return a
}

var starter = fstest.MapFS{
	"hello.ygtc": {Data: []byte("name: hello\n")},
	"help.ygtc":  {Data: []byte("name: help\n")},
	"notes.txt":  {Data: []byte("not a flow")},
}

func opts() WriteOptions {
	return WriteOptions{StarterFlows: starter, GTCVersion: "test", Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 64))}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-bundle")
	res, err := Write(dir, testAnswers(t, "default", "default"), opts())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || !res.AddedProvider || !res.APIKeyGenerated || len(res.FlowsWritten) != 2 {
		t.Fatalf("result %+v", res)
	}
	files := snapshot(t, dir)
	for _, f := range []string{"bundle.yaml", "secrets.env", "README.md", "flows/hello.ygtc", "flows/help.ygtc", "providers/messaging-whatsapp/default/default.yaml"} {
		if _, ok := files[f]; !ok {
			t.Errorf("missing %s (have %v)", f, files)
		}
	}
	if _, ok := files["flows/notes.txt"]; ok {
		t.Error("non-flow starter file copied")
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("setup created state/")
	}
	// Secrets only in secrets.env.
	for name, content := range files {
		for _, s := range []string{testToken, testVerify, testApp, "gtc_0707"} {
			if strings.Contains(content, s) != (name == "secrets.env") {
				t.Errorf("%s: contains %q = %v", name, s, strings.Contains(content, s))
			}
		}
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(filepath.Join(dir, "secrets.env"))
		if st.Mode().Perm() != 0o600 {
			t.Errorf("secrets.env mode %o", st.Mode().Perm())
		}
	}
	if !strings.Contains(files["README.md"], "https://bot.example.com/webhook/whatsapp/default/default") {
		t.Error("README lacks the callback URL")
	}
	// No temp folders left beside the bundle.
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("leftovers beside the bundle: %v", entries)
	}

	b, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Only()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.AccessToken.Resolve(nil)
	if err != nil || tok != testToken {
		t.Fatalf("access token %v", err)
	}
	if p.CallbackPath() != "/webhook/whatsapp/default/default" || p.RatePerSecond != 80 || p.RecipientBurst != 45 || p.MessagingLimit != 1000 || !p.MarkRead || p.APIVersion != answers.DefaultAPIVersion {
		t.Errorf("provider %+v", p)
	}
	if b.Serve.Addr != DefaultAddr || b.Serve.Database != filepath.Join(dir, "state", "gtc.db") {
		t.Errorf("serve %+v", b.Serve)
	}
	if b.FlowsDir() != filepath.Join(dir, "flows") || b.StateDir() != filepath.Join(dir, "state") {
		t.Error("dirs")
	}
}

func TestRerunKeepsFlowsAndState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := Write(dir, testAnswers(t, "default", "default"), opts()); err != nil {
		t.Fatal(err)
	}
	// The user edits a starter flow, deletes another, and serve created state/.
	must(t, os.WriteFile(filepath.Join(dir, "flows", "hello.ygtc"), []byte("name: mine\n"), 0o644))
	must(t, os.Remove(filepath.Join(dir, "flows", "help.ygtc")))
	must(t, os.MkdirAll(filepath.Join(dir, "state"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "state", "gtc.db"), []byte("db"), 0o644))
	before := snapshot(t, dir)
	res, err := Write(dir, testAnswers(t, "default", "default"), opts())
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || res.AddedProvider || res.APIKeyGenerated || len(res.FlowsWritten) != 0 {
		t.Fatalf("re-run result %+v", res)
	}
	after := snapshot(t, dir)
	if len(before) != len(after) {
		t.Fatalf("files changed: %v → %v", keys(before), keys(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed on re-run", k)
		}
	}
}

func TestAddTenantTeam(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := Write(dir, testAnswers(t, "default", "default"), opts()); err != nil {
		t.Fatal(err)
	}
	key := snapshot(t, dir)["secrets.env"]
	res, err := Write(dir, testAnswers(t, "acme", "support"), opts())
	if err != nil {
		t.Fatal(err)
	}
	if !res.AddedProvider || res.Created {
		t.Fatalf("%+v", res)
	}
	b, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Providers) != 2 {
		t.Fatalf("%d providers", len(b.Providers))
	}
	if _, ok := b.Provider("acme", "support"); !ok {
		t.Fatal("acme/support missing")
	}
	if _, err := b.Only(); err == nil || !strings.Contains(err.Error(), "--tenant and --team") {
		t.Fatalf("Only: %v", err)
	}
	readme := snapshot(t, dir)["README.md"]
	if !strings.Contains(readme, "/webhook/whatsapp/acme/support") || !strings.Contains(readme, "/webhook/whatsapp/default/default") {
		t.Error("README lacks a callback URL")
	}
	// The API key stays stable.
	line := func(s string) string {
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, APIKeyName+"=") {
				return l
			}
		}
		return ""
	}
	if line(key) == "" || line(key) != line(snapshot(t, dir)["secrets.env"]) {
		t.Error("API key changed")
	}
	// Names that differ only in - and _ would share keys.
	if _, err := Write(dir, testAnswers(t, "acme", "sup-port"), opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, testAnswers(t, "acme", "sup_port"), opts()); err == nil {
		t.Fatal("colliding secret keys accepted")
	}
}

func TestWriteRefusals(t *testing.T) {
	root := t.TempDir()
	foreign := filepath.Join(root, "foreign")
	must(t, os.MkdirAll(foreign, 0o755))
	must(t, os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("x"), 0o644))
	_, err := Write(foreign, testAnswers(t, "default", "default"), opts())
	if _, ok := problem.As(err); !ok || !strings.Contains(err.Error(), "not a gtc bundle") {
		t.Fatalf("foreign folder: %v", err)
	}
	if got := snapshot(t, foreign); len(got) != 1 {
		t.Fatalf("foreign folder touched: %v", got)
	}

	empty := filepath.Join(root, "empty")
	must(t, os.MkdirAll(empty, 0o755))
	before, err := os.Stat(empty)
	must(t, err)
	if _, err := Write(empty, testAnswers(t, "default", "default"), opts()); err != nil {
		t.Fatalf("empty folder: %v", err)
	}
	after, err := os.Stat(empty)
	must(t, err)
	if !os.SameFile(before, after) {
		t.Error("the empty folder was replaced instead of filled")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 2 {
		t.Errorf("leftovers: %v", entries)
	}

	// A user flow that clashes with a different flow in the bundle is refused before any write.
	o := opts()
	o.Flows = map[string][]byte{"hello.ygtc": []byte("name: other\n"), "new.ygtc": []byte("name: new\n")}
	files := snapshot(t, empty)
	_, err = Write(empty, testAnswers(t, "default", "default"), o)
	if err == nil || !strings.Contains(err.Error(), "never overwrites a flow") {
		t.Fatalf("flow clash: %v", err)
	}
	if now := snapshot(t, empty); len(now) != len(files) {
		t.Fatal("files written despite the clash")
	}
	o.Flows = map[string][]byte{"hello.ygtc": []byte("name: hello\n"), "new.ygtc": []byte("name: new\n")}
	res, err := Write(empty, testAnswers(t, "default", "default"), o)
	if err != nil || len(res.FlowsWritten) != 1 || len(res.FlowsKept) != 1 {
		t.Fatalf("user flows: %+v %v", res, err)
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(dir string)
		opts   LoadOptions
		want   []string
		warnOK string
	}{
		{"unknown provider key", func(dir string) {
			appendTo(t, dir, "providers/messaging-whatsapp/default/default.yaml", "rate_per_secnd: 3\n")
		}, LoadOptions{}, []string{"default.yaml:", "unknown key rate_per_secnd, did you mean rate_per_second?"}, ""},
		{"unknown manifest key", func(dir string) {
			appendTo(t, dir, "bundle.yaml", "serv: {}\n")
		}, LoadOptions{}, []string{"bundle.yaml:", "unknown key serv, did you mean serve?"}, ""},
		{"bad type", func(dir string) {
			replaceIn(t, dir, "providers/messaging-whatsapp/default/default.yaml", "recipient_burst: 45", "recipient_burst: many")
		}, LoadOptions{}, []string{"cannot unmarshal"}, ""},
		{"bad phone", func(dir string) {
			replaceIn(t, dir, "providers/messaging-whatsapp/default/default.yaml", `phone_number_id: "123"`, `phone_number_id: "12x"`)
		}, LoadOptions{}, []string{"default.yaml:6:18: phone_number_id: phone_number_id must be digits only"}, ""},
		{"missing env", func(dir string) {
			replaceIn(t, dir, "providers/messaging-whatsapp/default/default.yaml", `public_base_url: https://bot.example.com`, `public_base_url: ${GTC_TEST_BASE}`)
		}, LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }}, []string{"environment variable GTC_TEST_BASE is not set", "default.yaml:5:18"}, ""},
		{"missing env allowed", func(dir string) {
			replaceIn(t, dir, "providers/messaging-whatsapp/default/default.yaml", `public_base_url: https://bot.example.com`, `public_base_url: ${GTC_TEST_BASE}`)
		}, LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }, AllowMissingEnv: true}, nil, "GTC_TEST_BASE is not set"},
		{"bad secrets line", func(dir string) {
			appendTo(t, dir, "secrets.env", "this is not a secret line "+testToken+"\n")
		}, LoadOptions{}, []string{"secrets.env:7:1: expected KEY=value"}, ""},
		{"secret in provider file", func(dir string) {
			replaceIn(t, dir, "providers/messaging-whatsapp/default/default.yaml", "access_token: WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN", "access_token: "+testToken)
		}, LoadOptions{}, []string{"secrets.access_token must name a secrets.env key (like WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN), not hold the secret"}, ""},
		{"missing provider file", func(dir string) {
			must(t, os.Remove(filepath.Join(dir, "providers/messaging-whatsapp/default/default.yaml")))
		}, LoadOptions{}, []string{"cannot read the settings of default/default"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			if _, err := Write(dir, testAnswers(t, "default", "default"), opts()); err != nil {
				t.Fatal(err)
			}
			tt.edit(dir)
			b, err := Load(dir, tt.opts)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, w := range b.Warnings {
					found = found || strings.Contains(w.String(), tt.warnOK)
				}
				if !found {
					t.Fatalf("no warning %q in %v", tt.warnOK, b.Warnings)
				}
				return
			}
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error %v (%T), want *problem.Error", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in %v", w, err)
				}
			}
			if strings.Contains(err.Error(), testToken) {
				t.Error("secret in error")
			}
		})
	}
}

func TestLoadNotABundle(t *testing.T) {
	_, err := Load(t.TempDir(), LoadOptions{})
	if _, ok := problem.As(err); !ok || !strings.Contains(err.Error(), "gtc setup") {
		t.Fatalf("%v", err)
	}
}

func TestParseSecrets(t *testing.T) {
	got, probs := parseSecrets([]byte("# c\n\nA=1\nexport B=x=y\nC=\n"))
	if len(probs) != 0 || got["A"] != "1" || got["B"] != "x=y" || got["C"] != "" {
		t.Fatalf("%v %v", got, probs)
	}
	_, probs = parseSecrets([]byte("A=1\nA=2\n=3\nnoequals\n"))
	if len(probs) != 3 {
		t.Fatalf("%v", probs)
	}
}

func FuzzParseSecrets(f *testing.F) {
	f.Add([]byte("A=1\n# x\nexport B=2\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, probs := parseSecrets(data)
		for _, p := range probs {
			for _, v := range m {
				if len(v) > 3 && strings.Contains(p.msg, v) {
					t.Fatalf("value in problem %q", p.msg)
				}
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]string) []string { return sortedKeys(m) }

func appendTo(t *testing.T, dir, rel, s string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	must(t, err)
	must(t, os.WriteFile(p, append(b, s...), 0o600))
}

func replaceIn(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	must(t, err)
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q:\n%s", rel, old, b)
	}
	must(t, os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644))
}

// FuzzLoad feeds arbitrary provider settings and manifests to Load: it never panics and
// every failure is a *problem.Error.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("enabled: true\npublic_base_url: https://x.example\n"), []byte("name: b\ntenants:\n  default:\n    teams:\n      default:\n        providers: [messaging-whatsapp]\n"))
	f.Add([]byte("rate_per_second: [1]\nsecrets: 3\n"), []byte("tenants: {A: {teams: {x: {providers: [nope]}}}}\n"))
	f.Add([]byte("&a [*a]"), []byte("serve: {addr: ${X}}\n"))
	f.Fuzz(func(t *testing.T, provider, manifest []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "providers", "messaging-whatsapp", "default"), 0o755); err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join(dir, "bundle.yaml"), manifest, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "providers", "messaging-whatsapp", "default", "default.yaml"), provider, 0o644))
		_, err := Load(dir, LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error %T %v is not a *problem.Error", err, err)
			}
		}
	})
}

// TestInterruptedWrite fails the n-th file write of a setup and checks that no half bundle
// is left: a new bundle does not appear at all, an updated one still loads with its old
// manifest.
func TestInterruptedWrite(t *testing.T) {
	t.Cleanup(func() { beforeWrite = nil })
	failAt := func(n int) {
		count := 0
		beforeWrite = func(string) error {
			count++
			if count == n {
				return fs.ErrPermission
			}
			return nil
		}
	}
	for n := 1; n <= 6; n++ {
		root := t.TempDir()
		dir := filepath.Join(root, "b")
		failAt(n)
		if _, err := Write(dir, testAnswers(t, "default", "default"), opts()); err == nil {
			t.Fatalf("write %d: no error", n)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Fatalf("write %d: left %v behind", n, entries)
		}
		// Into an existing empty folder: it stays empty.
		must(t, os.Mkdir(dir, 0o755))
		failAt(n)
		if _, err := Write(dir, testAnswers(t, "default", "default"), opts()); err == nil {
			t.Fatalf("write %d into empty folder: no error", n)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("write %d into empty folder: left %v", n, entries)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 1 {
			t.Fatalf("write %d into empty folder: left %v beside it", n, entries)
		}
	}
	for n := 1; n <= 3; n++ {
		dir := filepath.Join(t.TempDir(), "b")
		beforeWrite = nil
		if _, err := Write(dir, testAnswers(t, "default", "default"), opts()); err != nil {
			t.Fatal(err)
		}
		manifest := snapshot(t, dir)["bundle.yaml"]
		failAt(n)
		if _, err := Write(dir, testAnswers(t, "acme", "support"), opts()); err == nil {
			t.Fatalf("update %d: no error", n)
		}
		beforeWrite = nil
		if snapshot(t, dir)["bundle.yaml"] != manifest {
			t.Fatalf("update %d: manifest changed", n)
		}
		b, err := Load(dir, LoadOptions{})
		if err != nil {
			t.Fatalf("update %d: bundle no longer loads: %v", n, err)
		}
		if len(b.Providers) != 1 {
			t.Fatalf("update %d: %d providers", n, len(b.Providers))
		}
		for name := range snapshot(t, dir) {
			if strings.Contains(name, ".tmp-") {
				t.Fatalf("update %d: temp file %s left", n, name)
			}
		}
	}
}
