package calls

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
)

func TestParseBody(t *testing.T) {
	c := &flow.Call{Secrets: []string{"tok123"}}
	r := &Runner{}
	tests := []struct {
		ct, body string
		want     any
	}{
		{"application/json", `{"a":1,"b":[true,null,"x"]}`, map[string]any{"a": 1.0, "b": []any{true, nil, "x"}}},
		{"application/json; charset=utf-8", `"text"`, "text"},
		{"Application/JSON", `42`, 42.0},
		{"application/problem+json", `{"title":"t"}`, map[string]any{"title": "t"}},
		{"text/json", `[1]`, []any{1.0}},
		{"application/json", "\xef\xbb\xbf{\"bom\":true}", map[string]any{"bom": true}},
		{"application/json", `{"a":1} {"b":2}`, `{"a":1} {"b":2}`},
		{"application/json", `{"a":`, `{"a":`},
		{"application/json", ``, ``},
		{"text/plain", `{"a":1}`, `{"a":1}`},
		{"", `hello`, `hello`},
		{"text/html", "caf\xe9", "caf\uFFFD"},
		{"application/json", `{"tok123":"Bearer tok123","n":["tok123"]}`, map[string]any{"[secret]": "Bearer [secret]", "n": []any{"[secret]"}}},
		{"text/plain", `echo tok123`, `echo [secret]`},
		{"application/jsonx", `{}`, `{}`},
		{"application/json;;", `{}`, map[string]any{}},
	}
	for _, tt := range tests {
		got := r.parseBody(c, tt.ct, []byte(tt.body))
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
			t.Errorf("%q %q: %#v, want %#v", tt.ct, tt.body, got, tt.want)
		}
	}
}

func FuzzParseCompletion(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"total_tokens":4}}`,
		`{"choices":[{"message":{"content":[{"type":"text","text":"a"}]}}]}`,
		`{"choices":[{"message":{"content":null,"refusal":"no"}}]}`,
		`{"error":{"message":"x"}}`, `{"choices":null}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCompletion(b)
		if err == nil && c.Usage == nil {
			t.Errorf("nil usage for %q", b)
		}
		_ = apiMessage(b)
	})
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2`, `"x"`, "\xef\xbb\xbf{}", `{"s3cret":"s3cret"}`} {
		f.Add("application/json", []byte(s))
	}
	f.Add("text/plain; charset=latin1", []byte("caf\xe9"))
	f.Fuzz(func(t *testing.T, ct string, b []byte) {
		r := &Runner{}
		c := &flow.Call{Secrets: []string{"s3cret"}}
		v := r.parseBody(c, ct, b)
		if v == nil && !isJSON(ct) {
			t.Errorf("nil body for %q", b)
		}
		if s := fmt.Sprintf("%#v", v); strings.Contains(s, "s3cret") {
			t.Errorf("secret in %s", s)
		}
		_ = retryAfter(string(b), time.Unix(0, 0))
	})
}
