// Package delivery owns the durable pipeline behind gtc serve and the rules every send
// path shares: starting a flow, refusing a send (opt-out, 24-hour window), recording and
// sending an outbound message with retries. See docs/design.md.
package delivery

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
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

	"github.com/greentic/gtc/pkg/events"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
)

// Config wires a Service.
type Config struct {
	// Providers are the tenant/team numbers served, each with its Sender (pkg/app builds
	// them from a bundle).
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
	// Backoff is the wait before retry n (1-based) of a send that failed with the Graph
	// error code (0: none); default DefaultBackoff.
	Backoff func(attempt, code int) time.Duration
	// ReconcileWindow is how long a send whose outcome is unclear waits for its status
	// webhook before it is sent again, for providers that set none (default 3m).
	ReconcileWindow time.Duration
	// MaxInlineWait is the longest pacing wait a job sits through; longer ones become a
	// scheduled send (default 1s).
	MaxInlineWait time.Duration
	// PollInterval is how often idle workers look for jobs (default 50ms).
	PollInterval time.Duration
	// AckBurst is how many webhooks waiting for their commit make a burst, during which
	// workers hold their next round back (ackFirst; default 16, negative: never).
	AckBurst int
	// OptOutConfirmation and OptInConfirmation are the texts sent on STOP and START.
	OptOutConfirmation, OptInConfirmation string
	// Instance names this process among the instances sharing a PostgreSQL database
	// (default: host name and a random suffix). It must not contain ':'.
	Instance string
	// Heartbeat is how often a shared instance says it is alive and looks for dead ones
	// (default 2s, at most a fifth of DeadAfter); DeadAfter is how long without a
	// heartbeat makes an instance dead and its work taken over (default 15s).
	Heartbeat, DeadAfter time.Duration
	// EventPoll is how often the event webhooks' outbox is read (default 1s; a commit that
	// makes events wakes the loop at once). EventSchedule is their retry schedule (default
	// events.DefaultSchedule). EventClient, when set, sends them (tests).
	EventPoll     time.Duration
	EventSchedule *events.Schedule
	EventClient   *http.Client
	// Retention is what the state database keeps (zero: everything, forever), applied at
	// Start and every RetentionEvery (default DefaultRetentionEvery).
	Retention      store.Retention
	RetentionEvery time.Duration
}

// Service runs the pipeline.
type Service struct {
	cfg       Config
	st        *store.Store
	log       *slog.Logger
	now       func() time.Time
	providers map[string]*Provider
	// backlog replaces st.IngestBacklog in tests of ackFirst.
	backlog func() int
	// ins inserts jobs, also inside the store's transactions; jobs runs the workers. On
	// SQLite they are one client (riversqlite); on PostgreSQL jobs uses River's pgx driver
	// and ins its database/sql driver over the same pgx pool, because the store's
	// transactions are database/sql ones.
	ins      *river.Client[*sql.Tx]
	jobs     jobRunner
	instance string
	shared   bool // PostgreSQL: other instances may share the database
	// steps group-commits the send path's records; minWindow is the shortest reconciliation
	// window of all providers (when an ambiguous send's job first looks again).
	steps     *stepper
	minWindow time.Duration
	m         *metrics
	activity  *activityLog
	hbStop    chan struct{}
	hbDone    chan struct{}
	hbOnce    sync.Once

	// tplLists throttles reading providers' template lists (templates.go).
	tplLists templateLists

	starts   atomic.Int64 // names the leases of explicit starts
	started  atomic.Bool
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error

	// The event webhooks' delivery loop (events.go).
	evDeliverer *events.Deliverer
	evMetrics   *events.Metrics
	evWake      chan struct{}
	evCancel    context.CancelFunc
	evStop      chan struct{}
	evDone      chan struct{}

	// The retention loop (retention.go).
	rtCancel context.CancelFunc
	rtDone   chan struct{}
}

const contactsPerJob = 32

