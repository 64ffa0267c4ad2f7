// Package app is the one place a bundle becomes a running gtc: it picks providers and
// builds their Cloud API clients, and assembles store, delivery and webhook server for
// gtc serve and gtc chat. The rules themselves live in pkg/delivery. See docs/design.md.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Config is what Start assembles.
type Config struct {
	// Providers are the numbers served; nil means the Bundle's enabled ones.
	Bundle    *bundle.Bundle
	Providers []*bundle.Provider
	Flows     *flow.Set
	Store     *store.Store
	LookupEnv func(string) (string, bool)
	// NewClient builds a provider's Cloud API client; nil means NewClient with a pooled
	// transport and, on PostgreSQL, the store as the shared pacing ledger.
	NewClient func(*bundle.Provider) (*whatsapp.Client, error)
	// Tenants are the server's routes; nil means Tenants(Providers).
	Tenants               []server.Tenant
	InsecureSkipSignature bool
	// NoAPI leaves the send API (/v1/messages) out.
	NoAPI      bool
	Logger     *slog.Logger
	Registerer *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FlowSecret looks up secrets.NAME for http and ai nodes; nil means FlowSecrets(Bundle,
	// LookupEnv): secrets.env, then the environment.
	FlowSecret func(name string) (string, bool)
	// CallTransport carries the flows' http and ai calls; nil means calls' shared default.
	CallTransport http.RoundTripper
	// DeadAfter is delivery.Config.DeadAfter (0: its default).
	DeadAfter time.Duration
}

// App is a running delivery service and the webhook server in front of it.
type App struct {
	Delivery *delivery.Service
	Server   *server.Server
	Tenants  []server.Tenant
	// Conversations is the conversations API's service (handoff, release, notes, history)
	// over Delivery and the store.
	Conversations server.ConversationService
}

// Start builds the delivery service over cfg.Store, starts its workers (recovering open
// work first) and builds the server; Serve the Server, then Stop.
func Start(ctx context.Context, cfg Config) (*App, error) {
	cfg, svc, err := newDelivery(cfg)
	if err != nil {
		return nil, err
	}
	// The workers outlive ctx: Stop ends them, bounded, after the HTTP side drained.
	if err := svc.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("start delivery: %w", err)
	}
	a := &App{Delivery: svc, Tenants: cfg.Tenants, Conversations: NewConversations(svc, cfg.Store, cfg.Now)}
	scfg := server.Config{Tenants: cfg.Tenants, Delivery: svc, Logger: cfg.Logger, Registry: cfg.Registerer,
		InsecureSkipSignature: cfg.InsecureSkipSignature}
	if !cfg.NoAPI {
		scfg.API = &server.API{Sender: svc, Store: cfg.Store, Now: cfg.Now}
		scfg.Conversations = a.Conversations
	}
	if a.Server, err = server.New(scfg); err != nil {
		return nil, errors.Join(err, a.Stop(context.Background()))
	}
	return a, nil
}

// Stop drains the delivery jobs until ctx ends (see delivery.Service.Stop). It does not
// close the store.
func (a *App) Stop(ctx context.Context) error {
	if err := a.Delivery.Stop(ctx); err != nil {
		return fmt.Errorf("drain delivery jobs: %w", err)
	}
	return nil
}

// DeliveryProviders turns bundle providers into delivery's plain values, each with the
// client newClient builds.
func DeliveryProviders(ps []*bundle.Provider, newClient func(*bundle.Provider) (*whatsapp.Client, error)) ([]delivery.Provider, error) {
	out := make([]delivery.Provider, 0, len(ps))
	for _, bp := range ps {
		c, err := newClient(bp)
		if err != nil {
			return nil, fmt.Errorf("delivery: provider %s/%s: %w", bp.Tenant, bp.Team, err)
		}
		scope, limit := bp.MessagingLimitScope()
		out = append(out, delivery.Provider{Tenant: bp.Tenant, Team: bp.Team, PhoneNumberID: bp.PhoneNumberID,
			OptOutKeywords: bp.OptOutKeywords, OptInKeywords: bp.OptInKeywords, MarkRead: bp.MarkRead,
			MarketingMessages:   bp.MarketingMessages,
			ConversationTimeout: bp.ConversationTimeout, ReconcileWindow: bp.ReconcileWindow,
			Sender: delivery.ClientSender(c), LimitScope: scope, MessagingLimit: limit})
	}
	return out, nil
}

// Tenants turns providers into the server's routes, resolving the verify token, app
// secret and API key.
func Tenants(ps []*bundle.Provider, lookup func(string) (string, bool)) ([]server.Tenant, error) {
	var out []server.Tenant
	for _, p := range ps {
		vt, err := p.VerifyToken.Resolve(lookup)
		if err != nil {
			return nil, fmt.Errorf("%s/%s verify_token: %w", p.Tenant, p.Team, err)
		}
		as, err := p.AppSecret.Resolve(lookup)
		if err != nil {
			return nil, fmt.Errorf("%s/%s app_secret: %w", p.Tenant, p.Team, err)
		}
		// A missing API key only disables the send API for this tenant/team.
		key, _ := p.APIKey.Resolve(lookup)
		out = append(out, server.Tenant{Tenant: p.Tenant, Team: p.Team, PhoneNumberID: p.PhoneNumberID, BusinessAccountID: p.BusinessAccountID,
			VerifyToken: secret.New(vt), AppSecret: secret.New(as), APIKey: secret.New(key)})
	}
	return out, nil
}

