package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
)

// failingSender answers every send and flow start with err.
type failingSender struct{ err error }

func (f failingSender) SendOnce(context.Context, string, string, *store.IdempotencyKey, []delivery.OutboundMessage) ([]*store.Outbound, error) {
	return nil, f.err
}

func (f failingSender) StartFlow(context.Context, string, string, delivery.FlowStart) ([]*store.Outbound, error) {
	return nil, f.err
}

// TestSendAPIDecidesByType: the status code and path come from the error's type, whatever
// its text and however deeply it is wrapped.
func TestSendAPIDecidesByType(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("some context with no flow words: %w", err) }
	tests := []struct {
		name       string
		err        error
		body       string
		code       int
		path, want string
	}{
		{"flow not found", wrap(&delivery.NotFoundError{What: "flow", Flow: "x", Err: errors.New("lost")}), `"flow": "x"`, 400, "flow", "lost"},
		{"node not found", wrap(&delivery.NotFoundError{What: "node", Flow: "x", Node: "n", Err: errors.New("gone")}), `"flow": "x", "node": "n"`, 400, "node", "gone"},
		{"run error", wrap(&delivery.RunError{Flow: "x", Err: errors.New("missing variable v: pass it with --var or in the start's variables")}), `"flow": "x"`, 400, "flow", "missing variable v: give it in vars"},
		{"no replies", wrap(&delivery.NoRepliesError{Flow: "x"}), `"flow": "x"`, 400, "node", "flow x sends nothing"},
		{"no flows", wrap(delivery.ErrNoFlows), `"flow": "x"`, 400, "flow", "no flows loaded"},
		{"unknown provider", wrap(delivery.ErrUnknownProvider), `"message": "hi"`, 404, "tenant", "no enabled provider"},
		{"stopping", wrap(delivery.ErrStopped), `"message": "hi"`, 503, "", "shutting down"},
		{"refused", wrap(&delivery.RefusedError{Reason: delivery.ReasonOptedOut, ID: 7}), `"message": "hi"`, 409, "", "opted out"},
		{"messaging limit", wrap(&delivery.RefusedError{Reason: delivery.ReasonMessagingLimit, ID: 8}), `"message": "hi"`, 429, "", "the messaging limit is reached"},
		{"anything else", errors.New("flow x has no node n"), `"flow": "x"`, 500, "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gtc.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			srv, err := server.New(server.Config{Delivery: apiIngester{}, Tenants: []server.Tenant{{Tenant: "acme", Team: "support",
				APIKey: secret.New(apiKey)}}, API: &server.API{Sender: failingSender{tt.err}, Store: st}})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(`{"to": "+4915100000001", `+tt.body+`}`))
			req.Header.Set("Authorization", "Bearer "+apiKey)
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			var got struct{ Error, Path, Reason, ID string }
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			if rec.Code != tt.code || got.Path != tt.path || !strings.Contains(got.Error, tt.want) {
				t.Fatalf("answer %d %s, want %d with path %q and an error containing %q", rec.Code, rec.Body, tt.code, tt.path, tt.want)
			}
			if tt.code == 409 && (got.Reason != delivery.ReasonOptedOut || got.ID != "7") {
				t.Errorf("refusal answer %s, want reason opted_out and id 7", rec.Body)
			}
			if tt.code == 429 && (got.Reason != delivery.ReasonMessagingLimit || got.ID != "8") {
				t.Errorf("refusal answer %s, want reason messaging_limit and id 8", rec.Body)
			}
		})
	}
}
