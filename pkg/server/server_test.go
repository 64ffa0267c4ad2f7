package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

const (
	appSecret   = "app-secret-value-xyz"
	verifyToken = "verify-token-value-abc"
	phoneID     = "106540352242922"
)

// fakeIngester records what it was given, and can fail or panic on demand.
type fakeIngester struct {
	mu       sync.Mutex
	batches  [][]whatsapp.Event
	tenant   string
	fail     error
	panic    bool
	notReady error
}

func (f *fakeIngester) Ingest(ctx context.Context, tenant, team string, events []whatsapp.Event) error {
	if f.panic {
		panic("boom")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.tenant = tenant + "/" + team
	f.batches = append(f.batches, events)
	return nil
}

func (f *fakeIngester) Ready() error { return f.notReady }

func (f *fakeIngester) events() []whatsapp.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []whatsapp.Event
	for _, b := range f.batches {
		out = append(out, b...)
	}
	return out
}

type harness struct {
	url  string
	ing  *fakeIngester
	logs *bytes.Buffer
	srv  *Server
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	ing := &fakeIngester{}
	logs := &syncBuffer{}
	cfg := Config{
		Tenants: []Tenant{{Tenant: "acme", Team: "support", PhoneNumberID: phoneID,
			VerifyToken: secret.New(verifyToken), AppSecret: secret.New(appSecret)},
			{Tenant: "nosecret", Team: "default", PhoneNumberID: phoneID, VerifyToken: secret.New(verifyToken)}},
		Delivery: ing,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		for _, sec := range []string{appSecret, verifyToken} {
			if strings.Contains(logs.String(), sec) {
				t.Errorf("a secret appears in the logs:\n%s", logs.String())
			}
		}
	})
	return &harness{url: "http://" + ln.Addr().String(), ing: ing, logs: &logs.Buffer, srv: s}
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, u string, body []byte, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(whatsapp.SignatureHeader, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHandshake(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name, path, mode, token string
		wantCode                int
		wantBody                string
	}{
		{"good", WebhookPrefix + "acme/support", "subscribe", verifyToken, 200, "1158201444"},
		{"good on ingress route", IngressPrefix + "acme/support", "subscribe", verifyToken, 200, "1158201444"},
		{"wrong token", WebhookPrefix + "acme/support", "subscribe", "nope", 403, "forbidden\n"},
		{"wrong mode", WebhookPrefix + "acme/support", "unsubscribe", verifyToken, 403, "forbidden\n"},
		{"missing params", WebhookPrefix + "acme/support", "", "", 403, "forbidden\n"},
		{"unknown tenant", WebhookPrefix + "other/support", "subscribe", verifyToken, 404, "unknown tenant/team\n"},
		{"unknown team", WebhookPrefix + "acme/sales", "subscribe", verifyToken, 404, "unknown tenant/team\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"hub.challenge": {"1158201444"}}
			if tt.mode != "" {
				q.Set("hub.mode", tt.mode)
			}
			if tt.token != "" {
				q.Set("hub.verify_token", tt.token)
			}
			code, body := get(t, h.url+tt.path+"?"+q.Encode())
			if code != tt.wantCode || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func textWebhook(phone, id, text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "WABA", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550001111", "phone_number_id": phone},
			"messages":          []any{map[string]any{"from": "16505551234", "id": id, "timestamp": "1750000000", "type": "text", "text": map[string]any{"body": text}}},
		}}}}},
	})
	return b
}

