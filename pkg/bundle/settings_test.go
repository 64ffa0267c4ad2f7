package bundle

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/problem"
)

func fullAnswers(t *testing.T, edit func(string) string) *answers.Answers {
	t.Helper()
	b, err := os.ReadFile("../../testdata/answers/full.json")
	must(t, err)
	s := string(b)
	// Real secrets instead of references, to see where they land.
	s = strings.NewReplacer(`"${WHATSAPP_ACCESS_TOKEN}"`, `"`+testToken+`"`, `"${WHATSAPP_VERIFY_TOKEN}"`, `"`+testVerify+`"`,
		`"${WHATSAPP_APP_SECRET}"`, `"`+testApp+`"`, `"${GTC_LLM_API_KEY}"`, `"sk-llm-key-123"`,
		`"${GTC_EVENTS_SECRET}"`, `"events-secret-456"`).Replace(s)
	if edit != nil {
		s = edit(s)
	}
	a, probs := answers.Parse("full.json", []byte(s))
	must(t, probs.Err())
	return a
}

func TestWriteLoadSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	res, err := Write(dir, fullAnswers(t, nil), opts())
	must(t, err)
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %v", res.Warnings)
	}
	files := snapshot(t, dir)
	for name, content := range files {
		for _, s := range []string{"sk-llm-key-123", "events-secret-456"} {
			if strings.Contains(content, s) != (name == SecretsFile) {
				t.Errorf("%s: contains %q = %v", name, s, strings.Contains(content, s))
			}
		}
	}
	prov := files["providers/messaging-whatsapp/default/default.yaml"]
	for _, want := range []string{"conversation_timeout: 30m\n", "reconcile_window: 1m\n", "retention:\n  messages: 30d\n  idempotency_keys: 2d\n",
		"marketing_messages: true\n", "order_api_url: https://shop.example.com/api/orders\n",
		"http_allow: [shop.example.com, '*.example.net', 'api.shop.com:8443']\n", "events_url: https://helpdesk.example.com/hooks/gtc\n",
		"llm:\n  base_url: http://localhost:11434/v1\n  model: llama3.1:8b\n", "portfolio:\n  id: \"555000111222333\"\n  messaging_limit: 10000\n",
		"  llm_api_key: WHATSAPP_DEFAULT_DEFAULT_LLM_API_KEY\n", "  events_secret: WHATSAPP_DEFAULT_DEFAULT_EVENTS_SECRET\n"} {
		if !strings.Contains(prov, want) {
			t.Errorf("provider file lacks %q:\n%s", want, prov)
		}
	}
	b, err := Load(dir, LoadOptions{})
	must(t, err)
	p, err := b.Only()
	must(t, err)
	if p.ConversationTimeout != 30*time.Minute || p.ReconcileWindow != time.Minute || p.OrderAPIURL != "https://shop.example.com/api/orders" ||
		p.EventsURL != "https://helpdesk.example.com/hooks/gtc" || !p.MarketingMessages ||
		strings.Join(p.HTTPAllow, " ") != "shop.example.com *.example.net api.shop.com:8443" ||
		p.Retention != (answers.Retention{Messages: 30 * 24 * time.Hour, IdempotencyKeys: 48 * time.Hour}) ||
		p.Portfolio != (answers.Portfolio{ID: "555000111222333", MessagingLimit: 10000}) {
		t.Errorf("provider %+v", p)
	}
	if p.LLM == nil || p.LLM.BaseURL != "http://localhost:11434/v1" || p.LLM.Model != "llama3.1:8b" {
		t.Fatalf("llm %+v", p.LLM)
	}
	if k, err := p.LLM.APIKey.Resolve(nil); err != nil || k != "sk-llm-key-123" {
		t.Errorf("llm key %v", err)
	}
	if s, err := p.EventsSecret.Resolve(nil); err != nil || s != "events-secret-456" {
		t.Errorf("events secret %v", err)
	}
	if got := p.FlowSettings()["order_api_url"]; got != "https://shop.example.com/api/orders" {
		t.Errorf("flow settings %v", p.FlowSettings())
	}
	if key, limit := p.MessagingLimitScope(); key != "portfolio:555000111222333" || limit != 10000 {
		t.Errorf("scope %s %d", key, limit)
	}
	if !p.AllowHost("a.example.net") || p.AllowHost("evil.example.org") {
		t.Error("AllowHost")
	}

	// Written without the optional settings: defaults, and the secrets leave secrets.env.
	_, err = Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	b, err = Load(dir, LoadOptions{})
	must(t, err)
	p, _ = b.Only()
	if p.ConversationTimeout != time.Hour || p.Retention != answers.DefaultRetention() || p.LLM != nil ||
		p.OrderAPIURL != "" || p.HTTPAllow != nil || p.EventsURL != "" || !p.EventsSecret.IsZero() ||
		p.MarketingMessages || p.Portfolio.ID != "" || p.APIVersion != answers.DefaultAPIVersion {
		t.Errorf("defaults %+v", p)
	}
	if key, limit := p.MessagingLimitScope(); key != "phone:123" || limit != 1000 {
		t.Errorf("scope %s %d", key, limit)
	}
	if strings.Contains(snapshot(t, dir)[SecretsFile], "LLM_API_KEY") {
		t.Error("a removed llm key stays in secrets.env")
	}
	if p.FlowSettings()["order_api_url"] != "" {
		t.Error("order_api_url")
	}
}

