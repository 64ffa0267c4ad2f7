package serve

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/graphfake"
)

// DefaultFakeGraphAddr is where --fake-graph's Graph API double listens unless
// --fake-graph-addr says otherwise. testdata/answers/local.json's api_base_url points here,
// so gtc send, gtc templates list and gtc doctor on that bundle reach the double while gtc
// serve runs.
const DefaultFakeGraphAddr = "127.0.0.1:8089"

// fakeGraph is one provider's Graph API double, served on a listener of its own.
type fakeGraph struct {
	Provider *bundle.Provider
	Fake     *graphfake.Server
	// Configured is the provider's api_base_url from the bundle: the other commands send
	// there, so it should equal Fake.URL.
	Configured string
	// Fallback is true when the asked-for default address was taken and a free port was used.
	Fallback bool
	srv      *http.Server
}

func (g *fakeGraph) close() {
	_ = g.srv.Close()
	g.Fake.Close()
}

// appCallbackURL is the app callback URL a double reports (webhook_configuration.application):
// the provider's callback URL, the one its Meta app would be set up with, so gtc doctor's
// webhook_override check finds this bundle's URL there; this server's route when the bundle
// has no public_base_url.
func appCallbackURL(p *bundle.Provider, base string) string {
	if p.PublicBaseURL == "" {
		return base + p.CallbackPath()
	}
	return p.CallbackURL()
}

// startFakeGraph starts one Graph API double per enabled provider, accepting that provider's
// token and phone number id, and points the provider's API base URL (in this process) at it.
// The first listens on addr, the next ones on the ports after it (port 0: free ports). When
// explicit is false and the default address is taken, a free port is used instead. Status
// webhooks (sent, delivered, read) come back to this server's callback route, signed with the
// provider's app secret; the double reports the provider's callback URL as the app's.
func startFakeGraph(b *bundle.Bundle, base, addr string, explicit bool, lookup func(string) (string, bool)) ([]*fakeGraph, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--fake-graph-addr %q: want host:port, e.g. %s", addr, DefaultFakeGraphAddr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--fake-graph-addr %q: want host:port, e.g. %s", addr, DefaultFakeGraphAddr)
	}
	var fakes []*fakeGraph
	for _, p := range b.Providers {
		if !p.Enabled {
			continue
		}
		token, err := p.AccessToken.Resolve(lookup)
		if err != nil {
			return fakes, fmt.Errorf("%s/%s access_token: %w", p.Tenant, p.Team, err)
		}
		appSecret, err := p.AppSecret.Resolve(lookup)
		if err != nil {
			return fakes, fmt.Errorf("%s/%s app_secret: %w", p.Tenant, p.Team, err)
		}
		at := net.JoinHostPort(host, "0")
		if port != 0 {
			at = net.JoinHostPort(host, strconv.Itoa(port+len(fakes)))
		}
		ln, err := net.Listen("tcp", at)
		fallback := false
		if err != nil && !explicit && errors.Is(err, syscall.EADDRINUSE) {
			ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
			fallback = true
		}
		if err != nil {
			return fakes, fmt.Errorf("the Graph API double of %s/%s cannot listen on %s: %w (is another gtc serve --fake-graph running? choose another --fake-graph-addr)", p.Tenant, p.Team, at, err)
		}
		g := graphfake.NewUnstarted(graphfake.Options{Token: token, PhoneNumberID: p.PhoneNumberID,
			BusinessAccountID: p.BusinessAccountID, AppCallbackURL: appCallbackURL(p, base),
			StatusWebhook: graphfake.StatusWebhook{URL: base + p.CallbackPath(), AppSecret: appSecret}})
		g.URL = "http://" + ln.Addr().String()
		srv := &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		fakes = append(fakes, &fakeGraph{Provider: p, Fake: g, Configured: p.APIBaseURL, Fallback: fallback, srv: srv})
		p.APIBaseURL = g.URL
	}
	return fakes, nil
}
