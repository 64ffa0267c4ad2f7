package graphfake_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/graphfake"
)

// FuzzMessages: whatever a client posts, the fake answers 200 with a wamid or a Graph error
// in Meta's shape; it never panics and never records a message it refused.
func FuzzMessages(f *testing.F) {
	for _, seed := range []string{
		textMsg,
		`{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X","typing_indicator":{"type":"text"}}`,
		`{"messaging_product":"whatsapp","to":"1555000111","type":"interactive","interactive":{"type":"list","body":{"text":"x"},"action":{"button":"b","sections":[{"rows":[{"id":"a","title":"A"}]}]}}}`,
		`{"messaging_product":"whatsapp","to":"1555000111","type":"template","template":{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":"7"}]}}`,
		`{"messaging_product":"whatsapp","to":"1555000111","type":"image","image":{"id":"1","link":"x"}}`,
		`{"type":null}`, `[]`, `"x"`, ``, `{`,
	} {
		f.Add(seed)
	}
	s := graphfake.NewUnstarted(graphfake.Options{})
	defer s.Close()
	f.Fuzz(func(t *testing.T, body string) {
		before := len(s.Messages())
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v23.0/"+phone+"/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(rec, req)
		after := len(s.Messages())
		if rec.Code == 200 {
			return
		}
		if after != before {
			t.Fatalf("refused (%d) but recorded a message", rec.Code)
		}
		var ge graphErr
		if err := json.Unmarshal(rec.Body.Bytes(), &ge); err != nil || ge.Error.Code == 0 || ge.Error.Message == "" || ge.Error.FBTraceID == "" {
			t.Fatalf("not a Graph error: %d %s", rec.Code, rec.Body)
		}
	})
}

// FuzzPhoneSettings: whatever a client posts to /{phone}, the fake answers 200 success with
// an https override recorded, or a Graph error in Meta's shape that leaves the override as
// it was; the verify token is never recorded.
func FuzzPhoneSettings(f *testing.F) {
	for _, seed := range []string{
		`{"webhook_configuration":{"override_callback_uri":"https://bot.example.com/w","verify_token":"vt-secret"}}`,
		`{"webhook_configuration":{"override_callback_uri":""}}`,
		`{"webhook_configuration":{"override_callback_uri":"http://x/y","verify_token":"vt-secret"}}`,
		`{"webhook_configuration":{"override_callback_uri":null}}`,
		`{"webhook_configuration":null}`, `{"pin":"123456"}`, `[]`, ``, `{`,
	} {
		f.Add(seed)
	}
	s := graphfake.NewUnstarted(graphfake.Options{})
	defer s.Close()
	f.Fuzz(func(t *testing.T, body string) {
		s.SetWebhookOverride("https://before.example.com/w")
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v23.0/"+phone, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(rec, req)
		got := s.WebhookOverride()
		calls := s.Calls()
		if last := calls[len(calls)-1]; strings.Contains(string(last.Body), "vt-secret") {
			t.Fatalf("the verify token was recorded: %s", last.Body)
		}
		if rec.Code == 200 {
			if got != "" && !strings.HasPrefix(got, "https://") {
				t.Fatalf("accepted a non-https override %q", got)
			}
			return
		}
		if got != "https://before.example.com/w" {
			t.Fatalf("refused (%d) but changed the override to %q", rec.Code, got)
		}
		var ge graphErr
		if err := json.Unmarshal(rec.Body.Bytes(), &ge); err != nil || ge.Error.Code == 0 || ge.Error.Message == "" || ge.Error.FBTraceID == "" {
			t.Fatalf("not a Graph error: %d %s", rec.Code, rec.Body)
		}
	})
}
