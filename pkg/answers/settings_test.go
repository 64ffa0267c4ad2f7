package answers

import (
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/problem"
)

func TestParseFull(t *testing.T) {
	a, probs := Parse("full.json", readAnswers(t, "full.json"))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	if a.ConversationTimeout != 30*time.Minute || a.OrderAPIURL != "https://shop.example.com/api/orders" ||
		a.EventsURL != "https://helpdesk.example.com/hooks/gtc" || !a.MarketingMessages {
		t.Errorf("settings %+v", a)
	}
	if a.LLM == nil || a.LLM.BaseURL != "http://localhost:11434/v1" || a.LLM.Model != "llama3.1:8b" {
		t.Fatalf("llm %+v", a.LLM)
	}
	if name, ok := a.LLM.APIKey.Ref(); !ok || name != "GTC_LLM_API_KEY" {
		t.Errorf("llm.api_key %q", name)
	}
	if name, ok := a.EventsSecret.Ref(); !ok || name != "GTC_EVENTS_SECRET" {
		t.Errorf("events_secret %q", name)
	}
	if strings.Join(a.HTTPAllow, ",") != "shop.example.com,*.example.net,api.shop.com:8443" {
		t.Errorf("http_allow %v", a.HTTPAllow)
	}
	if a.Retention != (Retention{30 * 24 * time.Hour, 48 * time.Hour}) {
		t.Errorf("retention %+v", a.Retention)
	}
	if a.Portfolio == nil || *a.Portfolio != (Portfolio{"555000111222333", 10000}) {
		t.Errorf("portfolio %+v", a.Portfolio)
	}
}

func TestSettingsDefaults(t *testing.T) {
	a, probs := Parse("a.json", []byte(valid))
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	if a.ConversationTimeout != time.Hour || a.ReconcileWindow != 3*time.Minute || a.Retention != (Retention{90 * 24 * time.Hour, 24 * time.Hour}) ||
		a.LLM != nil || a.Portfolio != nil || a.MarketingMessages || a.HTTPAllow != nil || a.APIVersion != DefaultAPIVersion {
		t.Fatalf("defaults %+v", a)
	}
	// llm without base_url takes OpenAI's; portfolio without a limit takes the number's.
	a, probs = Parse("a.json", []byte(with("llm", `{"model":"gpt-4o-mini"}`)))
	if probs.HasErrors() || a.LLM.BaseURL != DefaultLLMBaseURL || !a.LLM.APIKey.IsZero() {
		t.Fatalf("llm %+v %v", a.LLM, probs.Err())
	}
	a, probs = Parse("a.json", []byte(strings.Replace(valid, `{"enabled"`, `{"portfolio":{"id":"77"},"messaging_limit":250,"enabled"`, 1)))
	if probs.HasErrors() || a.Portfolio == nil || a.Portfolio.MessagingLimit != 250 {
		t.Fatalf("portfolio %+v %v", a.Portfolio, probs.Err())
	}
}

