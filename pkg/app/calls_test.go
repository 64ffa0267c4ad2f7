package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/flow"
)

const aiFlow = `name: bot
version: "1.0"
nodes:
  - id: call
    type: http
    config:
      url: "https://shop.example.com/x"
      headers:
        Authorization: "Bearer {{secrets.SHOP_TOKEN}}"
    next: ai
  - id: ai
    type: ai
    config:
      prompt: "{{secrets.OTHER}}"
triggers:
  - type: text
    keywords: [go]
    target: call
`

func TestCheckCalls(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bot.ygtc"), []byte(aiFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Skipf("flow does not load here (validation differs): %v", err)
	}
	b := &bundle.Bundle{Dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(b.Dir, bundle.SecretsFile), []byte("# comment\nSHOP_TOKEN=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OTHER": "from-env", "SHOP_TOKEN": "env-loses"}
	lookup, err := FlowSecrets(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup("SHOP_TOKEN"); v != "from-file" {
		t.Errorf("SHOP_TOKEN = %q, want secrets.env's", v)
	}
	if v, _ := lookup("OTHER"); v != "from-env" {
		t.Errorf("OTHER = %q, want the environment's", v)
	}
	noLLM := &bundle.Provider{Tenant: "acme", Team: "support"}
	withLLM := &bundle.Provider{Tenant: "acme", Team: "sales", LLM: &answers.LLM{BaseURL: "http://localhost:1/v1", Model: "m"}}
	err = CheckCalls(set, []*bundle.Provider{noLLM, withLLM}, func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"acme/support: the flows have ai nodes but the provider has no llm setting",
		"secrets.OTHER, which is not set", "secrets.SHOP_TOKEN, which is not set"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "acme/sales") {
		t.Errorf("error names the provider with llm: %q", msg)
	}
	if err := CheckCalls(set, []*bundle.Provider{withLLM}, lookup); err != nil {
		t.Errorf("all set: %v", err)
	}
}
