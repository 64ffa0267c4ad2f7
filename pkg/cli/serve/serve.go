// Package serve is `gtc serve`: it loads a bundle and its flows, opens the store, starts the
// app (pkg/app: delivery and webhook server) and shuts it down in order on SIGINT or SIGTERM
// (stop accepting, drain requests, drain jobs, close the database). See docs/design.md.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
)

// DefaultAddr is where gtc serve listens when neither --addr nor bundle.yaml says.
const DefaultAddr = "127.0.0.1:8080"

// ServeOptions are gtc serve's inputs.
type ServeOptions struct {
	IO        *cmdutil.IOStreams
	Logger    *slog.Logger
	JSONLogs  bool // --log-format json: every line on stderr is JSON
	LookupEnv func(string) (string, bool)

	Dir                   string
	Addr                  string // empty: the bundle's serve.addr, else DefaultAddr
	Database              string // empty: the bundle's serve.database (state/gtc.db)
	InsecureSkipSignature bool
	FakeGraph             bool
	FakeGraphAddr         string // where the first provider's double listens (DefaultFakeGraphAddr)
	fakeGraphAddrSet      bool   // --fake-graph-addr was given: no fallback to a free port
	ReadyFile             string
	DrainTimeout          time.Duration
	// DeadAfter is how long an instance sharing a PostgreSQL database may go without a
	// heartbeat before another takes over its work.
	DeadAfter time.Duration
}

// NewCmdServe builds `gtc serve`.
func NewCmdServe(f *cmdutil.Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "serve DIR",
		Short: "Run the webhook server, flows and durable delivery of a bundle",
		Long: `Run the bundle's WhatsApp webhook server: it answers Meta's handshake, checks every
POST's X-Hub-Signature-256, records the events durably before acknowledging them, runs the
flows and delivers their replies through the Cloud API, paced and retried.

Routes: GET/POST /webhook/whatsapp/{tenant}/{team} (also
/v1/messaging/ingress/messaging-whatsapp/{tenant}/{team}), /healthz, /readyz, /metrics.

With --fake-graph, replies go to an in-process Graph API double instead of Meta, so the
bundle runs with no Meta account. The double listens on --fake-graph-addr (default
` + DefaultFakeGraphAddr + `; a second enabled provider on the next port), printed at the start: a
bundle whose api_base_url is that address (testdata/answers/local.json's is) sends gtc send,
gtc templates list and gtc doctor there while gtc serve runs.`,
		Example: `  gtc serve ./my-bundle
  gtc serve --fake-graph ./my-bundle
  gtc serve --fake-graph --addr 127.0.0.1:9090 --fake-graph-addr 127.0.0.1:9089 ./my-bundle`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "the bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Logger = f.Logger
			opts.JSONLogs = f.LogFormat == "json"
			opts.LookupEnv = f.LookupEnv
			if opts.DrainTimeout <= 0 {
				return cmdutil.FlagErrorf("--drain-timeout must be positive, got %s", opts.DrainTimeout)
			}
			if opts.DeadAfter < time.Second {
				return cmdutil.FlagErrorf("--dead-after must be at least 1s, got %s", opts.DeadAfter)
			}
			opts.fakeGraphAddrSet = cmd.Flags().Changed("fake-graph-addr")
			if opts.fakeGraphAddrSet && !opts.FakeGraph {
				return cmdutil.FlagErrorf("--fake-graph-addr goes with --fake-graph")
			}
			if _, _, err := net.SplitHostPort(opts.FakeGraphAddr); err != nil {
				return cmdutil.FlagErrorf("invalid --fake-graph-addr %q: want host:port, e.g. %s", opts.FakeGraphAddr, DefaultFakeGraphAddr)
			}
			if opts.Addr != "" {
				if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
					return cmdutil.FlagErrorf("invalid --addr %q: want host:port, e.g. 127.0.0.1:8080", opts.Addr)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return serveRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Addr, "addr", "", "listen address host:port (default: the bundle's serve.addr, else "+DefaultAddr+"); port 0 picks a free one")
	fl.StringVar(&opts.Database, "database", "", "SQLite file or postgres:// URL (default: $GTC_DATABASE_URL, else the bundle's serve.database, else state/gtc.db)")
	fl.BoolVar(&opts.InsecureSkipSignature, "insecure-skip-signature", false, "accept webhook POSTs without a valid X-Hub-Signature-256 (local testing only)")
	fl.BoolVar(&opts.FakeGraph, "fake-graph", false, "send replies to an in-process Graph API double instead of Meta")
	fl.StringVar(&opts.FakeGraphAddr, "fake-graph-addr", DefaultFakeGraphAddr, "with --fake-graph: where the Graph API double listens (port 0 picks a free one)")
	fl.StringVar(&opts.ReadyFile, "ready-file", "", "write the listening host:port to this file once serving (for scripts)")
	fl.DurationVar(&opts.DrainTimeout, "drain-timeout", 20*time.Second, "how long shutdown waits for in-flight requests and jobs")
	fl.DurationVar(&opts.DeadAfter, "dead-after", 15*time.Second, "on PostgreSQL: how long an instance goes without a heartbeat before another takes over its work")
	return cmd
}

