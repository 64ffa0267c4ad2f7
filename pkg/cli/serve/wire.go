package serve

import (
	"fmt"
	"net/http"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// NewClient builds the Cloud API client of provider p, paced by its settings, with a
// connection pool sized for many concurrent sends to one host. shared, when not nil, is
// the ledger the number's throughput is booked in across instances (the store on
// PostgreSQL); onSharedError hears of its failures.
func NewClient(p *bundle.Provider, lookup func(string) (string, bool), shared whatsapp.SlotBooker, onSharedError func(error)) (*whatsapp.Client, error) {
	token, err := p.AccessToken.Resolve(lookup)
	if err != nil {
		return nil, fmt.Errorf("%s/%s access_token: %w", p.Tenant, p.Team, err)
	}
	return whatsapp.NewClient(whatsapp.ClientConfig{
		BaseURL: p.APIBaseURL, APIVersion: p.APIVersion, PhoneNumberID: p.PhoneNumberID,
		BusinessAccountID: p.BusinessAccountID, Token: token, Timeout: 20 * time.Second,
		HTTPClient: &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
			MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true}},
		Pacer: whatsapp.NewPacer(whatsapp.PacerConfig{RatePerSecond: p.RatePerSecond,
			RecipientInterval: p.RecipientInterval, RecipientBurst: p.RecipientBurst,
			Shared: shared, SharedKey: p.PhoneNumberID, OnSharedError: onSharedError}),
	}), nil
}

func secretOf(s string) secret.Value { return secret.New(s) }
