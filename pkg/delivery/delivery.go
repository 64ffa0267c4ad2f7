// Package delivery is the durable pipeline behind `gtc serve`: it records webhook events
// (group commit, dedupe) together with the jobs that process them, runs the flows for each
// contact's messages in order, and sends the replies with the 24-hour window, opt-out,
// retry and status rules of the Cloud API.
//
// Shape (see DESIGN.md §6, the throughput budget): Ingest hands the events to the store's
// group commit; inside that transaction one River job (kind gtc_inbound) is inserted per
// small group of contacts with new messages, not one per message. A job claims each contact
// (a lease in the store, so one worker per contact at a time), runs the flow for each pending
// message in arrival order, records the event processed and its replies as pending outbound
// rows in one transaction, then sends those replies from inside the job. Only sends that
// must wait (rate limited with retry_on_rate_limit, transient errors) become River jobs
// (kind gtc_send) scheduled for later, so they never block other contacts.
//
// Guarantees: an event acknowledged by Ingest is processed by the flows exactly once, even
// across crashes (the "processed" mark and the pending replies commit together). Replies are
// sent at least once: a crash between Graph's 200 and the commit of the wamid resends that
// one reply on restart, because Graph offers no idempotency key. Start recovers all open
// work before the workers run.
//
// Limits worth knowing: River moves scheduled jobs to runnable about every 5 s, so a retry
// or a paced send runs up to ~5 s after its time; a job that keeps failing on the database
// leaves its contacts leased for up to 5 min (the next start clears leases); replies of one
// contact keep their order except around a retry (a retried reply may go after a later one,
// which Graph does not order either).
//
// Several instances (PostgreSQL, DESIGN.md §7): the jobs, the leases and the outbound rows
// live in the shared database, so any instance works any contact, one at a time. Each
// instance registers in the store and heartbeats; lease owners and outbound senders are
// named "<instance>:<job>". When an instance stops cleanly it hands its leases and unsent
// replies over; when one dies, the first live instance to see its heartbeat stale
// (Config.DeadAfter) does the same for it in one transaction with the jobs that finish its
// work (store.ReapInstances). A send job first claims its outbound row
// (store.ClaimOutbound), so a duplicate job never sends twice. On SQLite (one process per
// file) Start clears every lease instead, as nobody else can hold one.
package delivery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// ErrStopped is returned by Ingest after Stop, and by Ready before Start.
var ErrStopped = errors.New("delivery is not running")

// Sender sends to the Cloud API for one phone number (whatsapp.Client in production).
type Sender interface {
	// Send makes one attempt and returns the wamid Graph assigned.
	Send(ctx context.Context, m *whatsapp.Message) (wamid string, err error)
	// MarkRead marks an inbound message read.
	MarkRead(ctx context.Context, wamid string) error
}

// Pacer is implemented by Senders that pace sends (whatsapp.Pacer): Delay is how long a
// send to recipient would wait now. A send that would wait longer than
// Config.MaxInlineWait is scheduled as a job instead of holding a worker.
type Pacer interface {
	Delay(recipient string) time.Duration
}

// BackOffer is implemented by Senders whose pacer can hold one recipient back (after
// 131056, the pair rate limit).
type BackOffer interface {
	BackOff(recipient string, d time.Duration)
}

// Provider is one tenant/team's WhatsApp number as delivery needs it.
type Provider struct {
	Tenant, Team  string
	PhoneNumberID string
	// OptOutKeywords and OptInKeywords are compared with an inbound text case- and
	// space-insensitively; empty means STOP, UNSUBSCRIBE and START, SUBSCRIBE.
	OptOutKeywords, OptInKeywords []string
	// MarkRead marks every inbound message read.
	MarkRead bool
	Sender   Sender
}

// RunContext is what a flow run knows about its surroundings.
type RunContext struct {
	Tenant, Team string
	To           string // the contact, as a recipient ("+<wa_id>" or the user id)
	ReplyTo      string // the inbound message id
	Now          int64  // Unix seconds
	// LastMessageTime is the contact's last inbound time (Unix seconds) before this
	// message, 0 when this is the first.
	LastMessageTime int64
}

// Reply is one message a flow decided to send.
type Reply struct {
	Flow, Node       string
	Message          whatsapp.Message
	RetryOnRateLimit bool
}

