package answers

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/problem"
)

func readAnswers(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/answers/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFiles(t *testing.T) {
	tests := []struct {
		file     string
		form     Form
		tenant   string
		team     string
		version  string
		warnings int
		base     string // api_base_url: the default, or local.json's Graph double
	}{
		{"seed.json", FormFlat, "default", "default", DefaultAPIVersion, 1, DefaultAPIBaseURL},
		{"structured.json", FormStructured, "acme", "support", "v19.0", 0, DefaultAPIBaseURL},
		{"local.json", FormFlat, "default", "default", DefaultAPIVersion, 1, "http://127.0.0.1:8089"},
		{"example.json", FormFlat, "default", "default", "v18.0", 0, DefaultAPIBaseURL},
		{"full.json", FormFlat, "default", "default", "v18.0", 0, DefaultAPIBaseURL},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a, probs := Parse(tt.file, readAnswers(t, tt.file))
			if err := probs.Err(); err != nil {
				t.Fatalf("unexpected problems: %v", err)
			}
			if a.Form != tt.form || a.Tenant != tt.tenant || a.Team != tt.team || a.APIVersion != tt.version {
				t.Errorf("got form %s tenant %s team %s version %s", a.Form, a.Tenant, a.Team, a.APIVersion)
			}
			if got := len(probs.Warnings()); got != tt.warnings {
				t.Errorf("got %d warnings, want %d: %v", got, tt.warnings, probs.Warnings())
			}
			if !a.Enabled || a.APIBaseURL != tt.base || a.RatePerSecond != 80 ||
				a.RecipientInterval != 6*time.Second || a.RecipientBurst != 45 || a.MessagingLimit != 1000 || !a.MarkRead {
				t.Errorf("defaults not applied: %+v", a)
			}
		})
	}
}

func TestParseReferencesKept(t *testing.T) {
	a, probs := Parse("example.json", readAnswers(t, "example.json"))
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	if name, ok := a.AccessToken.Ref(); !ok || name != "WHATSAPP_ACCESS_TOKEN" {
		t.Errorf("access_token reference = %q %v", name, ok)
	}
	in := `{"messaging-whatsapp":{"enabled":true,"public_base_url":"${BASE}","phone_number_id":"${PHONE}","access_token":"t","verify_token":"v","app_secret":"s"}}`
	a, probs = Parse("a.json", []byte(in))
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	if a.PublicBaseURL != "${BASE}" || a.PhoneNumberID != "${PHONE}" {
		t.Errorf("references not kept: %q %q", a.PublicBaseURL, a.PhoneNumberID)
	}
}

const valid = `{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://x.example","phone_number_id":"1","access_token":"t","verify_token":"v","app_secret":"s"}}`