func TestSettingsProblems(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"timeout not duration", with("conversation_timeout", `"soon"`), []string{"1:47", "messaging-whatsapp.conversation_timeout: must be a duration like \"1h\""}},
		{"timeout number", with("conversation_timeout", `3600`), []string{"conversation_timeout: must be a string"}},
		{"timeout too long", with("conversation_timeout", `"31d"`), []string{"conversation_timeout: conversation_timeout must be between 1s and 30d"}},
		{"timeout ref", with("conversation_timeout", `"${T}"`), []string{"cannot be a ${NAME} reference"}},
		{"reconcile not duration", with("reconcile_window", `"later"`), []string{"messaging-whatsapp.reconcile_window: must be a duration like \"3m\""}},
		{"reconcile too short", with("reconcile_window", `"1s"`), []string{"reconcile_window: reconcile_window must be between 10s and 24h"}},
		{"llm not object", with("llm", `"gpt"`), []string{"messaging-whatsapp.llm: must be an object like"}},
		{"llm unknown key", with("llm", `{"model":"m","modle":"x"}`), []string{"messaging-whatsapp.llm.modle: unknown key modle, did you mean model?"}},
		{"llm no model", with("llm", `{"base_url":"https://llm.example"}`), []string{"messaging-whatsapp.llm: llm.model is required"}},
		{"llm model spaces", with("llm", `{"model":"gpt 4"}`), []string{"messaging-whatsapp.llm.model: llm.model must be a model name"}},
		{"llm http remote", with("llm", `{"model":"m","base_url":"http://llm.example/v1"}`), []string{"messaging-whatsapp.llm.base_url: llm.base_url must use https", "localhost"}},
		{"llm bad scheme", with("llm", `{"model":"m","base_url":"ftp://llm.example"}`), []string{"llm.base_url must start with https:// or http://"}},
		{"llm key spaces", with("llm", `{"model":"m","api_key":"sk live"}`), []string{"llm.api_key contains whitespace"}},
		{"llm key number", with("llm", `{"model":"m","api_key":12}`), []string{"llm.api_key: llm.api_key must be a string"}},
		{"llm key partial ref", with("llm", `{"model":"m","api_key":"sk-${X}"}`), []string{"whole-value ${NAME}"}},
		{"order url relative", with("order_api_url", `"shop/api"`), []string{"order_api_url must be an absolute URL"}},
		{"order url query", with("order_api_url", `"https://shop.example/?a=1"`), []string{"order_api_url must not have a query"}},
		{"order url user", with("order_api_url", `"https://u:p@shop.example/"`), []string{"must not contain a user name or password"}},
		{"allow not array", with("http_allow", `"*.example.com"`), []string{"http_allow: must be an array of host patterns"}},
		{"allow scheme", with("http_allow", `["https://shop.example"]`), []string{"http_allow[0]: \"https://shop.example\" is not a host pattern"}},
		{"allow wildcard middle", with("http_allow", `["api.*.example"]`), []string{"http_allow[0]", "a * is allowed only as the whole first label"}},
		{"allow port", with("http_allow", `["shop.example:99999"]`), []string{"the port must be a number from 1 to 65535"}},
		{"allow empty", with("http_allow", `[""]`), []string{"http_allow[0]: must not be empty"}},
		{"allow twice", with("http_allow", `["A.example","a.example"]`), []string{"http_allow[1]: \"a.example\" is listed twice"}},
		{"allow number", with("http_allow", `[1]`), []string{"http_allow[0]: must be a string"}},
		{"events http", with("events_url", `"http://hooks.example.com/x"`), []string{"events_url: events_url must use https", "localhost"}},
		{"events secret spaces", with("events_secret", `"a b"`), []string{"events_secret contains whitespace"}},
		{"retention not object", with("retention", `"90d"`), []string{"retention: must be an object like {\"messages\": \"90d\""}},
		{"retention unknown", with("retention", `{"message":"9d"}`), []string{"retention.message: unknown key message, did you mean messages?"}},
		{"retention days", with("retention", `{"messages":"1.5d"}`), []string{"retention.messages: must be a duration like \"90d\""}},
		{"retention short", with("retention", `{"messages":"10m"}`), []string{"retention.messages: retention.messages must be between 1h and 3650d"}},
		{"retention keys long", with("retention", `{"idempotency_keys":"31d"}`), []string{"retention.idempotency_keys: retention.idempotency_keys must be between 1h and 30d"}},
		{"marketing string", with("marketing_messages", `"yes"`), []string{"marketing_messages: must be a boolean"}},
		{"portfolio no id", with("portfolio", `{"messaging_limit":1000}`), []string{"messaging-whatsapp.portfolio: portfolio.id is required"}},
		{"portfolio id letters", with("portfolio", `{"id":"acme"}`), []string{"portfolio.id: portfolio.id must be digits only"}},
		{"portfolio limit negative", with("portfolio", `{"id":"1","messaging_limit":-5}`), []string{"portfolio.messaging_limit: must be between 0"}},
		{"portfolio unknown", with("portfolio", `{"id":"1","limit":5}`), []string{"unknown key limit: known keys are id, messaging_limit"}},
		{"unknown near new key", with("conversation_timout", `"1h"`), []string{"did you mean conversation_timeout?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := Parse("answers.json", []byte(tt.in))
			err := probs.Err()
			if err == nil {
				t.Fatalf("no error for %s", tt.in)
			}
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error is %T", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%s", w, err)
				}
			}
			for _, p := range probs.Errors() {
				if p.Line == 0 || p.Col == 0 {
					t.Errorf("problem without line:col: %s", p)
				}
			}
			for _, s := range []string{"sk live", "sk-", "u:p@"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("secret %q in %s", s, err)
				}
			}
		})
	}
}

