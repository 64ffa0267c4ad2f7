package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// countingSender stands in for delivery: it records nothing and answers every message sent.
type countingSender struct{ n atomic.Int64 }

func (c *countingSender) SendOnce(_ context.Context, _, _ string, _ *store.IdempotencyKey, msgs []delivery.OutboundMessage) ([]*store.Outbound, error) {
	out := make([]*store.Outbound, len(msgs))
	for i := range msgs {
		out[i] = &store.Outbound{ID: c.n.Add(1), State: store.OutSent}
	}
	return out, nil
}

func (c *countingSender) StartFlow(context.Context, string, string, delivery.FlowStart) ([]*store.Outbound, error) {
	return nil, delivery.ErrNoFlows
}

// apiIngester accepts webhooks without recording them: these tests only use the send API.
type apiIngester struct{}

func (apiIngester) Ingest(context.Context, string, string, []whatsapp.Event) error { return nil }
func (apiIngester) Ready() error                                                   { return nil }

func newAPIHandler(t testing.TB) (http.Handler, *countingSender) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	snd := &countingSender{}
	srv, err := server.New(server.Config{Delivery: apiIngester{}, Tenants: []server.Tenant{{Tenant: "acme", Team: "support",
		APIKey: secret.New(apiKey)}}, API: &server.API{Sender: snd, Store: st}})
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler(), snd
}

func TestSendAPIBodyTooLarge(t *testing.T) {
	h, snd := newAPIHandler(t)
	body := `{"to": "+4915100000001", "message": "` + strings.Repeat("x", server.MaxAPIBody) + `"}`
	req := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || snd.n.Load() != 0 {
		t.Fatalf("answer %d %s after %d sends, want 413 and none", rec.Code, rec.Body, snd.n.Load())
	}
}

func FuzzSendAPI(f *testing.F) {
	for _, s := range []string{
		`{"to": "+4915100000001", "message": "hi"}`,
		`{"to": "+4915100000001", "message": "hi {{name}}", "vars": {"name": "A"}}`,
		`{"to": "+4915100000001", "template": {"name": "t", "language": "en"}}`,
		`{"to": "+4915100000001", "flow": "x"}`,
		`{"to": 1}`, `{"vars": []}`, `[]`, `{`, `null`,
	} {
		f.Add(s)
	}
	h, _ := newAPIHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Fatalf("answer %d %s", rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
		}
		if rec.Code == http.StatusBadRequest {
			if e, _ := m["error"].(string); e == "" {
				t.Fatalf("400 without an error: %s", rec.Body)
			}
		}
	})
}