func serveRun(ctx context.Context, opts *ServeOptions) (err error) {
	log := opts.Logger
	if path, ok := opts.LookupEnv("GTC_CPUPROFILE"); ok && path != "" {
		// A CPU profile of the whole run, for docs/benchmarks.md (go tool pprof PATH).
		var limit time.Duration
		if v, ok := opts.LookupEnv("GTC_CPUPROFILE_FOR"); ok {
			if limit, err = time.ParseDuration(v); err != nil || limit <= 0 {
				return fmt.Errorf("GTC_CPUPROFILE_FOR=%q: want a positive duration such as 5s", v)
			}
		}
		stop, err := startCPUProfile(path, limit)
		if err != nil {
			return err
		}
		defer stop()
	}
	b, err := bundle.Load(opts.Dir, bundle.LoadOptions{LookupEnv: opts.LookupEnv})
	if err != nil {
		return fmt.Errorf("load bundle: %w", err)
	}
	for _, w := range b.Warnings {
		log.Warn("bundle", "problem", w.String())
	}
	flows, err := flow.LoadDir(b.FlowsDir())
	if err != nil {
		return fmt.Errorf("load flows: %w", err)
	}
	tenants, err := app.Tenants(app.Enabled(b), opts.LookupEnv)
	if err != nil {
		return err
	}
	if len(tenants) == 0 {
		return fmt.Errorf("bundle %s has no enabled provider: set enabled to true in answers.json and re-run gtc setup", b.Dir)
	}

	// --database, then GTC_DATABASE_URL, then the bundle's serve.database (state/gtc.db).
	dsn := opts.Database
	if dsn == "" {
		dsn = b.Database(opts.LookupEnv)
	}
	if dsn == "" {
		dsn = filepath.Join(b.StateDir(), "gtc.db")
	}
	if !isURL(dsn) {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
	}
	if path, ok := store.SQLitePath(dsn); ok && path != ":memory:" {
		// One gtc serve per SQLite file: refuse a second one before it listens or opens it.
		unlock, err := lockState(path + ".lock")
		if err != nil {
			return err
		}
		defer unlock()
	}

	addr := opts.Addr
	if addr == "" {
		addr = b.Serve.Addr
	}
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another gtc serve running? choose another --addr)", addr, err)
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()

	var fakes []*fakeGraph
	if opts.FakeGraph {
		addr := opts.FakeGraphAddr
		if addr == "" {
			addr = DefaultFakeGraphAddr
		}
		fakes, err = startFakeGraph(b, base, addr, opts.fakeGraphAddrSet, opts.LookupEnv)
		defer func() {
			for _, g := range fakes {
				g.close()
			}
		}()
		if err != nil {
			return err
		}
	}

	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err // names the database (without its password) already
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := app.Start(ctx, app.Config{Bundle: b, Flows: flows, Store: st, LookupEnv: opts.LookupEnv, Tenants: tenants,
		InsecureSkipSignature: opts.InsecureSkipSignature, Logger: log, Registerer: reg, Now: time.Now, DeadAfter: opts.DeadAfter})
	if err != nil {
		return err
	}
	log.Info("state database", "database", st.String(), "shared", st.Postgres(), "instance", a.Delivery.Instance())
	stopDelivery := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.DrainTimeout)
		defer cancel()
		return a.Stop(sctx)
	}

	announce(opts, b, base, tenants, fakes)
	if opts.ReadyFile != "" {
		if err := os.WriteFile(opts.ReadyFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			_ = stopDelivery()
			return fmt.Errorf("write --ready-file: %w", err)
		}
	}

	serveErr := a.Server.Serve(ctx, ln, opts.DrainTimeout)
	log.Info("shutting down: HTTP drained, draining jobs", "timeout", opts.DrainTimeout)
	stopErr := stopDelivery()
	if err := errors.Join(serveErr, stopErr); err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}