// FlowRunner decides the replies to an inbound message (flow.Set in production). No matching
// flow is (nil, nil).
type FlowRunner interface {
	Handle(ctx context.Context, m *whatsapp.InboundMessage, rc RunContext) ([]Reply, error)
}

// ErrorInfo is how a send error is handled.
type ErrorInfo struct {
	Class   string // rate_limited, transient, window_closed, unreachable, bad_request, auth, …
	Code    int
	Message string // safe to log: no token, no body
	// Transient errors are retried with backoff; RateLimited ones only when the reply asks
	// for it (retry_on_rate_limit).
	Transient, RateLimited bool
	// Unreachable is recorded on the contact (131026 and friends), never retried.
	Unreachable bool
}

// Config wires a Service.
type Config struct {
	// Bundle supplies the providers (its enabled ones) when Providers is empty; NewSender
	// builds each one's Sender (a whatsapp.Client for its phone number).
	Bundle    *bundle.Bundle
	NewSender func(*bundle.Provider) (Sender, error)
	// NewClient is the usual way to build the Senders: one Cloud API client per provider.
	// Used when NewSender is nil.
	NewClient func(*bundle.Provider) (*whatsapp.Client, error)
	// Providers lists the tenant/team numbers directly (tests, or instead of Bundle).
	Providers []Provider
	// Flows are the bundle's flows; Runner, when set, is used instead (tests).
	Flows  *flow.Set
	Runner FlowRunner
	Store  *store.Store
	// Classify turns a Sender error into an ErrorInfo; ClassifyCode does the same for an
	// error code from a status webhook. Defaults: ClassifyError and ClassifyCode.
	Classify     func(error) ErrorInfo
	ClassifyCode func(code int) ErrorInfo
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Now          func() time.Time
	// Workers is how many jobs run at once (default 16).
	Workers int
	// MaxAttempts bounds the sends of one reply (default 8).
	MaxAttempts int
	// Backoff is the wait before retry n (1-based; default 1s·2^(n-1) capped at 5 min, with
	// jitter left to the caller).
	Backoff func(attempt int) time.Duration
	// MaxInlineWait is the longest pacing wait a job sits through; longer ones become a
	// scheduled send (default 1s).
	MaxInlineWait time.Duration
	// PollInterval is how often idle workers look for jobs (default 50ms).
	PollInterval time.Duration
	// OptOutConfirmation and OptInConfirmation are the texts sent on STOP and START.
	OptOutConfirmation, OptInConfirmation string
	// Instance names this process among the instances sharing a PostgreSQL database
	// (default: host name and a random suffix). It must not contain ':'.
	Instance string
	// Heartbeat is how often a shared instance says it is alive and looks for dead ones
	// (default 2s); DeadAfter is how long without a heartbeat makes an instance dead and
	// its work taken over (default 15s).
	Heartbeat, DeadAfter time.Duration
}