func TestReceive(t *testing.T) {
	h := newHarness(t, nil)
	u := h.url + WebhookPrefix + "acme/support"
	nonASCII := textWebhook(phoneID, "wamid.A", "Grüße, ünïcödé / 日本語 \u2028 <b>")
	oneByte := append([]byte(nil), nonASCII...)
	oneByte[len(oneByte)-5] ^= 0x01
	big := bytes.Repeat([]byte(" "), whatsapp.MaxWebhookBody+1)
	tests := []struct {
		name       string
		url        string
		body       []byte
		sig        string
		wantCode   int
		wantBody   string
		wantEvents int
	}{
		{"good non-ASCII body", u, nonASCII, whatsapp.Sign(nonASCII, appSecret), 200, "ok", 1},
		{"ingress route", h.url + IngressPrefix + "acme/support", textWebhook(phoneID, "wamid.B", "hi"), whatsapp.Sign(textWebhook(phoneID, "wamid.B", "hi"), appSecret), 200, "ok", 1},
		{"missing signature", u, nonASCII, "", 401, "missing X-Hub-Signature-256", 0},
		{"wrong signature", u, nonASCII, whatsapp.Sign(nonASCII, "wrong"), 401, "does not match", 0},
		{"malformed signature", u, nonASCII, "sha256=xyz", 401, "not sha256=", 0},
		{"body changed by one byte", u, oneByte, whatsapp.Sign(nonASCII, appSecret), 401, "does not match", 0},
		{"no app secret configured", h.url + WebhookPrefix + "nosecret/default", nonASCII, whatsapp.Sign(nonASCII, ""), 401, "no app_secret", 0},
		{"malformed JSON", u, []byte(`{"object":`), whatsapp.Sign([]byte(`{"object":`), appSecret), 400, "invalid JSON", 0},
		// An odd message inside a webhook is kept as an unknown event, not a 400 that Meta
		// would retry for days (and then drop the good messages with it).
		{"odd message kept", u, []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1"}]}}]}]}`),
			whatsapp.Sign([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1"}]}}]}]}`), appSecret),
			200, "ok", 1},
		{"not a webhook", u, []byte(`{}`), whatsapp.Sign([]byte(`{}`), appSecret), 400, "", 0},
		{"foreign phone_number_id", u, textWebhook("999", "wamid.C", "hi"), whatsapp.Sign(textWebhook("999", "wamid.C", "hi"), appSecret), 421, "phone_number_id 999", 0},
		{"unknown tenant", h.url + WebhookPrefix + "nobody/default", nonASCII, whatsapp.Sign(nonASCII, appSecret), 404, "unknown tenant", 0},
		{"too large", u, big, whatsapp.Sign(big, appSecret), 413, "larger than", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.ing.events())
			code, body := post(t, tt.url, tt.body, tt.sig)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tt.wantCode, tt.wantBody)
			}
			if got := len(h.ing.events()) - before; got != tt.wantEvents {
				t.Errorf("ingested %d events, want %d", got, tt.wantEvents)
			}
			if strings.Contains(body, strings.TrimPrefix(whatsapp.Sign(tt.body, appSecret), "sha256=")) {
				t.Errorf("response echoes the expected MAC")
			}
		})
	}
	if h.ing.tenant != "acme/support" {
		t.Errorf("ingested for %q", h.ing.tenant)
	}
	if ev := h.ing.events()[0]; ev.Message.Text != "Grüße, ünïcödé / 日本語 \u2028 <b>" {
		t.Errorf("text = %q", ev.Message.Text)
	}
}

func TestReceiveBatchOf100(t *testing.T) {
	h := newHarness(t, nil)
	var msgs []any
	for i := range 100 {
		msgs = append(msgs, map[string]any{"from": "4915100000" + string(rune('0'+i/10)) + string(rune('0'+i%10)), "id": "wamid.B" + string(rune('A'+i/26)) + string(rune('a'+i%26)), "timestamp": "1750000000", "type": "text", "text": map[string]any{"body": "hi"}})
	}
	body, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "W", "changes": []any{
		map[string]any{"field": "messages", "value": map[string]any{"metadata": map[string]any{"phone_number_id": phoneID}, "messages": msgs}}}}}})
	code, _ := post(t, h.url+WebhookPrefix+"acme/support", body, whatsapp.Sign(body, appSecret))
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	evs := h.ing.events()
	if len(h.ing.batches) != 1 || len(evs) != 100 {
		t.Fatalf("got %d batches, %d events; want 1 batch of 100", len(h.ing.batches), len(evs))
	}
}