// DefaultReconcileWindow is Config.ReconcileWindow's default.
const DefaultReconcileWindow = 3 * time.Minute

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
		cfg.Backoff = DefaultBackoff
	}
	if cfg.ReconcileWindow <= 0 {
		cfg.ReconcileWindow = DefaultReconcileWindow
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
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 15 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = min(2*time.Second, cfg.DeadAfter/5)
	}
	if cfg.Instance == "" {
		cfg.Instance = newInstanceID()
	}
	if strings.Contains(cfg.Instance, ":") {
		return nil, fmt.Errorf("delivery: instance name %q must not contain ':'", cfg.Instance)
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now, providers: map[string]*Provider{},
		activity: newActivityLog(cfg.Logger), steps: &stepper{st: cfg.Store}, minWindow: cfg.ReconcileWindow}
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
		if p.ReconcileWindow > 0 {
			s.minWindow = min(s.minWindow, p.ReconcileWindow)
		}
	}
	m, err := newMetrics(cfg.Registerer, s)
	if err != nil {
		return nil, fmt.Errorf("delivery: register metrics: %w", err)
	}
	s.m = m
	if cfg.EventPoll <= 0 {
		s.cfg.EventPoll = time.Second
	}
	if cfg.EventSchedule == nil {
		s.cfg.EventSchedule = &events.DefaultSchedule
	}
	if s.evMetrics, err = events.NewMetrics(cfg.Registerer, s.EventBacklog); err != nil {
		return nil, fmt.Errorf("delivery: register metrics: %w", err)
	}
	s.evDeliverer = &events.Deliverer{Client: cfg.EventClient, Metrics: s.evMetrics}
	s.evWake = make(chan struct{}, 1)

	s.instance, s.shared = cfg.Instance, cfg.Store.Postgres()
	workers := river.NewWorkers()
	river.AddWorker(workers, &inboundWorker{s: s})
	river.AddWorker(workers, &sendWorker{s: s})
	river.AddWorker(workers, &timeoutWorker{s: s})
	river.AddWorker(workers, &callWorker{s: s})
	rcfg := &river.Config{
		ID:      s.instance,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers: workers,
		Logger:  cfg.Logger.With("component", "jobs"),
		// Below the contact lease (leaseFor), so a lease never outlives its job.
		JobTimeout: 2 * time.Minute,
		// A job left running by a process that died goes again after this (River's default
		// is an hour); start and the takeover of a dead instance rescue theirs at once.
		RescueStuckJobsAfter: 3 * time.Minute,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 10*time.Millisecond),
		MaxAttempts:          cfg.MaxAttempts,
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
		if err := s.st.PrepareJobs(context.Background()); err != nil {
			return nil, fmt.Errorf("delivery: %w", err)
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
	s.startEvents()
	s.startRetention()
	s.started.Store(true)
	return nil
}

// recover runs before the workers. With one process per SQLite database no lease or
// send can be held by anyone alive: every pending event needs a job and every open reply a
// send job. On a shared database the leases and sends of live instances are theirs; the
// pending events of free contacts and the replies nobody is sending get jobs (a duplicate
// inbound job is harmless: the lease lets one of them work; send jobs are unique per reply).
// Every job is inserted runnable now when its time has come.
func (s *Service) recover(ctx context.Context) error {
	if !s.shared {
		// Sends a killed gtc serve had under way may have reached Graph: ambiguous, settled
		// by their status webhooks (or sent again after the window), never resent at once.
		unclear, err := s.st.UnclearSends(ctx, nil, "")
		if err != nil {
			return err
		}
		if len(unclear) > 0 {
			s.log.Warn("sends under way when gtc serve stopped wait for their status webhooks", "replies", len(unclear))
		}
		if err := s.st.ClearLeases(ctx); err != nil {
			return err
		}
		// Jobs a killed gtc serve left running (a call at a backend, a send) run again now,
		// and jobs whose time came while it was down too: not after River's rescuer or
		// scheduler (which runs only once this process is elected leader).
		if n, err := s.st.RescueRunningJobs(ctx, nil, ""); err != nil {
			return err
		} else if n > 0 {
			s.log.Info("jobs left running by a stopped gtc serve run again", "jobs", n)
		}
		if _, err := s.st.WakeDueJobs(ctx); err != nil {
			return err
		}
		// An event being delivered when the process died goes out again now, not after
		// its lease (at least once).
		if _, err := s.st.FreeOutboxLeases(ctx); err != nil {
			return err
		}
	}
	if n, err := s.recoverTimeouts(ctx); err != nil {
		return err
	} else if n > 0 {
		s.log.Debug("conversation timeouts checked", "conversations", n)
	}
	contacts, err := s.st.PendingContacts(ctx)
	if err != nil {
		return err
	}
	var params []river.InsertManyParams
	for c := range slices.Chunk(contacts, contactsPerJob) {
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
		next := o.NextAttemptAt
		if o.State == store.OutAmbiguous {
			next = next.Add(s.window(s.provider(o.Tenant, o.Team)))
		}
		// Unique per reply: a reply whose job is still queued keeps that one.
		params = append(params, s.sendParams(o.ID, next))
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

// CheckWrite tells whether an ingest could commit now (store.CheckWrite): /readyz's write
// check.
func (s *Service) CheckWrite(ctx context.Context) error {
	if !s.started.Load() || s.stopping.Load() {
		return ErrStopped
	}
	return s.st.CheckWrite(ctx)
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
		if err := s.stopEvents(ctx); err != nil {
			s.stopErr = errors.Join(s.stopErr, err)
		}
		s.stopRetention()
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

func (s *Service) provider(tenant, team string) *Provider { return s.providers[tenant+"/"+team] }