// Service runs the pipeline.
type Service struct {
	cfg       Config
	st        *store.Store
	log       *slog.Logger
	now       func() time.Time
	providers map[string]*Provider
	// ins inserts jobs, also inside the store's transactions; jobs runs the workers. On
	// SQLite they are one client (riversqlite); on PostgreSQL jobs uses River's pgx driver
	// and ins its database/sql driver over the same pgx pool, because the store's
	// transactions are database/sql ones.
	ins      *river.Client[*sql.Tx]
	jobs     jobRunner
	instance string
	shared   bool // PostgreSQL: other instances may share the database
	m        *metrics
	hbStop   chan struct{}
	hbDone   chan struct{}
	hbOnce   sync.Once

	started  atomic.Bool
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

const contactsPerJob = 32

// jobRunner is the part of a River client that runs workers, whatever its driver.
type jobRunner interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// New checks the config, migrates River's tables on the store's database and builds the
// job client. It starts nothing.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: no store")
	}
	if cfg.Runner == nil && cfg.Flows != nil {
		cfg.Runner = SetRunner(cfg.Flows)
	}
	if cfg.Runner == nil {
		return nil, errors.New("delivery: no flows")
	}
	if cfg.Classify == nil {
		cfg.Classify = ClassifyError
	}
	if cfg.ClassifyCode == nil {
		cfg.ClassifyCode = ClassifyCode
	}
	if cfg.NewSender == nil && cfg.NewClient != nil {
		cfg.NewSender = newClientSender(cfg.NewClient)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(n int) time.Duration {
			d := time.Second << min(n-1, 9)
			return min(d, 5*time.Minute)
		}
	}
	if cfg.MaxInlineWait <= 0 {
		cfg.MaxInlineWait = time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.OptOutConfirmation == "" {
		cfg.OptOutConfirmation = "You have unsubscribed and will get no more messages. Reply START to subscribe again."
	}
	if cfg.OptInConfirmation == "" {
		cfg.OptInConfirmation = "You are subscribed again. Reply STOP to unsubscribe."
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 2 * time.Second
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 15 * time.Second
	}
	if cfg.Instance == "" {
		cfg.Instance = newInstanceID()
	}
	if strings.Contains(cfg.Instance, ":") {
		return nil, fmt.Errorf("delivery: instance name %q must not contain ':'", cfg.Instance)
	}
	if len(cfg.Providers) == 0 && cfg.Bundle != nil {
		ps, err := providersFromBundle(cfg.Bundle, cfg.NewSender)
		if err != nil {
			return nil, err
		}
		cfg.Providers = ps
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now, providers: map[string]*Provider{}}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		if p.Sender == nil {
			return nil, fmt.Errorf("delivery: provider %s/%s has no sender", p.Tenant, p.Team)
		}
		k := p.Tenant + "/" + p.Team
		if _, dup := s.providers[k]; dup {
			return nil, fmt.Errorf("delivery: provider %s listed twice", k)
		}
		s.providers[k] = p
	}
	m, err := newMetrics(cfg.Registerer, s)
	if err != nil {
		return nil, fmt.Errorf("delivery: register metrics: %w", err)
	}
	s.m = m

	s.instance, s.shared = cfg.Instance, cfg.Store.Postgres()
	workers := river.NewWorkers()
	river.AddWorker(workers, &inboundWorker{s: s})
	river.AddWorker(workers, &sendWorker{s: s})
	rcfg := &river.Config{
		ID:      s.instance,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers: workers,
		Logger:  cfg.Logger.With("component", "jobs"),
		// Below the contact lease (leaseFor), so a lease never outlives its job.
		JobTimeout:        2 * time.Minute,
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     min(cfg.PollInterval, 10*time.Millisecond),
		MaxAttempts:       cfg.MaxAttempts,
	}
	quiet := &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)}
	if s.shared {
		pgDriver := riverpgxv5.New(s.st.Pool())
		migrator, err := rivermigrate.New(pgDriver, quiet)
		if err != nil {
			return nil, fmt.Errorf("delivery: job migrations: %w", err)
		}
		// Under the store's migration lock: instances starting together take turns.
		err = s.st.Exclusive(context.Background(), func() error {
			_, err := migrator.Migrate(context.Background(), rivermigrate.DirectionUp, nil)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("delivery: job migrations: %w", err)
		}
		rc, err := river.NewClient(pgDriver, rcfg)
		if err != nil {
			return nil, fmt.Errorf("delivery: job client: %w", err)
		}
		ins, err := river.NewClient(riverdatabasesql.New(s.st.DB()), &river.Config{ID: s.instance + "-insert",
			Logger: cfg.Logger.With("component", "jobs"), MaxAttempts: cfg.MaxAttempts})
		if err != nil {
			return nil, fmt.Errorf("delivery: job client: %w", err)
		}
		s.jobs, s.ins = rc, ins
	} else {
		driver := riversqlite.New(s.st.DB())
		migrator, err := rivermigrate.New(driver, quiet)
		if err != nil {
			return nil, fmt.Errorf("delivery: job migrations: %w", err)
		}
		if _, err := migrator.Migrate(context.Background(), rivermigrate.DirectionUp, nil); err != nil {
			return nil, fmt.Errorf("delivery: job migrations: %w", err)
		}
		rc, err := river.NewClient(driver, rcfg)
		if err != nil {
			return nil, fmt.Errorf("delivery: job client: %w", err)
		}
		s.jobs, s.ins = rc, rc
	}
	s.st.SetEnqueue(s.enqueueTx)
	return s, nil
}

// newInstanceID names this process: its host name and a random suffix.
func newInstanceID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == ':' || r == ' ' {
			return '-'
		}
		return r
	}, host)
	if len(host) > 32 {
		host = host[:32]
	}
	var b [4]byte
	rand.Read(b[:])
	if host == "" {
		host = "gtc"
	}
	return host + "-" + hex.EncodeToString(b[:])
}

// Instance is this process's name among the instances sharing the database.
func (s *Service) Instance() string { return s.instance }