func TestSettingsWarnings(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"events unsigned", with("events_url", `"https://hooks.example.com"`), "event POSTs go out unsigned"},
		{"events secret alone", with("events_secret", `"s3cret"`), "events_url is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := Parse("a.json", []byte(tt.in))
			if err := probs.Err(); err != nil {
				t.Fatal(err)
			}
			ws := probs.Warnings()
			if len(ws) != 1 || !strings.Contains(ws[0].String(), tt.want) || ws[0].Line == 0 {
				t.Fatalf("warnings %v, want one with %q", ws, tt.want)
			}
		})
	}
	// Loopback http is fine for the events receiver and the LLM.
	for _, in := range []string{with("events_url", `"http://127.0.0.1:9000/e"`)[:0] + with("llm", `{"model":"m","base_url":"http://[::1]:8000/v1"}`),
		with("order_api_url", `"http://orders.internal/api"`)} {
		if _, probs := Parse("a.json", []byte(in)); probs.HasErrors() || len(probs.Warnings()) != 0 {
			t.Errorf("%s: %v %v", in, probs.Err(), probs.Warnings())
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "1d": 24 * time.Hour, "24h": 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"d", "1.5d", "-1d", "99999999999d", "x", ""} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
	for d, want := range map[time.Duration]string{time.Hour: "1h", 24 * time.Hour: "24h", 90 * 24 * time.Hour: "90d", 30 * time.Minute: "30m", 90 * time.Minute: "1h30m", 6 * time.Second: "6s", 36 * time.Hour: "36h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("round trip of %v: %v %v", d, back, err)
		}
	}
}

func TestAllowHost(t *testing.T) {
	patterns := []string{"shop.example.com", "*.example.net", "api.shop.com:8443", "10.0.0.5", "[::1]:8080"}
	tests := []struct {
		host string
		want bool
	}{
		{"shop.example.com", true},
		{"SHOP.example.com.", true},
		{"shop.example.com:443", true},
		{"www.shop.example.com", false},
		{"example.com", false},
		{"a.example.net", true},
		{"a.b.example.net:9000", true},
		{"example.net", false},
		{"evilexample.net", false},
		{"example.net.evil.com", false},
		{"api.shop.com:8443", true},
		{"api.shop.com", false},
		{"api.shop.com:443", false},
		{"10.0.0.5:80", true},
		{"10.0.0.6", false},
		{"[::1]:8080", true},
		{"[::1]:8081", false},
		{"", false},
		{"[::1", false},
	}
	for _, tt := range tests {
		if got := AllowHost(patterns, tt.host); got != tt.want {
			t.Errorf("AllowHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if !AllowHost(nil, "anything.example") || !AllowHost([]string{"*"}, "x.y:1") {
		t.Error("an empty list and * allow every host")
	}
	for _, p := range patterns {
		if err := CheckHostPattern(p); err != nil {
			t.Errorf("CheckHostPattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "http://x", "x/y", "a.*.b", "*x.com", "x:", "x:0", "[::1", "::1:8080:x", "-x.com", "a b", "u@x"} {
		if err := CheckHostPattern(p); err == nil {
			t.Errorf("CheckHostPattern(%q) accepted", p)
		}
	}
}

func FuzzAllowHost(f *testing.F) {
	f.Add("*.example.com", "a.example.com:80")
	f.Add("[::1]:8080", "[::1]:8080")
	f.Fuzz(func(t *testing.T, pattern, host string) {
		if AllowHost([]string{pattern}, host) && CheckHostPattern(pattern) != nil {
			t.Fatalf("invalid pattern %q matched %q", pattern, host)
		}
	})
}
