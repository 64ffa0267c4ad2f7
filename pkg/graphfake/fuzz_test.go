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
