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
			h, body, sig := benchServer(b, n)
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

// BenchmarkReceiveParallel is BenchmarkReceive's one-message POST from many goroutines at
// once (the load tool's 64 connections): what the body budget's bookkeeping costs when
// contended.
func BenchmarkReceiveParallel(b *testing.B) {
	h, body, sig := benchServer(b, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, WebhookPrefix+"t/u", bytes.NewReader(body))
			req.Header.Set(whatsapp.SignatureHeader, sig)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Errorf("code %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

// benchServer is a Server with one tenant and a signed webhook of n text messages for it.
func benchServer(b *testing.B, n int) (http.Handler, []byte, string) {
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
	return s.Handler(), body, whatsapp.Sign(body, appSecret)
}
