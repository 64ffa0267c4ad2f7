package serve

import (
	"fmt"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/graphfake"
)

// startFakeGraph starts one in-process Graph API double per enabled provider, accepting
// that provider's token and phone number id, and points the provider's API base URL at it.
// Status webhooks (sent, delivered, read) come back to this server's callback route, signed
// with the provider's app secret.
func startFakeGraph(b *bundle.Bundle, base string, lookup func(string) (string, bool)) ([]*graphfake.Server, error) {
	var fakes []*graphfake.Server
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
		g := graphfake.New(graphfake.Options{Token: token, PhoneNumberID: p.PhoneNumberID,
			BusinessAccountID: p.BusinessAccountID,
			StatusWebhook:     graphfake.StatusWebhook{URL: base + p.CallbackPath(), AppSecret: appSecret}})
		fakes = append(fakes, g)
		p.APIBaseURL = g.URL
	}
	return fakes, nil
}