func TestReceiveIngestFailureIsNot200(t *testing.T) {
	h := newHarness(t, nil)
	h.ing.fail = errors.New("database is locked")
	body := textWebhook(phoneID, "wamid.X", "hi")
	code, resp := post(t, h.url+WebhookPrefix+"acme/support", body, whatsapp.Sign(body, appSecret))
	if code != 500 || strings.Contains(resp, "database") {
		t.Errorf("got %d %q, want 500 without internals", code, resp)
	}
	if !strings.Contains(h.logs.String(), "database is locked") {
		t.Errorf("the cause is not logged:\n%s", h.logs.String())
	}
}

func TestPanicRecovered(t *testing.T) {
	h := newHarness(t, nil)
	h.ing.panic = true
	body := textWebhook(phoneID, "wamid.P", "hi")
	code, _ := post(t, h.url+WebhookPrefix+"acme/support", body, whatsapp.Sign(body, appSecret))
	if code != 500 {
		t.Errorf("code %d, want 500", code)
	}
	h.ing.panic = false
	if code, _ := get(t, h.url+"/healthz"); code != 200 {
		t.Errorf("server not alive after a panic: %d", code)
	}
	if !strings.Contains(h.logs.String(), "panic serving request") {
		t.Errorf("panic not logged")
	}
}

func TestInsecureSkipSignature(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InsecureSkipSignature = true })
	body := textWebhook(phoneID, "wamid.I", "hi")
	if code, _ := post(t, h.url+WebhookPrefix+"nosecret/default", body, ""); code != 200 {
		t.Errorf("code %d, want 200 with --insecure-skip-signature", code)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h := newHarness(t, nil)
	if code, body := get(t, h.url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, _ := get(t, h.url+"/readyz"); code != 200 {
		t.Errorf("readyz %d", code)
	}
	h.ing.notReady = errors.New("workers not started")
	if code, body := get(t, h.url+"/readyz"); code != 503 || !strings.Contains(body, "workers not started") {
		t.Errorf("readyz when not ready: %d %q", code, body)
	}
	body := textWebhook(phoneID, "wamid.M", "hi")
	post(t, h.url+WebhookPrefix+"acme/support", body, whatsapp.Sign(body, appSecret))
	post(t, h.url+WebhookPrefix+"acme/support", body, "")
	_, m := get(t, h.url+"/metrics")
	for _, want := range []string{`gtc_webhooks_total{result="ok"} 1`, `gtc_webhooks_total{result="bad_signature"} 1`,
		`gtc_webhook_ack_seconds_bucket{result="ok"`, `gtc_webhook_events_total{kind="message",type="text"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestMetaExamplesOverHTTP posts every example payload of Meta's spec, signed, and checks each
// is acknowledged and turned into the event the parser promises.
func TestMetaExamplesOverHTTP(t *testing.T) {
	examples := metaschema.Require(t).WebhookExamples()
	if len(examples) != 16 {
		t.Fatalf("%d examples, want 16", len(examples))
	}
	h := newHarness(t, nil)
	for name, body := range examples {
		t.Run(name, func(t *testing.T) {
			before := len(h.ing.events())
			code, resp := post(t, h.url+WebhookPrefix+"acme/support", body, whatsapp.Sign(body, appSecret))
			if code != 200 {
				t.Fatalf("got %d %q", code, resp)
			}
			evs := h.ing.events()[before:]
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			want, _ := whatsapp.ParseWebhook(body)
			if evs[0].Kind != want[0].Kind || evs[0].DedupeKey() != want[0].DedupeKey() || evs[0].Field != want[0].Field {
				t.Errorf("event %+v, want %+v", evs[0], want[0])
			}
			if strings.HasPrefix(name, "Group") != (evs[0].Kind == whatsapp.EventUnknown) {
				t.Errorf("kind %s for %s", evs[0].Kind, name)
			}
		})
	}
}

func TestNewRejectsDuplicateTenant(t *testing.T) {
	_, err := New(Config{Delivery: &fakeIngester{}, Tenants: []Tenant{{Tenant: "a", Team: "b"}, {Tenant: "a", Team: "b"}}})
	if err == nil || !strings.Contains(err.Error(), "a/b listed twice") {
		t.Errorf("err = %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without delivery succeeded")
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, nil)
	req, _ := http.NewRequest("GET", h.url+"/healthz", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id %q", resp.Header.Get("X-Request-Id"))
	}
	resp, err = http.Get(h.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no generated request id")
	}
}
