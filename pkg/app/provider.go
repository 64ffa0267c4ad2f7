package app

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// ProviderError is a provider selection that does not fit the bundle (a usage mistake).
type ProviderError struct{ Msg string }

func (e *ProviderError) Error() string { return e.Msg }

// Enabled lists the bundle's enabled providers.
func Enabled(b *bundle.Bundle) []*bundle.Provider {
	var out []*bundle.Provider
	for _, p := range b.Providers {
		if p.Enabled {
			out = append(out, p)
		}
	}
	return out
}

// SelectProvider picks the provider of tenant/team, or the bundle's only one when both are
// empty. It does not look at Enabled (see EnabledProvider).
func SelectProvider(b *bundle.Bundle, tenant, team string) (*bundle.Provider, error) {
	if tenant == "" && team == "" {
		p, err := b.Only()
		if err != nil {
			return nil, &ProviderError{Msg: err.Error()}
		}
		return p, nil
	}
	if tenant == "" || team == "" {
		return nil, &ProviderError{Msg: "--tenant and --team go together: give both"}
	}
	p, ok := b.Provider(tenant, team)
	if !ok {
		var names []string
		for _, q := range b.Providers {
			names = append(names, q.Tenant+"/"+q.Team)
		}
		return nil, &ProviderError{Msg: fmt.Sprintf("--tenant %s --team %s: no such provider in %s (it has %s)", tenant, team, b.Dir, strings.Join(names, ", "))}
	}
	return p, nil
}

// EnabledProvider is SelectProvider refusing a disabled provider.
func EnabledProvider(b *bundle.Bundle, tenant, team string) (*bundle.Provider, error) {
	p, err := SelectProvider(b, tenant, team)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, &ProviderError{Msg: fmt.Sprintf("--tenant %s --team %s: the provider is disabled: set enabled to true and re-run gtc setup", p.Tenant, p.Team)}
	}
	return p, nil
}

// ClientOptions shape NewClient.
type ClientOptions struct {
	// HTTPClient and Clock replace the network and time (tests); nil means the defaults.
	HTTPClient *http.Client
	Clock      whatsapp.Clock
	// Pooled sizes the connection pool for many concurrent sends to one host and bounds each
	// request (gtc serve); without it an empty access token is refused up front (commands).
	Pooled bool
	// Shared, when not nil, is the ledger the number's throughput is booked in across
	// instances (the store on PostgreSQL); OnSharedError hears of its failures.
	Shared        whatsapp.SlotBooker
	OnSharedError func(error)
}

// NewClient builds the Cloud API client of provider p, resolving its token and pacing it by
// its settings: the one way gtc serve, gtc chat and every command get a client.
func NewClient(p *bundle.Provider, lookup func(string) (string, bool), o ClientOptions) (*whatsapp.Client, error) {
	token, err := p.AccessToken.Resolve(lookup)
	if err != nil {
		return nil, fmt.Errorf("%s/%s access_token: %w", p.Tenant, p.Team, err)
	}
	cfg := whatsapp.ClientConfig{
		BaseURL: p.APIBaseURL, APIVersion: p.APIVersion, PhoneNumberID: p.PhoneNumberID,
		BusinessAccountID: p.BusinessAccountID, Token: token, HTTPClient: o.HTTPClient, Clock: o.Clock,
		MarketingMessages: p.MarketingMessages,
	}
	pc := whatsapp.PacerConfig{RatePerSecond: p.RatePerSecond, RecipientInterval: p.RecipientInterval,
		RecipientBurst: p.RecipientBurst, Shared: o.Shared, SharedKey: p.PhoneNumberID, OnSharedError: o.OnSharedError}
	if o.Pooled {
		cfg.Timeout = 20 * time.Second
		if cfg.HTTPClient == nil {
			cfg.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
				MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true}}
		}
	} else {
		if token == "" {
			return nil, fmt.Errorf("%s/%s has no access_token: add it to the answers and re-run gtc setup", p.Tenant, p.Team)
		}
		if cfg.Clock == nil {
			cfg.Clock = whatsapp.SystemClock{}
		}
		pc.Clock = cfg.Clock
	}
	cfg.Pacer = whatsapp.NewPacer(pc)
	return whatsapp.NewClient(cfg), nil
}
