package graphfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestWebhookOverride(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 190)
	tests := []struct {
		name   string
		body   string
		code   int    // 0 = accepted
		detail string // in the error's details or message
		want   string // the override afterwards
	}{
		{"set", `{"webhook_configuration":{"override_callback_uri":"https://bot.example.com/webhook/whatsapp/a/b","verify_token":"vt"}}`, 0, "", "https://bot.example.com/webhook/whatsapp/a/b"},
		{"remove", `{"webhook_configuration":{"override_callback_uri":""}}`, 0, "", ""},
		{"http", `{"webhook_configuration":{"override_callback_uri":"http://bot.example.com/w","verify_token":"vt"}}`, 100, "not https", "unchanged"},
		{"relative", `{"webhook_configuration":{"override_callback_uri":"/w","verify_token":"vt"}}`, 100, "not an absolute URL", "unchanged"},
		{"too long", `{"webhook_configuration":{"override_callback_uri":"` + long + `","verify_token":"vt"}}`, 100, "at most 200", "unchanged"},
		{"no token", `{"webhook_configuration":{"override_callback_uri":"https://bot.example.com/w"}}`, 100, "webhook_configuration.verify_token", "unchanged"},
		{"no uri", `{"webhook_configuration":{"verify_token":"vt"}}`, 100, "webhook_configuration.override_callback_uri", "unchanged"},
		{"no configuration", `{}`, 100, "webhook_configuration", "unchanged"},
		{"unknown key", `{"webhook_configuration":{"override_callback_url":"https://bot.example.com/w"}}`, 100, "override_callback_url", "unchanged"},
		{"bad JSON", `{"webhook_configuration":`, 100, "", "unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := graphfake.New(graphfake.Options{Token: tok, PhoneNumberID: phone})
			t.Cleanup(s.Close)
			s.SetWebhookOverride("unchanged")
			status, body := do(t, "POST", s.URL+"/v23.0/"+phone, tok, "application/json", []byte(tt.body))
			if tt.code == 0 {
				if status != 200 || string(body) != `{"success":true}` {
					t.Fatalf("%d %s, want 200 success", status, body)
				}
			} else {
				ge := decodeErr(t, body)
				if ge.Error.Code != tt.code || !strings.Contains(ge.Error.Message+ge.Error.ErrorData.Details, tt.detail) {
					t.Fatalf("%d %s, want code %d with %q", status, body, tt.code, tt.detail)
				}
			}
			if got := s.WebhookOverride(); got != tt.want {
				t.Errorf("override %q, want %q", got, tt.want)
			}
			for _, c := range s.Calls() {
				if c.Endpoint != graphfake.EndpointPhoneSettings {
					t.Errorf("endpoint %q", c.Endpoint)
				}
				if bytes.Contains(c.Body, []byte(`"vt"`)) {
					t.Errorf("the verify token was recorded: %s", c.Body)
				}
			}
		})
	}
}

func TestWebhookOverrideHandshake(t *testing.T) {
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != "right" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, q.Get("hub.challenge"))
	}))
	t.Cleanup(hook.Close)
	s := graphfake.New(graphfake.Options{Token: tok, PhoneNumberID: phone, CallbackClient: hook.Client(), AppCallbackURL: "https://app.example.com/hook"})
	t.Cleanup(s.Close)
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok})
	ctx := context.Background()

	err := c.SetWebhookOverride(ctx, hook.URL+"/webhook/whatsapp/a/b", "wrong")
	if whatsapp.CodeOf(err) != 2200 || !strings.Contains(err.Error(), "Callback verification failed") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("err = %v, want 2200 without the token", err)
	}
	wc, err := c.WebhookConfiguration(ctx)
	if err != nil || wc.PhoneNumber != "" || wc.Application != "https://app.example.com/hook" || wc.Effective() != wc.Application {
		t.Fatalf("before: %+v %v", wc, err)
	}
	if err := c.SetWebhookOverride(ctx, hook.URL+"/webhook/whatsapp/a/b", "right"); err != nil {
		t.Fatal(err)
	}
	wc, err = c.WebhookConfiguration(ctx)
	if err != nil || wc.PhoneNumber != hook.URL+"/webhook/whatsapp/a/b" || wc.Effective() != wc.PhoneNumber {
		t.Fatalf("after: %+v %v", wc, err)
	}
	// GET answers Meta's shape: webhook_configuration with phone_number and application, and the id.
	status, body := do(t, "GET", s.URL+"/v23.0/"+phone+"?fields=webhook_configuration", tok, "", nil)
	var ans map[string]json.RawMessage
	if status != 200 || json.Unmarshal(body, &ans) != nil || string(ans["id"]) != `"`+phone+`"` || len(ans) != 2 {
		t.Fatalf("%d %s", status, body)
	}
	// Removing it: an empty URL, no token needed.
	if err := c.SetWebhookOverride(ctx, "", ""); err != nil || s.WebhookOverride() != "" {
		t.Fatalf("remove: %v, override %q", err, s.WebhookOverride())
	}
}

func TestTemplateQualityAndReason(t *testing.T) {
	s := graphfake.New(graphfake.Options{Token: tok, BusinessAccountID: waba})
	t.Cleanup(s.Close)
	if _, err := s.TemplateStatus("follow_up", "en", "REJECTED", "INCORRECT_CATEGORY", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TemplateQuality("order_confirmation", "en", "GREEN", "YELLOW", time.Now()); err != nil {
		t.Fatal(err)
	}
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, BusinessAccountID: waba, Token: tok})
	ts, err := c.ListTemplates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, tp := range ts {
		switch tp.Name {
		case "follow_up":
			seen++
			if tp.Status != "REJECTED" || tp.RejectedReason != "INCORRECT_CATEGORY" || tp.Sendable() {
				t.Errorf("follow_up: %+v", tp)
			}
		case "order_confirmation":
			seen++
			if tp.Quality() != "YELLOW" || tp.RejectedReason != "NONE" || !tp.Sendable() {
				t.Errorf("order_confirmation: %+v", tp)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("listed %d of the 2 templates", seen)
	}
	// Back to APPROVED clears the reason.
	if _, err := s.TemplateStatus("follow_up", "en", "APPROVED", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	ts, _ = c.ListTemplates(context.Background())
	for _, tp := range ts {
		if tp.Name == "follow_up" && (tp.Status != "APPROVED" || tp.RejectedReason != "NONE") {
			t.Errorf("follow_up after APPROVED: %+v", tp)
		}
	}
}