// A bundle written before these settings existed still loads, with the defaults.
func TestLoadOlderProviderFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	f := filepath.Join(dir, "providers/messaging-whatsapp/default/default.yaml")
	data, err := os.ReadFile(f)
	must(t, err)
	var kept []string
	skip := false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "conversation_timeout:") || strings.HasPrefix(l, "marketing_messages:") {
			continue
		}
		if strings.HasPrefix(l, "retention:") {
			skip = true
			continue
		}
		if skip && strings.HasPrefix(l, "  ") {
			continue
		}
		skip = false
		kept = append(kept, l)
	}
	must(t, os.WriteFile(f, []byte(strings.Join(kept, "\n")), 0o644))
	b, err := Load(dir, LoadOptions{})
	must(t, err)
	p, _ := b.Only()
	if p.ConversationTimeout != time.Hour || p.Retention != answers.DefaultRetention() {
		t.Fatalf("%+v", p)
	}
}

func TestLoadSettingsProblems(t *testing.T) {
	const prov = "providers/messaging-whatsapp/default/default.yaml"
	tests := []struct {
		name     string
		old, new string
		env      map[string]string
		want     []string
	}{
		{"timeout", "conversation_timeout: 30m", "conversation_timeout: soon", nil, []string{"default.yaml:", "conversation_timeout: must be a duration like \"1h\""}},
		{"timeout range", "conversation_timeout: 30m", "conversation_timeout: 60d", nil, []string{"conversation_timeout must be between 1s and 30d"}},
		{"reconcile", "reconcile_window: 1m", "reconcile_window: soon", nil, []string{"default.yaml:", "reconcile_window: must be a duration like \"3m\""}},
		{"reconcile range", "reconcile_window: 1m", "reconcile_window: 2d", nil, []string{"reconcile_window must be between 10s and 24h"}},
		{"retention", "messages: 30d", "messages: 10m", nil, []string{"retention.messages: retention.messages must be between 1h and 3650d"}},
		{"llm http", "base_url: http://localhost:11434/v1", "base_url: http://llm.example/v1", nil, []string{"llm.base_url: llm.base_url must use https"}},
		{"llm no model", "  model: llama3.1:8b\n", "", nil, []string{"llm.model is required"}},
		{"llm unknown", "  model: llama3.1:8b\n", "  model: llama3.1:8b\n  modle: x\n", nil, []string{"unknown key modle, did you mean model?"}},
		{"allow", "'*.example.net'", "'a.*.net'", nil, []string{"http_allow: http_allow[1]:", "a * is allowed only"}},
		{"events http", "events_url: https://helpdesk.example.com/hooks/gtc", "events_url: http://helpdesk.example.com/", nil, []string{"events_url must use https"}},
		{"events env", "events_url: https://helpdesk.example.com/hooks/gtc", "events_url: ${GTC_TEST_EVENTS}", nil, []string{"environment variable GTC_TEST_EVENTS is not set"}},
		{"order env bad", "order_api_url: https://shop.example.com/api/orders", "order_api_url: ${GTC_TEST_ORDERS}", map[string]string{"GTC_TEST_ORDERS": "ftp://x"}, []string{"order_api_url must start with https:// or http://"}},
		{"portfolio id", `id: "555000111222333"`, "id: acme", nil, []string{"portfolio.id must be digits only"}},
		{"secret in file", "llm_api_key: WHATSAPP_DEFAULT_DEFAULT_LLM_API_KEY", "llm_api_key: sk-llm-key-123", nil, []string{"secrets.llm_api_key must name a secrets.env key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			_, err := Write(dir, fullAnswers(t, nil), opts())
			must(t, err)
			replaceIn(t, dir, prov, tt.old, tt.new)
			_, err = Load(dir, LoadOptions{LookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }})
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error %v (%T)", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "sk-llm-key-123") {
				t.Error("secret in error")
			}
		})
	}
}

