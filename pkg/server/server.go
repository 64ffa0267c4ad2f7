// Package server owns gtc serve's HTTP side: the webhook routes (handshake, signature,
// parse, durable hand-off; 200 only after the commit), the send API over delivery's
// service, health, readiness and metrics. See docs/design.md.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Ingester is what the server hands parsed events to (delivery.Service). Ingest must return
// only after the events are durably recorded; Ready reports whether the database and the
// workers can take work.
type Ingester interface {
	Ingest(ctx context.Context, tenant, team string, events []whatsapp.Event) error
	Ready() error
}

// Tenant is one tenant/team's webhook endpoint: who may call it and which phone number's
// and business account's events are its own. Secrets are resolved values (not ${ENV}
// references).
type Tenant struct {
	Tenant, Team  string
	PhoneNumberID string
	// BusinessAccountID is the WhatsApp Business Account the number belongs to: template
	// and account updates (entry.id) go to every tenant/team of it. Empty: such updates
	// go to the tenant/team whose URL received them.
	BusinessAccountID string
	VerifyToken       secret.Value
	AppSecret         secret.Value
	// APIKey authenticates the send API for this tenant/team; zero disables it.
	APIKey secret.Value
}

// Config configures a Server.
type Config struct {
	Tenants  []Tenant
	Delivery Ingester
	Logger   *slog.Logger
	// Registry receives the server's metrics and is served on /metrics; nil makes a new one.
	Registry *prometheus.Registry
	// InsecureSkipSignature accepts unsigned POSTs (local testing only).
	InsecureSkipSignature bool
	// MaxBodyBytes caps a webhook body; 0 means whatsapp.MaxWebhookBody (3 MB, Meta's maximum).
	MaxBodyBytes int64
	// BodyBudget bounds the bytes of webhook bodies held in memory at once (a POST counts
	// its Content-Length rounded up to a buffer size class, or MaxBodyBytes when it sends
	// none); a quarter is kept for bodies of 64 KiB or less. 0 means DefaultBodyBudget.
	BodyBudget int64
	// BodyWait is how long a POST waits for room in BodyBudget before it is answered 503;
	// 0 means DefaultBodyWait.
	BodyWait time.Duration
	// API enables the send API (/v1/messages); nil leaves it out.
	API *API
	// Conversations enables the conversations API (/v1/conversations); it needs API (replies
	// go through the send API). nil leaves it out.
	Conversations ConversationService
	// WriteCheck tells /readyz whether an ingest could commit now; nil uses Delivery when
	// it implements WriteChecker, else only Delivery.Ready is asked.
	WriteCheck WriteChecker
	// ReadyTimeout bounds the write check; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Webhook paths. Both answer the same way (DESIGN §6).
const (
	WebhookPrefix = "/webhook/whatsapp/"
	IngressPrefix = "/v1/messaging/ingress/messaging-whatsapp/"
)

// StatusMisdirected is the answer to a payload for a phone_number_id that is not this
// tenant/team's: not 200, so Meta keeps the events and retries while the operator fixes
// the routing, instead of gtc acknowledging and dropping them.
const StatusMisdirected = http.StatusMisdirectedRequest

// Server serves gtc's HTTP routes.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tenants map[string]*Tenant
	routes  *routes
	// readiness is /readyz's write check; nil when there is none.
	readiness *readiness
	bodies    *bodies
	reg       *prometheus.Registry
	handler   http.Handler

	webhooks   *prometheus.CounterVec
	ackSeconds *prometheus.HistogramVec
	events     *prometheus.CounterVec
	inflight   prometheus.Gauge
}

