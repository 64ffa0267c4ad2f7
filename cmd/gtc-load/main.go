// Command gtc-load measures `gtc serve` under load: it sends signed text webhooks from N
// contacts with a given concurrency and batch size, and reports webhooks/s acknowledged,
// p50/p99 acknowledgement latency, replies/s delivered to the Graph API double, p99
// webhook-to-reply latency, and the server's idle and peak RSS. It compares against a
// baseline handler that only checks the HMAC and decodes the JSON.
//
//	go run ./cmd/gtc-load                      # build gtc, run serve + graphfake, measure, compare
//	go run ./cmd/gtc-load -mode serve          # gtc serve only
//	go run ./cmd/gtc-load -mode serve -database postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    -instances 2                           # 2 gtc serve on one PostgreSQL (a fresh schema per run)
//	go run ./cmd/gtc-load -mode baseline       # the baseline handler only
//	go run ./cmd/gtc-load -mode target -url http://127.0.0.1:8080/webhook/whatsapp/default/default \
//	    -secret APP_SECRET -phone-number-id ID [-pid PID]   # drive a server you started
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

type options struct {
	mode                   string
	url, secret, phoneID   string
	pid                    int
	gtc                    string
	contacts, messages     int
	batch, concurrency     int
	replyTimeout           time.Duration
	database               string // passed to gtc serve --database; "" is the bundle's SQLite file
	instances              int    // gtc serve processes on that database
	keepSchema             bool
	baselineServerReadyOut string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "compare", "compare (baseline then serve), serve, baseline or target")
	flag.StringVar(&o.url, "url", "", "webhook URL to drive (mode target)")
	flag.StringVar(&o.secret, "secret", "", "app secret to sign with (mode target)")
	flag.StringVar(&o.phoneID, "phone-number-id", LoadPhoneNumberID, "phone_number_id in the payloads (mode target)")
	flag.IntVar(&o.pid, "pid", 0, "server process id, to read its RSS (mode target)")
	flag.StringVar(&o.gtc, "gtc", "", "gtc binary to run (default: go build ./cmd/gtc)")
	flag.IntVar(&o.contacts, "contacts", 1000, "distinct senders")
	flag.IntVar(&o.messages, "messages", 20000, "inbound messages in total")
	flag.IntVar(&o.batch, "batch", 1, "messages per webhook POST")
	flag.IntVar(&o.concurrency, "concurrency", 32, "webhook POSTs in flight")
	flag.DurationVar(&o.replyTimeout, "reply-timeout", 2*time.Minute, "how long to wait for every reply")
	flag.StringVar(&o.database, "database", "", "database for gtc serve: a SQLite file or a postgres:// URL, in which each run gets a fresh schema (default: the bundle's state/gtc.db)")
	flag.IntVar(&o.instances, "instances", 1, "gtc serve processes on the one database, POSTs spread round robin (more than 1 needs -database postgres://…)")
	flag.BoolVar(&o.keepSchema, "keep-schema", false, "keep the run's PostgreSQL schema instead of dropping it")
	flag.StringVar(&o.baselineServerReadyOut, "baseline-server", "", "internal: serve the baseline handler and write its address to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.baselineServerReadyOut != "" {
		if err := serveBaseline(ctx, o.baselineServerReadyOut); err != nil {
			fmt.Fprintln(os.Stderr, "gtc-load:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gtc-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.contacts < 1 || o.messages < 1 || o.batch < 1 || o.concurrency < 1 || o.instances < 1 {
		return errors.New("-contacts, -messages, -batch, -concurrency and -instances must be at least 1")
	}
	if o.instances > 1 && !store.IsPostgres(o.database) {
		return errors.New("-instances above 1 needs -database postgres://…: a SQLite file serves one process")
	}
	fmt.Fprintf(out, "load: %d messages from %d contacts, %d per POST, %d POSTs in flight\n",
		o.messages, o.contacts, o.batch, o.concurrency)
	switch o.mode {
	case "target":
		if o.url == "" {
			return errors.New("-mode target needs -url")
		}
		r := Drive(ctx, o.loadConfig(o.url, o.secret, o.phoneID), Batches(o.loadConfig(o.url, o.secret, o.phoneID)))
		report(out, "target", r)
		if o.pid > 0 {
			rss, peak, err := memoryOf(o.pid)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "  server RSS now %s, peak %s\n", mib(rss), mib(peak))
		}
		return nil
	case "baseline":
		_, err := runBaseline(ctx, o, out)
		return err
	case "serve":
		_, err := runServe(ctx, o, out)
		return err
	case "compare":
		b, err := runBaseline(ctx, o, out)
		if err != nil {
			return err
		}
		s, err := runServe(ctx, o, out)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "ratio: gtc serve acknowledges %.2fx the baseline's webhooks/s (%.0f vs %.0f)\n",
			s.rate()/b.rate(), s.rate(), b.rate())
		return nil
	}
	return fmt.Errorf("unknown -mode %q: use compare, serve, baseline or target", o.mode)
}