func TestPortfolioShared(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, fullAnswers(t, nil), opts())
	must(t, err)
	other := fullAnswers(t, func(s string) string {
		return strings.Replace(strings.Replace(s, `"messaging-whatsapp": {`, `"messaging-whatsapp": {"tenant": "acme",`, 1), `"messaging_limit": 10000`, `"messaging_limit": 1000`, 1)
	})
	_, err = Write(dir, other, opts())
	must(t, err)
	_, err = Load(dir, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "default.yaml:31:20: portfolio.messaging_limit: portfolio 555000111222333 has messaging_limit 10000 here and 1000 in providers/messaging-whatsapp/acme/default.yaml: the numbers of one portfolio share one limit") {
		t.Fatalf("%v", err)
	}
}

func TestFlowFilesRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks")
	}
	outside := filepath.Join(t.TempDir(), "shadow")
	must(t, os.WriteFile(outside, []byte("root:SECRET-HASH:19000:0:99999:7:::\n"), 0o600))
	tests := []struct {
		name string
		make func(dir string)
		want string
	}{
		{"symlink outside", func(dir string) {
			must(t, os.Symlink(outside, filepath.Join(dir, "flows", "evil.ygtc")))
		}, "flows/evil.ygtc: symbolic link to a file outside the bundle: gtc reads flows only from inside the bundle"},
		{"relative symlink outside", func(dir string) {
			rel, err := filepath.Rel(filepath.Join(dir, "flows"), outside)
			must(t, err)
			must(t, os.Symlink(rel, filepath.Join(dir, "flows", "evil.ygtc")))
		}, "flows/evil.ygtc: symbolic link to a file outside the bundle: gtc reads flows only from inside the bundle"},
		{"dangling symlink", func(dir string) {
			must(t, os.Symlink("/nonexistent/x", filepath.Join(dir, "flows", "gone.ygtc")))
		}, "flows/gone.ygtc: symbolic link to a file that does not exist"},
		{"directory", func(dir string) {
			must(t, os.Mkdir(filepath.Join(dir, "flows", "dir.ygtc"), 0o755))
		}, "flows/dir.ygtc: not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			_, err := Write(dir, testAnswers(t, "default", "default"), opts())
			must(t, err)
			tt.make(dir)
			_, err = Load(dir, LoadOptions{})
			if _, ok := problem.As(err); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRET-HASH") || strings.Contains(err.Error(), "root:") {
				t.Fatalf("file content in %v", err)
			}
		})
	}
}

func TestFlowFilesInsideBundle(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks")
	}
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(dir, "shared"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "shared", "common.ygtc"), []byte("name: common\n"), 0o644))
	must(t, os.Symlink("../shared/common.ygtc", filepath.Join(dir, "flows", "common.ygtc")))
	must(t, os.WriteFile(filepath.Join(dir, "flows", "README.txt"), []byte("notes"), 0o644))
	b, err := Load(dir, LoadOptions{})
	must(t, err)
	var names []string
	for _, f := range b.FlowFiles() {
		names = append(names, filepath.Base(f))
	}
	if strings.Join(names, ",") != "common.ygtc,hello.ygtc,help.ygtc" {
		t.Fatalf("flow files %v", names)
	}
}