// with replaces a field's value in valid, or adds extra keys.
func with(field, raw string) string {
	if i := strings.Index(valid, `"`+field+`":`); i >= 0 {
		j := i + len(field) + 3
		k := j
		if valid[k] == '"' {
			k = j + 1 + strings.IndexByte(valid[j+1:], '"') + 1
		} else {
			for valid[k] != ',' && valid[k] != '}' {
				k++
			}
		}
		return valid[:j] + raw + valid[k:]
	}
	return strings.Replace(valid, `{"enabled"`, `{"`+field+`":`+raw+`,"enabled"`, 1)
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // each must appear in one problem
	}{
		{"not json", `{"messaging-whatsapp": {`, []string{"1:24", "invalid JSON"}},
		{"trailing comma", "{\n \"messaging-whatsapp\": {},\n}", []string{"3:1", "trailing comma"}},
		{"array", `[]`, []string{"must be a JSON object"}},
		{"missing provider", `{}`, []string{"missing messaging-whatsapp"}},
		{"unknown top key", `{"messaging-whatsap":{}}`, []string{"1:2", "unknown key messaging-whatsap, did you mean messaging-whatsapp?"}},
		{"both forms", `{"messaging-whatsapp":{},"setup_answers":{}}`, []string{"not both"}},
		{"structured without provider", `{"setup_answers":{}}`, []string{"setup_answers: missing messaging-whatsapp"}},
		{"missing required", `{"messaging-whatsapp":{}}`, []string{"missing required key enabled", "missing required key public_base_url", "missing required key phone_number_id", "missing required key access_token", "missing required key verify_token"}},
		{"enabled string", with("enabled", `"true"`), []string{"messaging-whatsapp.enabled: must be a boolean"}},
		{"mark_read number", with("mark_read", `1`), []string{"mark_read: must be a boolean"}},
		{"http public url", with("public_base_url", `"http://bot.example.com"`), []string{"must use https"}},
		{"ftp url", with("public_base_url", `"ftp://bot.example.com"`), []string{"must start with https://"}},
		{"relative url", with("public_base_url", `"bot.example.com"`), []string{"absolute URL"}},
		{"query", with("public_base_url", `"https://bot.example.com/?a=b"`), []string{"must not have a query"}},
		{"fragment", with("public_base_url", `"https://bot.example.com/#x"`), []string{"must not have a fragment"}},
		{"phone letters", with("phone_number_id", `"12a"`), []string{"phone_number_id must be digits only"}},
		{"phone number type", with("phone_number_id", `123`), []string{"phone_number_id: must be a string"}},
		{"waba letters", with("business_account_id", `"x1"`), []string{"business_account_id must be digits only"}},
		{"api version", with("api_version", `"18.0"`), []string{"api_version must look like"}},
		{"token whitespace", with("access_token", `"EAA secret"`), []string{"access_token contains whitespace"}},
		{"verify empty", with("verify_token", `""`), []string{"verify_token must not be empty"}},
		{"app secret whitespace", with("app_secret", `"a b"`), []string{"app_secret contains whitespace"}},
		{"tenant upper", with("tenant", `"Acme"`), []string{"tenant must be 1 to 63 lowercase"}},
		{"team long", with("team", `"`+strings.Repeat("a", 64)+`"`), []string{"team must be 1 to 63"}},
		{"tenant ref", with("tenant", `"${T}"`), []string{"cannot be a ${NAME} reference"}},
		{"unknown key", with("verify_tokn", `"x"`), []string{"unknown key verify_tokn, did you mean verify_token?"}},
		{"partial ref", with("public_base_url", `"https://${HOST}/x"`), []string{"whole-value ${NAME}"}},
		{"rate zero", with("rate_per_second", `0`), []string{"rate_per_second: must be more than 0"}},
		{"rate string", with("rate_per_second", `"80"`), []string{"rate_per_second: must be a number"}},
		{"burst fraction", with("recipient_burst", `1.5`), []string{"recipient_burst: must be a whole number"}},
		{"limit negative", with("messaging_limit", `-1`), []string{"messaging_limit: must be between 0"}},
		{"interval bad", with("recipient_interval", `"6"`), []string{"recipient_interval: must be a duration"}},
		{"keywords not array", with("opt_out_keywords", `"STOP"`), []string{"must be an array"}},
		{"keyword empty", with("opt_in_keywords", `[""]`), []string{"opt_in_keywords[0]: must not be empty"}},
		{"keyword overlap", with("opt_in_keywords", `["stop"]`), []string{"both an opt-out and an opt-in keyword"}},
		{"duplicate key", `{"messaging-whatsapp":{"enabled":true,"enabled":false}}`, []string{"duplicate key \"enabled\""}},
		{"tenant twice", `{"tenant":"a","messaging-whatsapp":{"tenant":"b"}}`, []string{"tenant is given twice"}},
		{"many at once", with("verify_tokn", `1`)[:0] + `{"messaging-whatsapp":{"enabled":"yes","public_base_url":"http://x.example","phone_number_id":"x","access_token":"a b","verify_token":"v","bogus":1}}`,
			[]string{"enabled: must be a boolean", "must use https", "phone_number_id must be digits", "access_token contains whitespace", "unknown key bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := Parse("answers.json", []byte(tt.in))
			err := probs.Err()
			if err == nil {
				t.Fatalf("no error for %s", tt.in)
			}
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error is %T, want *problem.Error", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
			for _, p := range probs.Errors() {
				if p.Line == 0 || p.Col == 0 {
					t.Errorf("problem without line:col: %s", p)
				}
			}
			for _, s := range []string{"EAA secret", "a b\""} {
				if strings.Contains(msg, s) {
					t.Errorf("secret %q leaked in %s", s, msg)
				}
			}
		})
	}
}