// New builds a Server. It fails when a tenant/team is listed twice or Delivery is nil.
func New(cfg Config) (*Server, error) {
	if cfg.Delivery == nil {
		return nil, errors.New("server: no delivery service")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = whatsapp.MaxWebhookBody
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reg: cfg.Registry, tenants: map[string]*Tenant{},
		bodies: newBodies(cfg.MaxBodyBytes, cfg.BodyBudget, cfg.BodyWait)}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		k := t.Tenant + "/" + t.Team
		if _, dup := s.tenants[k]; dup {
			return nil, fmt.Errorf("server: tenant/team %s listed twice", k)
		}
		s.tenants[k] = t
	}
	ts := make([]*Tenant, len(cfg.Tenants))
	for i := range cfg.Tenants {
		ts[i] = &cfg.Tenants[i]
	}
	s.routes = newRoutes(ts)
	wc := cfg.WriteCheck
	if wc == nil {
		wc, _ = cfg.Delivery.(WriteChecker)
	}
	if wc != nil {
		if cfg.ReadyTimeout <= 0 {
			cfg.ReadyTimeout = DefaultReadyTimeout
		}
		s.readiness = &readiness{check: wc, timeout: cfg.ReadyTimeout}
	}
	s.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gtc_webhooks_total",
		Help: "Webhook requests by result: ok, handshake_ok, handshake_forbidden, bad_signature, too_large, busy, bad_request, misdirected, unknown_tenant, ingest_failed, panic.",
	}, []string{"result"})
	s.ackSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gtc_webhook_ack_seconds",
		Help:    "Time from receiving a webhook POST to answering it, by result.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"result"})
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gtc_webhook_events_total",
		Help: "Events parsed from acknowledged webhooks, by kind and message type.",
	}, []string{"kind", "type"})
	s.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gtc_http_inflight_requests",
		Help: "HTTP requests being served.",
	})
	for _, c := range []prometheus.Collector{s.webhooks, s.ackSeconds, s.events, s.inflight} {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}

	mux := http.NewServeMux()
	for _, prefix := range []string{WebhookPrefix, IngressPrefix} {
		mux.HandleFunc("GET "+prefix+"{tenant}/{team}", s.handshake)
		mux.HandleFunc("POST "+prefix+"{tenant}/{team}", s.receive)
		mux.HandleFunc("GET "+strings.TrimSuffix(prefix, "/"), s.handshakeApp)
		mux.HandleFunc("POST "+strings.TrimSuffix(prefix, "/"), s.receiveApp)
	}
	if cfg.API != nil {
		if cfg.API.Sender == nil || cfg.API.Store == nil {
			return nil, errors.New("server: the send API needs a sender and a store")
		}
		mux.HandleFunc("POST /v1/messages", s.postMessage)
		mux.HandleFunc("GET /v1/messages/{id}", s.getMessage)
	}
	if cfg.Conversations != nil {
		if cfg.API == nil {
			return nil, errors.New("server: the conversations API needs the send API (Config.API): replies go through it")
		}
		s.routeConversations(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	s.handler = s.requestID(s.recoverer(mux))
	return s, nil
}

// Handler returns the server's routes wrapped in request-id, logging and recovery middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the Prometheus registry served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// HTTPServer returns an http.Server for the handler with timeouts against slow clients.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves on ln until ctx is done, then stops accepting and waits up to drain for
// in-flight requests. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	hs := s.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("drain http requests: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

func (s *Server) tenant(r *http.Request) (*Tenant, bool) {
	t, ok := s.tenants[r.PathValue("tenant")+"/"+r.PathValue("team")]
	return t, ok
}

// handshake answers Meta's GET verification: 200 with exactly hub.challenge, else 403.
func (s *Server) handshake(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tenant(r)
	if !ok {
		s.webhooks.WithLabelValues("unknown_tenant").Inc()
		writeText(w, http.StatusNotFound, "unknown tenant/team")
		return
	}
	q := r.URL.Query()
	challenge, err := whatsapp.VerifyHandshake(q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge"), t.VerifyToken.Raw())
	if err != nil {
		s.webhooks.WithLabelValues("handshake_forbidden").Inc()
		s.reqLog(r).Warn("webhook handshake refused", "tenant", t.Tenant, "team", t.Team, "reason", err.Error())
		writeText(w, http.StatusForbidden, "forbidden")
		return
	}
	s.webhooks.WithLabelValues("handshake_ok").Inc()
	s.reqLog(r).Info("webhook handshake accepted", "tenant", t.Tenant, "team", t.Team)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge)
}

// handshakeApp answers Meta's GET verification on the app-level route: any verify token
// of the bundle is accepted (each tenant/team's token is one the operator gave Meta).
func (s *Server) handshakeApp(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var err error = errors.New("no tenant/team of this bundle has a verify token")
	for _, t := range s.routes.all {
		if t.VerifyToken.Raw() == "" {
			continue
		}
		var challenge string
		if challenge, err = whatsapp.VerifyHandshake(q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge"), t.VerifyToken.Raw()); err == nil {
			s.webhooks.WithLabelValues("handshake_ok").Inc()
			s.reqLog(r).Info("webhook handshake accepted on the app route", "tenant", t.Tenant, "team", t.Team)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, challenge)
			return
		}
	}
	s.webhooks.WithLabelValues("handshake_forbidden").Inc()
	s.reqLog(r).Warn("webhook handshake refused on the app route", "reason", err.Error())
	writeText(w, http.StatusForbidden, "forbidden")
}

