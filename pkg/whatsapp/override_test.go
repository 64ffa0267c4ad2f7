package whatsapp

import (
	"context"
	"strings"
	"testing"
)

func TestSetWebhookOverride(t *testing.T) {
	g := newGraphStub(t, stubAnswer{200, `{"success":true}`})
	c := NewClient(ClientConfig{BaseURL: g.srv.URL, APIVersion: "v23.0", PhoneNumberID: "111", Token: testToken})
	ctx := context.Background()
	// Refused before any call: Meta's rules for the URL, and a token for the handshake.
	for _, tt := range []struct{ url, token, want string }{
		{"http://bot.example.com/w", "vt", "not https"},
		{"bot.example.com/w", "vt", "not an absolute URL"},
		{"https://bot.example.com/" + strings.Repeat("x", 200), "vt", "at most 200"},
		{"https://bot.example.com/w", "", "verify token is empty"},
	} {
		if err := c.SetWebhookOverride(ctx, tt.url, tt.token); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.url, err, tt.want)
		}
	}
	if err := c.SetWebhookOverride(ctx, "https://bot.example.com/webhook/whatsapp/a/b", "my-verify"); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(g.reqs))
	}
	r := g.reqs[0]
	want := `{"webhook_configuration":{"override_callback_uri":"https://bot.example.com/webhook/whatsapp/a/b","verify_token":"my-verify"}}`
	if r.Method != "POST" || r.Path != "/v23.0/111" || r.ContentType != "application/json" || string(r.Body) != want {
		t.Fatalf("request %+v, body %s", r, r.Body)
	}
}

func TestWebhookConfigurationRead(t *testing.T) {
	g := newGraphStub(t, stubAnswer{200, `{"webhook_configuration":{"whatsapp_business_account":"https://waba.example.com/w","application":"https://app.example.com/w"},"id":"111"}`},
		stubAnswer{400, `{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190,"fbtrace_id":"AbCdEfGhIjK"}}`})
	c := NewClient(ClientConfig{BaseURL: g.srv.URL, APIVersion: "v23.0", PhoneNumberID: "111", Token: testToken})
	wc, err := c.WebhookConfiguration(context.Background())
	if err != nil || wc.PhoneNumber != "" || wc.Effective() != "https://waba.example.com/w" {
		t.Fatalf("%+v %v", wc, err)
	}
	g.mu.Lock()
	q := g.reqs[0].Query
	g.mu.Unlock()
	if q != "fields=webhook_configuration" {
		t.Errorf("query %q", q)
	}
	_, err = c.WebhookConfiguration(context.Background())
	if ClassOf(err) != ClassAuth || strings.Contains(err.Error(), testToken) {
		t.Fatalf("err = %v", err)
	}
}