// Start recovers open work left by an earlier run (pending events, unsent replies) and
// starts the workers.
func (s *Service) Start(ctx context.Context) error {
	if s.shared {
		if err := s.st.RegisterInstance(ctx, s.instance); err != nil {
			return fmt.Errorf("start delivery: %w", err)
		}
		if err := s.reap(ctx, ""); err != nil {
			return fmt.Errorf("start delivery: %w", err)
		}
	}
	if err := s.recover(ctx); err != nil {
		return fmt.Errorf("start delivery: %w", err)
	}
	if err := s.jobs.Start(ctx); err != nil {
		return fmt.Errorf("start delivery: %w", err)
	}
	if s.shared {
		s.hbStop, s.hbDone = make(chan struct{}), make(chan struct{})
		go s.heartbeat(context.WithoutCancel(ctx))
	}
	s.started.Store(true)
	return nil
}

// recover runs before the workers. With one process per SQLite database no lease or
// send can be held by anyone alive: every pending event needs a job and every open reply a
// send. On a shared database the leases and sends of live instances are theirs; the
// pending events of free contacts and the replies nobody is sending get jobs (a duplicate
// of a job already queued is harmless: leases and ClaimOutbound let one of them work).
func (s *Service) recover(ctx context.Context) error {
	if !s.shared {
		if err := s.st.ClearLeases(ctx); err != nil {
			return err
		}
	}
	contacts, err := s.st.PendingContacts(ctx)
	if err != nil {
		return err
	}
	var params []river.InsertManyParams
	for c := range chunk(contacts, contactsPerJob) {
		params = append(params, river.InsertManyParams{Args: inboundArgs{Contacts: c}})
	}
	open, err := s.st.OpenOutbound(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, o := range open {
		if o.Sender != "" {
			continue // being sent by a live instance (only on a shared database)
		}
		params = append(params, s.sendParams(o.ID, o.NextAttemptAt))
		n++
	}
	if len(params) == 0 {
		return nil
	}
	s.log.Info("recovering open work", "contacts", len(contacts), "replies", n)
	if _, err := s.ins.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("recover open work: %w", err)
	}
	return nil
}

// Ready reports whether Ingest can be called: started, not stopping, database answering.
func (s *Service) Ready() error {
	if !s.started.Load() || s.stopping.Load() {
		return ErrStopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.st.Ping(ctx)
}

// Stop refuses new events, lets running jobs finish until ctx ends (then cancels them: their
// work is recovered on the next Start) and stops the workers. It does not close the Store.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if !s.started.Load() {
			return
		}
		if err := s.jobs.Stop(ctx); err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err2 := s.jobs.StopAndCancel(cctx); err2 != nil {
				s.stopErr = fmt.Errorf("stop delivery: %w", errors.Join(err, err2))
			} else {
				s.stopErr = fmt.Errorf("stop delivery: jobs cancelled after the drain deadline: %w", err)
			}
		}
		if s.shared {
			s.stopHeartbeat()
			// Hand what this instance still holds (cancelled jobs' contacts and replies) to
			// the others now, rather than after DeadAfter.
			hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.reap(hctx, s.instance); err != nil {
				s.stopErr = errors.Join(s.stopErr, fmt.Errorf("stop delivery: hand work over: %w", err))
			}
		}
	})
	return s.stopErr
}

// Ingest durably records the events of one webhook POST for tenant/team (duplicates
// dropped) together with the jobs that process them, and returns after the commit: only
// then may the POST be answered 200.
func (s *Service) Ingest(ctx context.Context, tenant, team string, events []whatsapp.Event) error {
	if s.stopping.Load() {
		return ErrStopped
	}
	start := time.Now()
	in := make([]store.InboundEvent, 0, len(events))
	for i := range events {
		ie, err := s.prepare(&events[i])
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		in = append(in, ie)
	}
	res, err := s.st.Ingest(ctx, tenant, team, in)
	if err != nil {
		return err
	}
	s.m.ingestSeconds.Observe(time.Since(start).Seconds())
	s.m.duplicates.Add(float64(res.Duplicates))
	for i := range events {
		ev := &events[i]
		s.m.events.WithLabelValues(string(ev.Kind)).Inc()
		if ev.Kind == whatsapp.EventUnknown || ev.Kind == whatsapp.EventError {
			s.log.Warn("webhook event recorded without processing", "tenant", tenant, "team", team, "kind", ev.Kind, "field", ev.Field)
		}
	}
	return nil
}

