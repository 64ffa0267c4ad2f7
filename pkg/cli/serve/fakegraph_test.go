package serve

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func fakeBundle() *bundle.Bundle {
	p := func(team string) *bundle.Provider {
		return &bundle.Provider{Enabled: true, Tenant: "default", Team: team, PhoneNumberID: "1", BusinessAccountID: "2",
			AccessToken: secret.New("tok"), AppSecret: secret.New("s"), APIBaseURL: "https://graph.facebook.com"}
	}
	return &bundle.Bundle{Providers: []*bundle.Provider{p("a"), p("b")}}
}

// TestStartFakeGraphAddress: the doubles listen on the address asked for and the next port;
// a taken default address falls back to a free port, a taken explicit one is an error.
func TestStartFakeGraphAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	noEnv := func(string) (string, bool) { return "", false }

	// Free ports: each provider gets its own double and the in-process base URL points there.
	b := fakeBundle()
	fakes, err := startFakeGraph(b, "http://127.0.0.1:1", "127.0.0.1:0", true, noEnv)
	for _, g := range fakes {
		defer g.close()
	}
	if err != nil || len(fakes) != 2 || fakes[0].Fake.URL == fakes[1].Fake.URL {
		t.Fatalf("fakes %v, err %v", fakes, err)
	}
	if b.Providers[0].APIBaseURL != fakes[0].Fake.URL || fakes[0].Configured != "https://graph.facebook.com" {
		t.Errorf("provider base %q, configured %q", b.Providers[0].APIBaseURL, fakes[0].Configured)
	}

	// The default address taken: a free port, marked as a fallback.
	fb, err := startFakeGraph(fakeBundle(), "http://127.0.0.1:1", busy.Addr().String(), false, noEnv)
	for _, g := range fb {
		defer g.close()
	}
	if err != nil || len(fb) == 0 || !fb[0].Fallback || strings.HasSuffix(fb[0].Fake.URL, busy.Addr().String()) {
		t.Fatalf("fallback: %+v, err %v", fb, err)
	}

	// An explicit address taken: an error that says what to do.
	ex, err := startFakeGraph(fakeBundle(), "http://127.0.0.1:1", busy.Addr().String(), true, noEnv)
	for _, g := range ex {
		defer g.close()
	}
	if err == nil || !strings.Contains(err.Error(), "choose another --fake-graph-addr") {
		t.Fatalf("explicit taken address: %v", err)
	}
}

// TestStartFakeGraphAppCallback: each double reports the provider's callback URL as the
// app's (webhook_configuration.application), as Meta would for an app set up with this
// bundle's URL, so gtc doctor's webhook_override check against it is OK, not unknown.
func TestStartFakeGraphAppCallback(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	b := fakeBundle()
	b.Providers[0].PublicBaseURL = "https://bot.example.com"
	fakes, err := startFakeGraph(b, "http://127.0.0.1:1", "127.0.0.1:0", true, noEnv)
	for _, g := range fakes {
		defer g.close()
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://bot.example.com/webhook/whatsapp/default/a", // the public URL Meta calls
		"http://127.0.0.1:1/webhook/whatsapp/default/b"} // no public_base_url: this server's
	for i, g := range fakes {
		p := b.Providers[i]
		c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: g.Fake.URL, PhoneNumberID: p.PhoneNumberID,
			BusinessAccountID: p.BusinessAccountID, Token: "tok"})
		wc, err := c.WebhookConfiguration(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if wc.PhoneNumber != "" || wc.Application != want[i] || wc.Effective() != want[i] {
			t.Errorf("%s: webhook configuration %+v, want the app's %s", p.Team, wc, want[i])
		}
	}
}
