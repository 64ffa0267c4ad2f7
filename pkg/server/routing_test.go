package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// routeIngester records which tenant/team each event was ingested for.
type routeIngester struct {
	mu  sync.Mutex
	got map[string][]string // tenant/team → message ids or template names
}

func (r *routeIngester) Ingest(_ context.Context, tenant, team string, events []whatsapp.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]string{}
	}
	for _, ev := range events {
		id := ev.Field
		switch {
		case ev.Message != nil:
			id = ev.Message.ID
		case ev.Template != nil:
			id = ev.Field + ":" + ev.WABAID
		}
		r.got[tenant+"/"+team] = append(r.got[tenant+"/"+team], id)
	}
	return nil
}

func (r *routeIngester) Ready() error { return nil }

func (r *routeIngester) take() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

const (
	shopPhone, shopWABA = "100000000000001", "200000000000001"
	cafePhone, cafeWABA = "100000000000002", "200000000000002"
	salesPhone          = "100000000000003"
	otherAppPhone       = "100000000000009"
	otherAppSecret      = "other-app-secret"
)

// messagesWebhook is a webhook with one entry per (waba, phone, message id).
func messagesWebhook(entries ...[3]string) []byte {
	var es []any
	for _, e := range entries {
		es = append(es, map[string]any{"id": e[0], "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550001111", "phone_number_id": e[1]},
			"messages":          []any{map[string]any{"from": "16505551234", "id": e[2], "timestamp": "1750000000", "type": "text", "text": map[string]any{"body": "hi"}}},
		}}}})
	}
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": es})
	return b
}

func templateWebhook(waba string) []byte {
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": waba, "time": 1750000000, "changes": []any{map[string]any{"field": "message_template_status_update", "value": map[string]any{
			"event": "APPROVED", "message_template_id": 12345678, "message_template_name": "order_confirmation", "message_template_language": "en"}}}}}})
	return b
}