// receive handles a webhook POST on a tenant/team's URL.
func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tenant(r)
	if !ok {
		s.webhooks.WithLabelValues("unknown_tenant").Inc()
		s.reqLog(r).Warn("webhook refused", "result", "unknown_tenant", "status", http.StatusNotFound,
			"tenant", r.PathValue("tenant"), "team", r.PathValue("team"))
		writeText(w, http.StatusNotFound, "unknown tenant/team")
		return
	}
	s.receiveFor(w, r, t)
}

// receiveApp handles a webhook POST on the app-level route.
func (s *Server) receiveApp(w http.ResponseWriter, r *http.Request) { s.receiveFor(w, r, nil) }

// receiveFor handles a webhook POST received on route's URL (nil: the app-level route):
// limit, signature over the raw bytes, parse, routing by payload, durable ingest per
// tenant/team, and only then 200.
func (s *Server) receiveFor(w http.ResponseWriter, r *http.Request, route *Tenant) {
	start := time.Now()
	result := "ok"
	defer func() {
		s.webhooks.WithLabelValues(result).Inc()
		s.ackSeconds.WithLabelValues(result).Observe(time.Since(start).Seconds())
	}()
	fail := func(res string, code int, msg string, level slog.Level, attrs ...any) {
		result = res
		s.reqLog(r).Log(r.Context(), level, "webhook refused", append([]any{"result", res, "status", code, "reason", msg}, attrs...)...)
		writeText(w, code, msg)
	}

	var tattrs []any
	if route != nil {
		tattrs = []any{"tenant", route.Tenant, "team", route.Team}
	}

	// Refused before the body is read: a signature that cannot verify, a Content-Length
	// over the limit, no room in the body budget.
	checked := !s.cfg.InsecureSkipSignature
	if checked {
		haveSecret := len(s.routes.secrets) > 0
		if route != nil {
			haveSecret = route.AppSecret.Raw() != ""
		}
		if err := checkSignatureHeader(r.Header.Get(whatsapp.SignatureHeader), haveSecret); err != nil {
			fail("bad_signature", http.StatusUnauthorized, err.Error(), slog.LevelWarn, tattrs...)
			return
		}
	}
	body, err := s.bodies.read(r.Context(), r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			fail("too_large", http.StatusRequestEntityTooLarge,
				fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBodyBytes), slog.LevelWarn, tattrs...)
		case errors.Is(err, errBusy):
			w.Header().Set("Retry-After", "1")
			fail("busy", http.StatusServiceUnavailable, err.Error(), slog.LevelWarn, tattrs...)
		default:
			fail("bad_request", http.StatusBadRequest, "read body: "+err.Error(), slog.LevelWarn, tattrs...)
		}
		return
	}
	defer body.release() // for the returns before the parse; release is idempotent

	var appSecret string
	if checked {
		appSecret, err = s.verify(body.Bytes, r.Header.Get(whatsapp.SignatureHeader), route)
		if err != nil {
			fail("bad_signature", http.StatusUnauthorized, err.Error(), slog.LevelWarn, tattrs...)
			return
		}
	}

	events, err := whatsapp.ParseWebhook(body.Bytes)
	// The events are copies: the buffer and its room in the budget go back before the
	// (durable, so slower) ingest.
	body.release()
	if err != nil {
		fail("bad_request", http.StatusBadRequest, err.Error(), slog.LevelWarn, tattrs...)
		return
	}
	batches, err := s.split(route, appSecret, checked, events)
	if err != nil {
		fail("misdirected", StatusMisdirected, err.Error(), slog.LevelError, tattrs...)
		return
	}
	for _, b := range batches {
		if err := s.cfg.Delivery.Ingest(r.Context(), b.t.Tenant, b.t.Team, b.events); err != nil {
			fail("ingest_failed", http.StatusInternalServerError, "could not record the events; retry later",
				slog.LevelError, append(tattrs, "for_tenant", b.t.Tenant, "for_team", b.t.Team, "err", err.Error())...)
			return
		}
		switch {
		case route != nil && b.t != route:
			// Another tenant/team's URL: worth a line, the operator may expect its own.
			s.reqLog(r).Info("webhook events routed by payload", append(tattrs, "to_tenant", b.t.Tenant, "to_team", b.t.Team, "events", len(b.events))...)
		case route == nil && s.log.Enabled(r.Context(), slog.LevelDebug):
			s.reqLog(r).Debug("webhook events routed by payload", "to_tenant", b.t.Tenant, "to_team", b.t.Team, "events", len(b.events))
		}
	}
	for i := range events {
		typ := ""
		if events[i].Message != nil {
			typ = events[i].Message.Type
		}
		s.events.WithLabelValues(string(events[i].Kind), typ).Inc()
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.reqLog(r).Debug("webhook acknowledged", append(tattrs, "events", len(events), "duration", time.Since(start))...)
	}
	writeText(w, http.StatusOK, "ok")
}

