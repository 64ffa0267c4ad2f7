package whatsapp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A send whose request was written and got no Graph answer is unclear (it may have gone
// out); one that never reached Graph, or that Graph refused, is clear.
func TestUnclear(t *testing.T) {
	answer := func(status int, body string, wait time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
					return
				}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	reset := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}
	tests := []struct {
		name    string
		h       http.HandlerFunc
		cancel  bool // the caller gives up mid-call
		unclear bool
	}{
		{"accepted", answer(200, `{"messages":[{"id":"wamid.1"}]}`, 0), false, false},
		{"timeout after the request was written", answer(200, `{"messages":[{"id":"wamid.1"}]}`, time.Second), false, true},
		{"connection reset", reset, false, true},
		{"5xx from a gateway", answer(502, `<html>bad gateway</html>`, 0), false, true},
		{"5xx Graph error", answer(500, `{"error":{"message":"Something went wrong","code":131000}}`, 0), false, false},
		{"rate limit", answer(400, `{"error":{"message":"limit","code":130429}}`, 0), false, false},
		{"2xx without a message id", answer(200, `{"messages":[]}`, 0), false, true},
		{"caller gives up mid-call", answer(200, `{}`, time.Second), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			c := NewClient(ClientConfig{BaseURL: srv.URL, PhoneNumberID: "1", Token: testToken, Timeout: 200 * time.Millisecond})
			ctx := context.Background()
			if tt.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				c = NewClient(ClientConfig{BaseURL: srv.URL, PhoneNumberID: "1", Token: testToken, Timeout: 5 * time.Second})
			}
			_, err := c.Send(ctx, &Message{To: "+4915112345678", Type: "text", Text: &Text{Body: "hi"}})
			if got := Unclear(err); got != tt.unclear {
				t.Fatalf("Unclear(%v) = %v, want %v", err, got, tt.unclear)
			}
		})
	}
	// Nothing listens: the request was never written.
	c := NewClient(ClientConfig{BaseURL: "http://127.0.0.1:1", PhoneNumberID: "1", Token: testToken})
	if _, err := c.Send(context.Background(), &Message{To: "+4915112345678", Type: "text", Text: &Text{Body: "hi"}}); err == nil || Unclear(err) {
		t.Fatalf("connection refused: err = %v, unclear = %v; want a clear error", err, Unclear(err))
	}
}
