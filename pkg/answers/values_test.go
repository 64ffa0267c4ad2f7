package answers

import (
	"reflect"
	"strings"
	"testing"
)

func TestValuesRoundTrip(t *testing.T) {
	a, probs := Parse("example.json", readAnswers(t, "example.json"))
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	b, probs := FromValues(a.Values())
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	if b.AccessToken.Raw() != a.AccessToken.Raw() || b.RecipientInterval != a.RecipientInterval ||
		strings.Join(b.OptOutKeywords, ",") != strings.Join(a.OptOutKeywords, ",") || b.RatePerSecond != a.RatePerSecond ||
		b.PublicBaseURL != a.PublicBaseURL || b.Tenant != a.Tenant || b.MarkRead != a.MarkRead {
		t.Fatalf("round trip:\n%+v\n%+v", a, b)
	}
}

func TestFromValuesProblems(t *testing.T) {
	base := Default().Values()
	base[FieldPublicBaseURL], base[FieldPhoneNumberID] = "https://x.example", "1"
	base[FieldAccessToken], base[FieldVerifyToken], base[FieldAppSecret] = "t", "v", "s"
	tests := []struct {
		name, key, value, want string
	}{
		{"bool", FieldEnabled, "yes", "messaging-whatsapp.enabled: must be true or false"},
		{"phone", FieldPhoneNumberID, "abc", "phone_number_id must be digits only"},
		{"token", FieldAccessToken, "a b", "access_token contains whitespace"},
		{"rate", FieldRatePerSecond, "fast", "rate_per_second: must be a number"},
		{"interval", FieldRecipientInterval, "6", "recipient_interval: must be a duration"},
		{"partial ref", FieldAPIBaseURL, "https://${H}", "api_base_url: only a whole-value"},
		{"unknown", "verify_tokn", "x", "did you mean verify_token?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := map[string]string{}
			for k, x := range base {
				v[k] = x
			}
			v[tt.key] = tt.value
			_, probs := FromValues(v)
			err := probs.Err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "a b") {
				t.Fatal("secret in message")
			}
		})
	}
	if _, probs := FromValues(base); probs.HasErrors() {
		t.Fatal(probs.Err())
	}
}

func TestValuesRoundTripFull(t *testing.T) {
	a, probs := Parse("full.json", readAnswers(t, "full.json"))
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	b, probs := FromValues(a.Values())
	if probs.HasErrors() {
		t.Fatal(probs.Err())
	}
	b.Form = a.Form
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip:\n%+v\n%+v", a, b)
	}
	for _, f := range []string{FieldLLMAPIKey, FieldEventsSecret} {
		if !IsSecret(f) {
			t.Errorf("%s is not a secret", f)
		}
	}
	// Without the optional settings, nothing appears.
	d := Default()
	d.PublicBaseURL, d.PhoneNumberID = "https://x.example", "1"
	c, probs := FromValues(d.Values())
	if c.LLM != nil || c.Portfolio != nil || c.HTTPAllow != nil {
		t.Fatalf("%+v %v", c, probs.Err())
	}
	if _, probs := FromValues(map[string]string{"llm.modle": "x"}); !strings.Contains(probs.Err().Error(), "did you mean llm.model?") {
		t.Fatal(probs.Err())
	}
	if _, probs := FromValues(map[string]string{FieldRetentionMessages: "forever"}); !strings.Contains(probs.Err().Error(), "retention.messages: must be a duration") {
		t.Fatal(probs.Err())
	}
}