// verify checks the body's signature with route's app secret, or on the app-level route
// with each of the bundle's, and returns the secret that signed it.
func (s *Server) verify(body []byte, header string, route *Tenant) (string, error) {
	if route != nil {
		return route.AppSecret.Raw(), whatsapp.VerifySignature(body, header, route.AppSecret.Raw())
	}
	if len(s.routes.secrets) == 0 {
		return "", whatsapp.VerifySignature(body, header, "")
	}
	var first error
	for _, sec := range s.routes.secrets {
		err := whatsapp.VerifySignature(body, header, sec)
		if err == nil {
			return sec, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", first
}

// batch is the events of one POST for one tenant/team.
type batch struct {
	t      *Tenant
	events []whatsapp.Event
}

// split routes each event and groups them per tenant/team, in the order they came. Any
// event no tenant/team may take refuses the whole POST (a *misdirected error).
func (s *Server) split(route *Tenant, secret string, checked bool, events []whatsapp.Event) ([]batch, error) {
	var out []batch
	at := map[*Tenant]int{}
	for i := range events {
		ev := &events[i]
		ts, err := s.routes.target(route, secret, checked, ev.PhoneNumberID, ev.WABAID)
		if err != nil {
			return nil, err
		}
		if checked && ev.PhoneNumberID != "" && len(ts) == 1 {
			s.routes.learn(ts[0], ev.WABAID)
		}
		for _, t := range ts {
			j, ok := at[t]
			if !ok {
				j = len(out)
				at[t] = j
				out = append(out, batch{t: t})
			}
			out[j].events = append(out[j].events, events[i])
		}
	}
	return out, nil
}

type ctxKey struct{}

// requestID gives every request an id (the caller's X-Request-Id when it is sane), echoes it
// in the response, and logs requests that did not succeed.
func (s *Server) requestID(next http.Handler) http.Handler {
	var seq atomic.Uint64
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	pfx := hex.EncodeToString(prefix[:])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c < '!' || c > '~' }) {
			id = fmt.Sprintf("%s-%d", pfx, seq.Add(1))
		}
		w.Header().Set("X-Request-Id", id)
		s.inflight.Inc()
		defer s.inflight.Dec()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

// recoverer turns a panic in one request into a 500 and a log line with the stack.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.webhooks.WithLabelValues("panic").Inc()
				s.reqLog(r).Error("panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeText(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) reqLog(r *http.Request) *slog.Logger {
	id, _ := r.Context().Value(ctxKey{}).(string)
	return s.log.With("request_id", id, "method", r.Method, "path", r.URL.Path)
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}