// prepare turns a parsed webhook event into what the store records.
func (s *Service) prepare(ev *whatsapp.Event) (store.InboundEvent, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return store.InboundEvent{}, fmt.Errorf("encode event: %w", err)
	}
	ie := store.InboundEvent{Kind: string(ev.Kind), DedupeKey: ev.DedupeKey(), Raw: raw}
	switch {
	case ev.Kind == whatsapp.EventMessage && ev.Message != nil && ev.Message.ContactKey() != "" && ev.Message.ID != "":
		m := ev.Message
		ie.ContactKey, ie.MessageID, ie.MessageType = m.ContactKey(), m.ID, m.Type
		ie.WaID, ie.UserID, ie.Name = m.From, m.FromUser, m.ContactName
		ie.Timestamp = time.Unix(m.Timestamp, 0)
		if m.Timestamp == 0 {
			ie.Timestamp = s.now()
		}
	case ev.Kind == whatsapp.EventMessage:
		// No sender or no id: nobody to answer and nothing to dedupe on. Kept as unknown
		// rather than failing the POST, which Meta would retry for days.
		ie.Kind, ie.DedupeKey = store.KindUnknown, ""
	case ev.Status != nil && ev.Status.ID != "":
		st := ev.Status
		u := &store.StatusUpdate{WAMID: st.ID, Status: st.Status, At: time.Unix(st.Timestamp, 0)}
		if len(st.Errors) > 0 {
			info := s.cfg.ClassifyCode(st.Errors[0].Code)
			u.ErrorCode, u.ErrorClass, u.Unreachable = st.Errors[0].Code, info.Class, info.Unreachable
		}
		ie.Status = u
	case ev.Preference != nil:
		p := ev.Preference
		key := p.WaID
		if key == "" {
			key = p.UserID
		}
		ie.Preference = &store.PreferenceUpdate{ContactKey: key, Value: p.Value, At: time.Unix(p.Timestamp, 0)}
	}
	if ie.Kind == store.KindStatus && ie.Status == nil {
		ie.Kind, ie.DedupeKey = store.KindUnknown, ""
	}
	if ie.DedupeKey == "" {
		// Errors, preferences and unknown changes carry no id: their content is their key.
		h := sha256.Sum256(append([]byte(string(ev.Kind)+"\x00"+ev.Field+"\x00"), ev.Raw...))
		if len(ev.Raw) == 0 {
			h = sha256.Sum256(raw)
		}
		ie.DedupeKey = string(ev.Kind) + ":" + hex.EncodeToString(h[:16])
	}
	return ie, nil
}

func (s *Service) provider(tenant, team string) *Provider { return s.providers[tenant+"/"+team] }

// normalizeKeyword folds case and collapses whitespace: " Stop  " → "STOP".
func normalizeKeyword(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), " "))
}

func matchKeyword(text string, list, def []string) bool {
	if len(list) == 0 {
		list = def
	}
	t := normalizeKeyword(text)
	if t == "" {
		return false
	}
	for _, k := range list {
		if normalizeKeyword(k) == t {
			return true
		}
	}
	return false
}

var (
	defaultOptOut = []string{"STOP", "UNSUBSCRIBE"}
	defaultOptIn  = []string{"START", "SUBSCRIBE"}
)

func chunk[T any](xs []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(xs) > 0 {
			k := min(n, len(xs))
			if !yield(xs[:k:k]) {
				return
			}
			xs = xs[k:]
		}
	}
}

// providersFromBundle turns the bundle's enabled providers into delivery Providers.
func providersFromBundle(b *bundle.Bundle, newSender func(*bundle.Provider) (Sender, error)) ([]Provider, error) {
	if newSender == nil {
		return nil, errors.New("delivery: a bundle needs NewClient or NewSender")
	}
	var out []Provider
	for _, bp := range b.Providers {
		if !bp.Enabled {
			continue
		}
		snd, err := newSender(bp)
		if err != nil {
			return nil, fmt.Errorf("delivery: provider %s/%s: %w", bp.Tenant, bp.Team, err)
		}
		out = append(out, Provider{Tenant: bp.Tenant, Team: bp.Team, PhoneNumberID: bp.PhoneNumberID,
			OptOutKeywords: bp.OptOutKeywords, OptInKeywords: bp.OptInKeywords, MarkRead: bp.MarkRead, Sender: snd})
	}
	return out, nil
}
