package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

type nopIngester struct{}

func (nopIngester) Ingest(context.Context, string, string, []whatsapp.Event) error { return nil }
func (nopIngester) Ready() error                                                   { return nil }

// BenchmarkReceive measures the HTTP side of one signed webhook POST (signature, parse,
// route check) with an ingester that does nothing: the server's own cost per webhook.
func BenchmarkReceive(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			s, err := New(Config{Delivery: nopIngester{}, Tenants: []Tenant{{Tenant: "t", Team: "u", PhoneNumberID: phoneID,
				VerifyToken: secret.New(verifyToken), AppSecret: secret.New(appSecret)}}})
			if err != nil {
				b.Fatal(err)
			}
			var msgs []any
			for i := range n {
				msgs = append(msgs, map[string]any{"from": "4915100000000", "id": fmt.Sprintf("wamid.%d", i), "timestamp": "1750000000", "type": "text", "text": map[string]any{"body": "hello there"}})
			}
			body, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "W", "changes": []any{
				map[string]any{"field": "messages", "value": map[string]any{"metadata": map[string]any{"phone_number_id": phoneID}, "messages": msgs}}}}}})
			sig := whatsapp.Sign(body, appSecret)
			h := s.Handler()
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, WebhookPrefix+"t/u", bytes.NewReader(body))
				req.Header.Set(whatsapp.SignatureHeader, sig)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("code %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