// announce logs where gtc listens and what to do next, with warnings for risky settings.
func announce(opts *ServeOptions, b *bundle.Bundle, base string, tenants []server.Tenant, fakes []*fakeGraph) {
	log := opts.Logger
	log.Info("gtc serve listening", "addr", base, "bundle", b.Dir)
	if opts.InsecureSkipSignature {
		log.Warn("--insecure-skip-signature: webhook POSTs are NOT authenticated; never use this on a public address")
	}
	for _, t := range tenants {
		p, _ := b.Provider(t.Tenant, t.Team)
		log.Info("webhook route", "tenant", t.Tenant, "team", t.Team,
			"local", base+p.CallbackPath(), "meta_callback_url", p.CallbackURL())
		if t.AppSecret.IsZero() && !opts.InsecureSkipSignature {
			log.Warn("app_secret is not set: every webhook POST will be refused with 401; set app_secret in answers.json and re-run gtc setup",
				"tenant", t.Tenant, "team", t.Team)
		}
		if t.APIKey.Raw() == "" {
			log.Warn("no API key: the send API (/v1/messages) refuses every request for this tenant/team; set "+bundle.APIKeyName+" in the bundle's secrets.env",
				"tenant", t.Tenant, "team", t.Team)
		}
		if !opts.JSONLogs { // the "webhook route" line says it already; JSON logs are JSON only
			fmt.Fprintf(opts.IO.ErrOut, "POST webhooks for %s/%s to %s%s\n", t.Tenant, t.Team, base, p.CallbackPath())
		}
	}
	if opts.FakeGraph {
		log.Warn("--fake-graph: replies go to an in-process Graph API double, not to WhatsApp")
	}
	for _, g := range fakes {
		p := g.Provider
		if g.Fallback {
			log.Warn("the default Graph API double address is taken: using a free port instead", "tenant", p.Tenant, "team", p.Team, "graph_url", g.Fake.URL)
		}
		log.Info("Graph API double", "tenant", p.Tenant, "team", p.Team, "graph_url", g.Fake.URL)
		if strings.TrimSuffix(g.Configured, "/") != g.Fake.URL {
			log.Warn("gtc send, gtc templates list and gtc doctor on this bundle go to its api_base_url, not to the double: set api_base_url to "+g.Fake.URL+" in answers.json and re-run gtc setup to try them locally",
				"tenant", p.Tenant, "team", p.Team, "api_base_url", g.Configured)
		}
		if !opts.JSONLogs {
			fmt.Fprintf(opts.IO.ErrOut, "Graph API double for %s/%s at %s\n", p.Tenant, p.Team, g.Fake.URL)
		}
	}
}

func isURL(dsn string) bool {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if len(dsn) >= len(p) && dsn[:len(p)] == p {
			return true
		}
	}
	return false
}