func TestSecretsSymlinkWrittenThrough(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks")
	}
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	vault := filepath.Join(t.TempDir(), "vault")
	must(t, os.Mkdir(vault, 0o700))
	target := filepath.Join(vault, "gtc-secrets.env")
	must(t, os.Rename(filepath.Join(dir, SecretsFile), target))
	must(t, os.Symlink(target, filepath.Join(dir, SecretsFile)))

	a := testAnswers(t, "default", "default")
	a.AppSecret = fullAnswers(t, nil).AppSecret // same value, then a change below
	a.VerifyToken = fullAnswers(t, func(s string) string { return strings.Replace(s, testVerify, "new-verify-token", 1) }).VerifyToken
	_, err = Write(dir, a, opts())
	must(t, err)
	st, err := os.Lstat(filepath.Join(dir, SecretsFile))
	must(t, err)
	if st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("secrets.env symlink replaced by a regular file")
	}
	data, err := os.ReadFile(target)
	must(t, err)
	if !strings.Contains(string(data), "=new-verify-token\n") {
		t.Fatalf("target not updated:\n%s", data)
	}
	if tst, _ := os.Stat(target); tst.Mode().Perm() != 0o600 {
		t.Errorf("target mode %o", tst.Mode().Perm())
	}
	if entries, _ := os.ReadDir(vault); len(entries) != 1 {
		t.Errorf("leftovers in the target folder: %v", entries)
	}
}

func TestRerunUnsetReferenceKeepsSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	ref := func(env map[string]string) (*WriteResult, string) {
		a := testAnswers(t, "default", "default")
		b, probs := answers.Parse("a.json", []byte(`{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://bot.example.com","phone_number_id":"123","access_token":"${GTC_TEST_TOKEN}","verify_token":"${GTC_TEST_VERIFY}","app_secret":"`+testApp+`"}}`))
		must(t, probs.Err())
		a.AccessToken, a.VerifyToken = b.AccessToken, b.VerifyToken
		o := opts()
		o.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		res, err := Write(dir, a, o)
		must(t, err)
		return res, snapshot(t, dir)[SecretsFile]
	}
	// Unset: the working secrets stay, with a warning naming the field and the variable.
	res, secrets := ref(nil)
	if !strings.Contains(secrets, "WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN="+testToken+"\n") || !strings.Contains(secrets, "="+testVerify+"\n") {
		t.Fatalf("working secret replaced:\n%s", secrets)
	}
	if len(res.Warnings) != 2 {
		t.Fatalf("warnings %v", res.Warnings)
	}
	w := res.Warnings[0].String()
	for _, want := range []string{"access_token", "GTC_TEST_TOKEN is not set", "kept the access_token already in secrets.env", "export GTC_TEST_TOKEN"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if strings.Contains(w, testToken) {
		t.Error("secret in warning")
	}
	// Set: the reference is written, no warning.
	res, secrets = ref(map[string]string{"GTC_TEST_TOKEN": "x", "GTC_TEST_VERIFY": "y"})
	if len(res.Warnings) != 0 || !strings.Contains(secrets, "WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN=${GTC_TEST_TOKEN}\n") {
		t.Fatalf("%v\n%s", res.Warnings, secrets)
	}
	// Reference over reference: nothing working to lose, no warning.
	res, _ = ref(nil)
	if len(res.Warnings) != 0 {
		t.Fatalf("%v", res.Warnings)
	}
}

func TestListFlows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks")
	}
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, testAnswers(t, "default", "default"), opts())
	must(t, err)
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "flows", "evil.ygtc")))
	files, err := ListFlows(dir)
	if _, ok := problem.As(err); !ok || !strings.Contains(err.Error(), "evil.ygtc: symbolic link to a file outside the bundle") {
		t.Fatalf("%v", err)
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
}

func TestBundleRetentionShortestWins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	_, err := Write(dir, fullAnswers(t, nil), opts()) // 30d, 48h
	must(t, err)
	_, err = Write(dir, testAnswers(t, "acme", "support"), opts()) // defaults: 90d, 24h
	must(t, err)
	b, err := Load(dir, LoadOptions{})
	must(t, err)
	if got := b.Retention(); got != (answers.Retention{Messages: 30 * 24 * time.Hour, IdempotencyKeys: 24 * time.Hour}) {
		t.Fatalf("%+v", got)
	}
	if (&Bundle{}).Retention() != answers.DefaultRetention() {
		t.Fatal("empty bundle")
	}
}