// TestRouteByPayload: several numbers on one Meta app. Meta sends every number's webhooks
// to one callback URL, so a payload is processed as the tenant/team its phone number (or,
// for template and account updates, its business account) belongs to, whichever of the
// bundle's routes received it.
func TestRouteByPayload(t *testing.T) {
	ing := &routeIngester{}
	s, err := New(Config{Delivery: ing, Logger: slog.New(slog.DiscardHandler), Tenants: []Tenant{
		{Tenant: "shop", Team: "support", PhoneNumberID: shopPhone, BusinessAccountID: shopWABA, VerifyToken: secret.New("vt-shop"), AppSecret: secret.New(appSecret)},
		{Tenant: "shop", Team: "sales", PhoneNumberID: salesPhone, BusinessAccountID: shopWABA, VerifyToken: secret.New("vt-sales"), AppSecret: secret.New(appSecret)},
		{Tenant: "cafe", Team: "default", PhoneNumberID: cafePhone, BusinessAccountID: cafeWABA, VerifyToken: secret.New("vt-cafe"), AppSecret: secret.New(appSecret)},
		{Tenant: "solo", Team: "default", PhoneNumberID: otherAppPhone, VerifyToken: secret.New("vt-solo"), AppSecret: secret.New(otherAppSecret)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	shopRoute, cafeRoute, appRoute := WebhookPrefix+"shop/support", WebhookPrefix+"cafe/default", AppWebhookPath
	tests := []struct {
		name, path string
		body       []byte
		secret     string
		code       int
		want       map[string][]string
		msg        string
	}{
		{"own route", shopRoute, messagesWebhook([3]string{shopWABA, shopPhone, "m1"}), appSecret, 200,
			map[string][]string{"shop/support": {"m1"}}, ""},
		{"another tenant's number on this route", shopRoute, messagesWebhook([3]string{cafeWABA, cafePhone, "m2"}), appSecret, 200,
			map[string][]string{"cafe/default": {"m2"}}, ""},
		{"cafe's route gets shop's message", cafeRoute, messagesWebhook([3]string{shopWABA, shopPhone, "m3"}), appSecret, 200,
			map[string][]string{"shop/support": {"m3"}}, ""},
		{"app route", appRoute, messagesWebhook([3]string{cafeWABA, cafePhone, "m4"}), appSecret, 200,
			map[string][]string{"cafe/default": {"m4"}}, ""},
		{"app route, another app's secret", appRoute, messagesWebhook([3]string{"x", otherAppPhone, "m5"}), otherAppSecret, 200,
			map[string][]string{"solo/default": {"m5"}}, ""},
		{"a batch for three tenants is split", appRoute, messagesWebhook(
			[3]string{shopWABA, shopPhone, "m6"}, [3]string{cafeWABA, cafePhone, "m7"}, [3]string{shopWABA, salesPhone, "m8"}, [3]string{shopWABA, shopPhone, "m9"}), appSecret, 200,
			map[string][]string{"shop/support": {"m6", "m9"}, "cafe/default": {"m7"}, "shop/sales": {"m8"}}, ""},
		{"template update by business account", cafeRoute, templateWebhook(shopWABA), appSecret, 200,
			map[string][]string{"shop/support": {"message_template_status_update:" + shopWABA}, "shop/sales": {"message_template_status_update:" + shopWABA}}, ""},
		{"template update on the app route", appRoute, templateWebhook(cafeWABA), appSecret, 200,
			map[string][]string{"cafe/default": {"message_template_status_update:" + cafeWABA}}, ""},
		{"template update of an unknown account on a tenant route", cafeRoute, templateWebhook("777"), appSecret, 200,
			map[string][]string{"cafe/default": {"message_template_status_update:777"}}, ""},
		{"template update of an unknown account on the app route", appRoute, templateWebhook("777"), appSecret, StatusMisdirected,
			nil, "business account 777"},
		{"unknown number", shopRoute, messagesWebhook([3]string{shopWABA, "999", "m10"}), appSecret, StatusMisdirected,
			nil, "phone_number_id 999"},
		{"unknown number in a batch refuses the batch", appRoute, messagesWebhook([3]string{shopWABA, shopPhone, "m11"}, [3]string{shopWABA, "999", "m12"}), appSecret, StatusMisdirected,
			nil, "phone_number_id 999"},
		{"a number of another app is not taken over", shopRoute, messagesWebhook([3]string{"x", otherAppPhone, "m13"}), appSecret, StatusMisdirected,
			nil, "solo/default"},
		{"app route, unsigned", appRoute, messagesWebhook([3]string{shopWABA, shopPhone, "m14"}), "", 401, nil, "missing X-Hub-Signature-256"},
		{"app route, wrong secret", appRoute, messagesWebhook([3]string{shopWABA, shopPhone, "m15"}), "nope", 401, nil, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", tt.path, strings.NewReader(string(tt.body)))
			if tt.secret != "" {
				req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(tt.body, tt.secret))
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.msg) {
				t.Fatalf("answer %d %q, want %d containing %q", rec.Code, rec.Body.String(), tt.code, tt.msg)
			}
			got := ing.take()
			if len(got) != len(tt.want) {
				t.Fatalf("ingested %v, want %v", got, tt.want)
			}
			for k, ids := range tt.want {
				if !slices.Equal(got[k], ids) {
					t.Fatalf("ingested %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestAppHandshake: the app-level route answers Meta's handshake for any verify token of
// the bundle.
func TestAppHandshake(t *testing.T) {
	s, err := New(Config{Delivery: &routeIngester{}, Tenants: []Tenant{
		{Tenant: "shop", Team: "support", PhoneNumberID: shopPhone, VerifyToken: secret.New("vt-shop"), AppSecret: secret.New(appSecret)},
		{Tenant: "cafe", Team: "default", PhoneNumberID: cafePhone, VerifyToken: secret.New("vt-cafe"), AppSecret: secret.New(appSecret)},
		{Tenant: "none", Team: "default", PhoneNumberID: "5", AppSecret: secret.New(appSecret)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		token string
		code  int
	}{{"vt-shop", 200}, {"vt-cafe", 200}, {"", 403}, {"vt-other", 403}} {
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {tt.token}, "hub.challenge": {"42"}}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", AppWebhookPath+"?"+q.Encode(), nil))
		if rec.Code != tt.code || (tt.code == 200 && rec.Body.String() != "42") {
			t.Errorf("token %q: answer %d %q, want %d", tt.token, rec.Code, rec.Body.String(), tt.code)
		}
	}
}

// TestRouteLearnsBusinessAccount: a tenant/team without business_account_id gets its
// account's template updates once a signed message for its number named the account.
func TestRouteLearnsBusinessAccount(t *testing.T) {
	ing := &routeIngester{}
	s, err := New(Config{Delivery: ing, Tenants: []Tenant{
		{Tenant: "shop", Team: "default", PhoneNumberID: shopPhone, AppSecret: secret.New(appSecret)},
		{Tenant: "cafe", Team: "default", PhoneNumberID: cafePhone, AppSecret: secret.New(appSecret)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	postApp := func(body []byte) int {
		req := httptest.NewRequest("POST", AppWebhookPath, strings.NewReader(string(body)))
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, appSecret))
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if code := postApp(templateWebhook(cafeWABA)); code != StatusMisdirected {
		t.Fatalf("template update of a business account not seen yet: %d, want 421", code)
	}
	if code := postApp(messagesWebhook([3]string{cafeWABA, cafePhone, "m1"})); code != 200 {
		t.Fatalf("message: %d", code)
	}
	ing.take()
	if code := postApp(templateWebhook(cafeWABA)); code != 200 {
		t.Fatalf("template update after a message named the account: %d, want 200", code)
	}
	if got := ing.take(); len(got) != 1 || len(got["cafe/default"]) != 1 {
		t.Fatalf("ingested %v, want the update for cafe/default", got)
	}
}

// FuzzAppRoute posts arbitrary signed bodies to the app-level route: every answer is one
// of 200, 400 or 421, never a 500 (a panic in routing).
func FuzzAppRoute(f *testing.F) {
	f.Add(messagesWebhook([3]string{shopWABA, shopPhone, "m1"}, [3]string{cafeWABA, cafePhone, "m2"}))
	f.Add(templateWebhook(shopWABA))
	f.Add(templateWebhook(""))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1"}]}}]}]}`))
	f.Add([]byte(`{}`))
	s, err := New(Config{Delivery: &routeIngester{}, Tenants: []Tenant{
		{Tenant: "shop", Team: "support", PhoneNumberID: shopPhone, BusinessAccountID: shopWABA, AppSecret: secret.New(appSecret)},
		{Tenant: "cafe", Team: "default", PhoneNumberID: cafePhone, AppSecret: secret.New(appSecret)},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", AppWebhookPath, strings.NewReader(string(body)))
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, appSecret))
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if c := rec.Code; c != 200 && c != 400 && c != StatusMisdirected {
			t.Fatalf("answer %d %q", c, rec.Body.String())
		}
	})
}