// newDelivery fills cfg's defaults and builds the delivery service over cfg.Store: the
// providers with their clients, backend-call runners, secrets and settings. It starts no
// workers.
func newDelivery(cfg Config) (Config, *delivery.Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil { // one registry for delivery's metrics and the server's /metrics
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Providers == nil && cfg.Bundle != nil {
		cfg.Providers = Enabled(cfg.Bundle)
	}
	if cfg.NewClient == nil {
		log := cfg.Logger
		cfg.NewClient = func(p *bundle.Provider) (*whatsapp.Client, error) {
			opts := ClientOptions{Pooled: true, OnSharedError: func(err error) {
				log.Warn("shared pacing ledger failed: pacing on this instance's share for now",
					"tenant", p.Tenant, "team", p.Team, "err", err)
			}}
			// On PostgreSQL the instances share each number's throughput through the store.
			if cfg.Store.Postgres() {
				opts.Shared = cfg.Store
			}
			return NewClient(p, cfg.LookupEnv, opts)
		}
	}
	if cfg.Tenants == nil {
		ts, err := Tenants(cfg.Providers, cfg.LookupEnv)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Tenants = ts
	}
	secretOf := cfg.FlowSecret
	if secretOf == nil {
		var err error
		if secretOf, err = FlowSecrets(cfg.Bundle, cfg.LookupEnv); err != nil {
			return cfg, nil, err
		}
	}
	if err := CheckCalls(cfg.Flows, cfg.Providers, secretOf); err != nil {
		return cfg, nil, fmt.Errorf("the flows cannot run: %w", err)
	}
	providers, err := DeliveryProviders(cfg.Providers, cfg.NewClient)
	if err != nil {
		return cfg, nil, err
	}
	runners, err := callRunners(cfg.Providers, cfg.Registerer, cfg.Logger, cfg.LookupEnv)
	if err != nil {
		return cfg, nil, err
	}
	for i, bp := range cfg.Providers {
		providers[i].Calls, providers[i].Secret, providers[i].Settings = runners[bp], secretOf, bp.FlowSettings()
		if cfg.CallTransport != nil {
			providers[i].Calls.Transport = cfg.CallTransport
		}
		providers[i].EventsURL, providers[i].EventsSecret = EventsTarget(bp, cfg.LookupEnv)
		if bp.EventsURL != "" {
			cfg.Logger.Info("event webhooks", "tenant", bp.Tenant, "team", bp.Team, "url", urlWithoutQuery(bp.EventsURL),
				"signed", providers[i].EventsSecret != nil)
		}
	}
	var keep store.Retention
	if cfg.Bundle != nil {
		r := cfg.Bundle.Retention()
		keep = store.Retention{Messages: r.Messages, IdempotencyKeys: r.IdempotencyKeys}
	}
	svc, err := delivery.New(delivery.Config{Providers: providers, Flows: cfg.Flows, Store: cfg.Store,
		Logger: cfg.Logger, Registerer: cfg.Registerer, Now: cfg.Now, Retention: keep, DeadAfter: cfg.DeadAfter})
	if err != nil {
		return cfg, nil, fmt.Errorf("start delivery: %w", err)
	}
	return cfg, svc, nil
}

// StartFlowOnce starts a flow for one contact from a command (gtc send --flow on a bundle
// with state) through the same rules and records as gtc serve's send API: the contact's
// conversation then waits for the answers, which gtc serve processes. It runs no workers:
// the jobs it schedules (a retry, a question's timeout, a backend call) are worked by a
// gtc serve on the same state.
func StartFlowOnce(ctx context.Context, cfg Config, tenant, team string, req delivery.FlowStart) ([]*store.Outbound, error) {
	_, svc, err := newDelivery(cfg)
	if err != nil {
		return nil, err
	}
	return svc.StartFlow(ctx, tenant, team, req)
}

// EventsTarget is p's event webhook receiver for delivery.Provider: the URL ("" makes no
// events) and the signing key, resolved at each delivery through lookup so a fixed
// secrets.env lets waiting events through (nil when no events_secret is set: unsigned).
func EventsTarget(p *bundle.Provider, lookup func(string) (string, bool)) (string, func() (string, error)) {
	if p.EventsURL == "" || p.EventsSecret.IsZero() {
		return p.EventsURL, nil
	}
	v := p.EventsSecret
	return p.EventsURL, func() (string, error) { return v.Resolve(lookup) }
}

// urlWithoutQuery shows a URL for a log: no user info, query or fragment (they may hold
// tokens).
func urlWithoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