func TestLineCol(t *testing.T) {
	in := "{\n  \"messaging-whatsapp\": {\n    \"enabled\": \"yes\"\n  }\n}"
	_, probs := Parse("a.json", []byte(in))
	var got *problem.Problem
	for _, p := range probs.Errors() {
		if p.Path == "messaging-whatsapp.enabled" {
			got = &p
		}
	}
	if got == nil || got.Line != 3 || got.Col != 16 {
		t.Fatalf("enabled problem at %+v, want 3:16", got)
	}
}

func TestByteOrderMark(t *testing.T) {
	_, probs := Parse("a.json", append([]byte("\xEF\xBB\xBF"), `{"messaging-whatsapp": 1}`...))
	errs := probs.Errors()
	if len(errs) != 1 || errs[0].Line != 1 || errs[0].Col != 24 {
		t.Fatalf("problems %v, want one at 1:24", errs)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"localhost http", with("public_base_url", `"http://localhost:8080"`), "plain http is for local testing only"},
		{"loopback http", with("public_base_url", `"http://127.0.0.1:8080"`), "plain http is for local testing only"},
		{"no app secret", strings.Replace(valid, `,"app_secret":"s"`, "", 1), "gtc serve` will reject every webhook POST"},
		{"http api base", with("api_base_url", `"http://proxy.internal"`), "unencrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := Parse("a.json", []byte(tt.in))
			if err := probs.Err(); err != nil {
				t.Fatal(err)
			}
			ws := probs.Warnings()
			if len(ws) != 1 || !strings.Contains(ws[0].String(), tt.want) {
				t.Fatalf("warnings %v, want one with %q", ws, tt.want)
			}
		})
	}
}

func TestEnabledFalse(t *testing.T) {
	a, probs := Parse("a.json", []byte(with("enabled", "false")))
	if probs.HasErrors() || a.Enabled {
		t.Fatalf("enabled false: %v %v", a.Enabled, probs.Err())
	}
}

func TestSettings(t *testing.T) {
	a, probs := Parse("a.json", []byte(strings.Replace(valid, `{"enabled"`, `{"rate_per_second":12.5,"recipient_interval":"500ms","recipient_burst":3,"messaging_limit":0,"opt_out_keywords":["halt"],"opt_in_keywords":["go"],"mark_read":false,"enabled"`, 1)))
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	if a.RatePerSecond != 12.5 || a.RecipientInterval != 500*time.Millisecond || a.RecipientBurst != 3 ||
		a.MessagingLimit != 0 || a.OptOutKeywords[0] != "halt" || a.OptInKeywords[0] != "go" || a.MarkRead {
		t.Fatalf("settings: %+v", a)
	}
}

func TestCheckDefault(t *testing.T) {
	ps := Check(Default())
	fields := map[string]bool{}
	for _, p := range ps {
		fields[p.Field()] = true
	}
	for _, f := range []string{FieldPublicBaseURL, FieldPhoneNumberID, FieldAccessToken, FieldVerifyToken, FieldAppSecret} {
		if !fields[f] {
			t.Errorf("Check(Default()) says nothing about %s", f)
		}
	}
}

func TestCallbackURL(t *testing.T) {
	if got := CallbackURL("https://x.example/", "acme", "support"); got != "https://x.example/webhook/whatsapp/acme/support" {
		t.Fatal(got)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"seed.json", "structured.json", "local.json", "example.json", "full.json"} {
		b, err := os.ReadFile("../../testdata/answers/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"messaging-whatsapp":{"enabled":"x","opt_in_keywords":[1,"\ud83d\ude00"]}}`))
	f.Add([]byte(`[[[[[[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, probs := Parse("f.json", data)
		if probs == nil {
			t.Fatal("nil problem list")
		}
		if err := probs.Err(); err != nil {
			if _, ok := problem.As(err); !ok {
				t.Fatalf("error %T is not a *problem.Error", err)
			}
			return
		}
		if a == nil {
			t.Fatal("no answers and no error")
		}
		if len(Check(a)) != len(probs.Warnings()) {
			t.Fatalf("Parse accepted answers that Check rejects: %v", Check(a))
		}
	})
}