func (o options) loadConfig(url, secret, phoneID string) LoadConfig {
	return LoadConfig{URL: url, AppSecret: secret, PhoneNumberID: phoneID,
		RunID: strconv.FormatInt(time.Now().UnixNano(), 36), Contacts: o.contacts, Messages: o.messages,
		Batch: o.batch, Concurrency: o.concurrency, Timeout: 30 * time.Second}
}

func (r *LoadResult) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.AckedIDs)) / r.Elapsed.Seconds()
}

func report(out io.Writer, name string, r *LoadResult) {
	fmt.Fprintf(out, "%s: %d POSTs (%d acknowledged, %d failed) in %s\n", name, r.Posts, r.Acked, r.Failed, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "  webhooks/s acknowledged: %.0f messages/s (%.0f POSTs/s)\n", r.rate(), float64(r.Acked)/r.Elapsed.Seconds())
	fmt.Fprintf(out, "  ack latency: p50 %s, p99 %s\n", Percentile(r.AckLatencies, 50).Round(10*time.Microsecond), Percentile(r.AckLatencies, 99).Round(10*time.Microsecond))
	if r.FirstError != "" {
		fmt.Fprintf(out, "  first failure: %s\n", r.FirstError)
	}
}

// runBaseline runs the HMAC + JSON-decode handler in a subprocess (this binary) and drives it.
func runBaseline(ctx context.Context, o options, out io.Writer) (*LoadResult, error) {
	dir, err := os.MkdirTemp("", "gtc-load-baseline-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addrFile := filepath.Join(dir, "addr")
	p, err := startProc(ctx, self, addrFile, filepath.Join(dir, "log"), "-baseline-server", addrFile)
	if err != nil {
		return nil, err
	}
	defer p.Stop(10 * time.Second)
	url := "http://" + p.Addr + "/webhook/whatsapp/default/default"
	cfg := o.loadConfig(url, LoadAppSecret, LoadPhoneNumberID)
	r := Drive(ctx, cfg, Batches(cfg))
	report(out, "baseline (HMAC + JSON decode only)", r)
	if rss, peak, err := p.Memory(); err == nil {
		fmt.Fprintf(out, "  baseline RSS now %s, peak %s\n", mib(rss), mib(peak))
	}
	return r, nil
}

func serveBaseline(ctx context.Context, addrFile string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: BaselineHandler(LoadAppSecret), ReadHeaderTimeout: 5 * time.Second}
	if err := os.WriteFile(addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = hs.Close() }()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runServe starts graphfake in this process, a bundle pointing at it, and o.instances
// `gtc serve` subprocesses on one database; drives them (round robin); waits for every
// reply; reports.
func runServe(ctx context.Context, o options, out io.Writer) (*LoadResult, error) {
	dir, err := os.MkdirTemp("", "gtc-load-serve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	gtc := o.gtc
	if gtc == "" {
		if gtc, err = BuildGTC(ctx, dir); err != nil {
			return nil, err
		}
	}
	graph, err := StartGraph()
	if err != nil {
		return nil, err
	}
	defer graph.Close()
	bundle, err := MakeBundle(ctx, gtc, dir, graph.URL)
	if err != nil {
		return nil, err
	}
	var extra []string
	dbName := "SQLite"
	if o.database != "" {
		db := o.database
		if store.IsPostgres(db) {
			dbName = "PostgreSQL"
			schema, dsn, drop, err := freshSchema(ctx, db)
			if err != nil {
				return nil, err
			}
			if o.keepSchema {
				fmt.Fprintf(out, "database: schema %s (kept)\n", schema)
			} else {
				defer func() {
					if err := drop(); err != nil {
						fmt.Fprintln(out, "gtc-load:", err)
					}
				}()
			}
			db = dsn
		}
		extra = []string{"--database", db}
	}
	var procs []*ServeProc
	defer func() {
		for _, p := range procs {
			_ = p.Stop(30 * time.Second)
		}
	}()
	var urls []string
	for i := range o.instances {
		p, err := StartServe(ctx, gtc, bundle, filepath.Join(dir, fmt.Sprintf("serve%d.log", i+1)), extra...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		urls = append(urls, p.WebhookURL())
	}
	time.Sleep(time.Second) // let the processes settle before reading their idle RSS
	idle := make([]int64, len(procs))
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		idle[i], _, _ = p.Memory()
		cpu0[i], _ = p.CPU()
	}

	cfg := o.loadConfig("", LoadAppSecret, LoadPhoneNumberID)
	cfg.URLs = urls
	r := Drive(ctx, cfg, Batches(cfg))
	name := "gtc serve"
	if o.instances > 1 {
		name = fmt.Sprintf("gtc serve ×%d", o.instances)
	}
	report(out, fmt.Sprintf("%s (%s)", name, dbName), r)
	wctx, cancel := context.WithTimeout(ctx, o.replyTimeout)
	defer cancel()
	got := graph.Recorder.WaitFor(wctx, r.AckedIDs)
	replies := graph.Recorder.Replies()
	var lat []time.Duration
	var last time.Time
	dups := 0
	for _, id := range r.AckedIDs {
		ts := replies[id]
		if len(ts) == 0 {
			continue
		}
		if len(ts) > 1 {
			dups++
		}
		lat = append(lat, ts[0].Sub(r.SentAt[id]))
		if ts[0].After(last) {
			last = ts[0]
		}
	}
	var first time.Time
	for _, t := range r.SentAt {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	span := last.Sub(first)
	fmt.Fprintf(out, "  replies delivered: %d of %d acknowledged messages (%d with more than one reply)\n", got, len(r.AckedIDs), dups)
	if span > 0 {
		fmt.Fprintf(out, "  replies/s delivered: %.0f (first webhook to last reply %s)\n", float64(got)/span.Seconds(), span.Round(time.Millisecond))
	}
	fmt.Fprintf(out, "  webhook-to-reply latency: p50 %s, p99 %s\n", Percentile(lat, 50).Round(time.Millisecond), Percentile(lat, 99).Round(time.Millisecond))
	for i, p := range procs {
		_, peak, _ := p.Memory()
		label := "server RSS"
		if len(procs) > 1 {
			label = fmt.Sprintf("instance %d RSS", i+1)
		}
		fmt.Fprintf(out, "  %s: idle %s, peak %s\n", label, mib(idle[i]), mib(peak))
	}
	if span > 0 {
		for i, p := range procs {
			cpu, err := p.CPU()
			if err != nil {
				break
			}
			cpu -= cpu0[i]
			label := "server CPU"
			if len(procs) > 1 {
				label = fmt.Sprintf("instance %d CPU", i+1)
			}
			fmt.Fprintf(out, "  %s: %s in the %s to the last reply (%.2f cores)\n", label,
				cpu.Round(10*time.Millisecond), span.Round(time.Millisecond), cpu.Seconds()/span.Seconds())
		}
	}
	if got != len(r.AckedIDs) {
		logs := make([]string, len(procs))
		for i, p := range procs {
			logs[i] = p.Log
		}
		return r, fmt.Errorf("%d acknowledged messages got no reply within %s (server logs: %s)", len(r.AckedIDs)-got, o.replyTimeout, strings.Join(logs, ", "))
	}
	return r, nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
