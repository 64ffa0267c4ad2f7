// Command gtc-load measures `gtc serve` under load: it sends signed text webhooks from N
// contacts with a given concurrency and batch size, and reports webhooks/s acknowledged,
// p50/p99 acknowledgement latency, replies/s delivered to the Graph API double, p50/p99
// webhook-to-reply latency, and the server's idle and peak RSS. It compares against a
// baseline handler that only checks the HMAC and decodes the JSON and, with -peer, against
// whatsapp-api-js on node:http (installed from npm into a temporary folder), all three
// driven with the same bodies in one run.
//
//	go run ./cmd/gtc-load                      # build gtc, run serve + graphfake, measure, compare
//	go run ./cmd/gtc-load -peer -concurrency 64  # bare baseline, the peer, gtc serve; the ratios
//	go run ./cmd/gtc-load -mode serve -numbers 10  # 10 phone numbers (tenants), each paced at 1,000/s
//	go run ./cmd/gtc-load -slowloris 100       # 100 clients trickling 3 MB − 1 byte; serve's peak RSS
//	go run ./cmd/gtc-load -mode serve          # gtc serve only
//	go run ./cmd/gtc-load -mode serve -database postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    -instances 2                           # 2 gtc serve on one PostgreSQL (a fresh schema per run)
//	go run ./cmd/gtc-load -mode serve -scenario conversation  # the echo, then two-turn conversations
//	go run ./cmd/gtc-load -mode serve -scenario http  # one http node call per message (order API double, 50 ms)
//	go run ./cmd/gtc-load -mode baseline       # the baseline handler only
//	go run ./cmd/gtc-load -mode peer           # the peer only
//	go run ./cmd/gtc-load -mode target -url http://127.0.0.1:8080/webhook/whatsapp/default/default \
//	    -secret APP_SECRET -phone-number-id ID [-pid PID]   # drive a server you started
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
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
	numbers                int    // phone numbers (tenants of the bundle) the contacts are spread over
	peer                   bool   // compare: also drive the peer
	peerHarness, peerDir   string // where wa-api-js-server.mjs is; where to install the peer ("": a temporary folder)
	slowloris              int    // slow clients (0: the normal load)
	slowlorisTime          time.Duration
	maxRSS                 int64  // slowloris: fail when the server's RSS goes above this many MiB (0: report only)
	rounds                 int    // compare: how many times to run the servers in turn
	perf                   string // prefix of perf record files of gtc serve: PREFIX-ack.data, PREFIX-replies.data
	runID                  string // message ids' run part, one per invocation (the same bodies for every server)
	scenario               string // echo, conversation or http (scenario.go)
	callDelay              time.Duration
	overlap                bool // conversation: send each answer when its question arrives
	baselineServerReadyOut string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "compare", "compare (baseline, with -peer the peer, then serve), serve, baseline, peer or target")
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
	flag.IntVar(&o.numbers, "numbers", 1, "phone numbers to spread the contacts over: tenants num1…numK of one bundle, each paced at the Cloud API's 1,000 msg/s")
	flag.Int64Var(&o.maxRSS, "max-rss", 0, "with -slowloris: exit 1 when the server's RSS goes above this many MiB while the clients run (0: only report)")
	flag.IntVar(&o.rounds, "rounds", 1, "compare: run the baseline, the peer and gtc serve in turn this many times and print the median ratios (a shared machine drifts)")
	flag.BoolVar(&o.peer, "peer", false, "compare: also drive whatsapp-api-js on node:http (needs node and npm) and print the ratios")
	flag.StringVar(&o.peerHarness, "peer-harness", "", "folder holding "+PeerScript+" (default: ../shared/bench/peer beside the repository root)")
	flag.StringVar(&o.peerDir, "peer-dir", "", "install the peer here and keep it (default: a temporary folder, removed afterwards)")
	flag.IntVar(&o.slowloris, "slowloris", 0, "instead of the load: open this many connections that each trickle a signed 3 MB − 1 byte webhook, and report serve's peak RSS")
	flag.DurationVar(&o.slowlorisTime, "slowloris-time", 20*time.Second, "how long each slow client takes to send its body (serve's read timeout is 30 s)")
	flag.StringVar(&o.perf, "perf", "", "record CPU profiles of the (first) gtc serve with perf: PREFIX-ack.data while the webhooks are sent, PREFIX-replies.data from then to the last reply")
	flag.StringVar(&o.scenario, "scenario", ScenarioEcho, "echo (one text, one echo); conversation (the echo run, then -contacts two-turn conversations: keyword → question → order number → confirmation); http (-contacts texts, each one http node call to an order API double, then a reply); the last two drive gtc serve only")
	flag.BoolVar(&o.overlap, "overlap", false, "-scenario conversation: send each answer (one per POST) as soon as its question arrives, while keywords are still being sent, instead of after every question")
	flag.DurationVar(&o.callDelay, "call-delay", 50*time.Millisecond, "-scenario http: how long the order API double takes to answer")
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
	if o.rounds == 0 {
		o.rounds = 1
	}
	if o.contacts < 1 || o.messages < 1 || o.batch < 1 || o.concurrency < 1 || o.instances < 1 || o.numbers < 1 || o.rounds < 1 {
		return errors.New("-contacts, -messages, -batch, -concurrency, -instances, -numbers and -rounds must be at least 1")
	}
	if o.instances > 1 && !store.IsPostgres(o.database) {
		return errors.New("-instances above 1 needs -database postgres://…: a SQLite file serves one process")
	}
	if o.numbers > 1 && o.mode == "target" {
		return errors.New("-numbers above 1 needs a bundle the load tool writes: not with -mode target")
	}
	if o.numbers > o.contacts {
		return fmt.Errorf("-numbers %d is more than -contacts %d: some numbers would get no messages", o.numbers, o.contacts)
	}
	if o.runID == "" {
		o.runID = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if o.slowloris > 0 {
		return runSlowloris(ctx, o, out)
	}
	switch o.scenario {
	case "", ScenarioEcho:
	case ScenarioConversation, ScenarioHTTP:
		if o.mode != "serve" && o.mode != "compare" {
			return fmt.Errorf("-scenario %s drives gtc serve: use it with -mode serve, not %q", o.scenario, o.mode)
		}
		if o.instances > 1 || o.numbers > 1 {
			return fmt.Errorf("-scenario %s runs one gtc serve on one phone number: drop -instances and -numbers", o.scenario)
		}
		if o.gtc == "" {
			dir, err := os.MkdirTemp("", "gtc-load-build-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if o.gtc, err = BuildGTC(ctx, dir); err != nil {
				return err
			}
		}
		if o.scenario == ScenarioHTTP {
			return runHTTP(ctx, o, out)
		}
		fmt.Fprintf(out, "one-turn echo: %d messages from %d contacts, %d per POST, %d POSTs in flight\n", o.messages, o.contacts, o.batch, o.concurrency)
		if _, err := runServe(ctx, o, out, SpreadBatches(o.loadConfig("", "", ""), []string{LoadPhoneNumberID})); err != nil {
			return err
		}
		return runConversation(ctx, o, out)
	default:
		return fmt.Errorf("unknown -scenario %q: use echo, conversation or http", o.scenario)
	}
	numbers := Numbers(o.numbers)
	phoneIDs := make([]string, len(numbers))
	for i, n := range numbers {
		phoneIDs[i] = n.PhoneNumberID
	}
	if o.mode == "target" {
		phoneIDs = []string{o.phoneID}
	}
	batches := SpreadBatches(o.loadConfig("", "", ""), phoneIDs)
	fmt.Fprintf(out, "load: %d messages from %d contacts, %d per POST, %d POSTs in flight", o.messages, o.contacts, o.batch, o.concurrency)
	if o.numbers > 1 {
		fmt.Fprintf(out, ", over %d phone numbers", o.numbers)
	}
	fmt.Fprintln(out)
	switch o.mode {
	case "target":
		if o.url == "" {
			return errors.New("-mode target needs -url")
		}
		r := Drive(ctx, o.loadConfig(o.url, o.secret, o.phoneID), batches)
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
		_, err := runBaseline(ctx, o, out, batches)
		return err
	case "peer":
		_, err := runPeer(ctx, o, out, batches)
		return err
	case "serve":
		_, err := runServe(ctx, o, out, batches)
		return err
	case "compare":
		if o.peer && o.peerDir == "" && o.rounds > 1 {
			tmp, err := os.MkdirTemp("", "gtc-load-peer-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			o.peerDir = tmp // install the peer once for every round
		}
		var rounds []roundRatios
		for i := range o.rounds {
			if o.rounds > 1 {
				fmt.Fprintf(out, "round %d of %d\n", i+1, o.rounds)
			}
			b, err := runBaseline(ctx, o, out, batches)
			if err != nil {
				return err
			}
			var p *LoadResult
			if o.peer {
				if p, err = runPeer(ctx, o, out, batches); err != nil {
					return err
				}
			}
			s, err := runServe(ctx, o, out, batches)
			if err != nil {
				return err
			}
			printRatios(out, s, p, b)
			rr := roundRatios{gtcBare: ratio(s, b)}
			if p != nil {
				rr.gtcPeer, rr.peerBare = ratio(s, p), ratio(p, b)
			}
			rounds = append(rounds, rr)
		}
		if len(rounds) > 1 {
			printMedians(out, rounds, o.peer)
		}
		return nil
	}
	return fmt.Errorf("unknown -mode %q: use compare, serve, baseline, peer or target", o.mode)
}

// printRatios prints gtc serve's acknowledged webhooks/s against the peer's (when it ran)
// and the bare baseline's.
func printRatios(out io.Writer, gtc, peer, bare *LoadResult) {
	if peer != nil {
		fmt.Fprintf(out, "ratio gtc/peer: %.2fx (%.0f vs %.0f webhooks/s)\n", ratio(gtc, peer), gtc.rate(), peer.rate())
	}
	fmt.Fprintf(out, "ratio gtc/bare: %.2fx (%.0f vs %.0f webhooks/s)\n", ratio(gtc, bare), gtc.rate(), bare.rate())
	if peer != nil {
		fmt.Fprintf(out, "ratio peer/bare: %.2fx\n", ratio(peer, bare))
	}
}

// roundRatios are one compare round's ratios of acknowledged webhooks/s.
type roundRatios struct{ gtcPeer, gtcBare, peerBare float64 }

// printMedians prints the median and the range of each ratio over the rounds.
func printMedians(out io.Writer, rounds []roundRatios, peer bool) {
	line := func(name string, pick func(roundRatios) float64) {
		vs := make([]float64, len(rounds))
		for i, r := range rounds {
			vs[i] = pick(r)
		}
		slices.Sort(vs)
		med := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
		fmt.Fprintf(out, "median %s over %d rounds: %.2fx (%.2f–%.2f)\n", name, len(vs), med, vs[0], vs[len(vs)-1])
	}
	if peer {
		line("gtc/peer", func(r roundRatios) float64 { return r.gtcPeer })
	}
	line("gtc/bare", func(r roundRatios) float64 { return r.gtcBare })
	if peer {
		line("peer/bare", func(r roundRatios) float64 { return r.peerBare })
	}
}

func ratio(a, b *LoadResult) float64 {
	if b.rate() == 0 {
		return 0
	}
	return a.rate() / b.rate()
}

func (o options) loadConfig(url, secret, phoneID string) LoadConfig {
	return LoadConfig{URL: url, AppSecret: secret, PhoneNumberID: phoneID,
		RunID: o.runID, Contacts: o.contacts, Messages: o.messages,
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
func runBaseline(ctx context.Context, o options, out io.Writer, batches []Batch) (*LoadResult, error) {
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
	fmt.Fprintf(out, "machine before the baseline: %s\n", machineLoad())
	cpu0, self0 := procCPU(p), selfCPU()
	r := Drive(ctx, cfg, withoutURLs(batches))
	report(out, "baseline (bare Go: HMAC + JSON decode only)", r)
	printCPU(out, "baseline", procCPU(p)-cpu0, selfCPU()-self0, r.Elapsed)
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

// runServe starts graphfake in this process (one fake per phone number), a bundle with
// one tenant per number pointing at it, and o.instances `gtc serve` subprocesses on one
// database; drives them (each POST to its number's tenant, round robin over the
// instances); waits for every reply; reports.
func runServe(ctx context.Context, o options, out io.Writer, batches []Batch) (*LoadResult, error) {
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
	numbers := Numbers(o.numbers)
	graph, err := StartGraphNumbers(numbers)
	if err != nil {
		return nil, err
	}
	defer graph.Close()
	bundle, err := MakeBundleNumbers(ctx, gtc, dir, graph.URL, numbers)
	if err != nil {
		return nil, err
	}
	extra, dbName, dropDB, err := serveDatabase(ctx, o, out)
	if err != nil {
		return nil, err
	}
	defer dropDB()
	var procs []*ServeProc
	defer func() {
		for _, p := range procs {
			_ = p.Stop(30 * time.Second)
		}
	}()
	for i := range o.instances {
		p, err := StartServe(ctx, gtc, bundle, filepath.Join(dir, fmt.Sprintf("serve%d.log", i+1)), extra...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	time.Sleep(time.Second) // let the processes settle before reading their idle RSS
	idle := make([]int64, len(procs))
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		idle[i], _, _ = p.Memory()
		cpu0[i], _ = p.CPU()
	}

	routed := make([]Batch, len(batches))
	expect := make(map[string]string, o.messages) // inbound id → the phone_number_id it was sent to
	for i, b := range batches {
		b.URL = procs[i%len(procs)].TenantURL(numbers[b.Number].Tenant)
		routed[i] = b
		for _, id := range b.IDs {
			expect[id] = numbers[b.Number].PhoneNumberID
		}
	}
	cfg := o.loadConfig("", LoadAppSecret, LoadPhoneNumberID)
	var prof *perfRecord
	if o.perf != "" {
		if prof, err = startPerf(procs[0].Cmd.Process.Pid, o.perf+"-ack.data"); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "machine before gtc serve: %s\n", machineLoad())
	self0 := selfCPU()
	r := Drive(ctx, cfg, routed)
	ackCPU, ackSelf := procCPU(procs[0])-cpu0[0], selfCPU()-self0
	if prof != nil {
		if err := prof.Stop(); err != nil {
			return r, err
		}
		if prof, err = startPerf(procs[0].Cmd.Process.Pid, o.perf+"-replies.data"); err != nil {
			return r, err
		}
	}
	name := "gtc serve"
	if o.instances > 1 {
		name = fmt.Sprintf("gtc serve ×%d", o.instances)
	}
	report(out, fmt.Sprintf("%s (%s)", name, dbName), r)
	if len(procs) == 1 {
		printCPU(out, "gtc serve", ackCPU, ackSelf, r.Elapsed)
	}
	wctx, cancel := context.WithTimeout(ctx, o.replyTimeout)
	defer cancel()
	graph.Recorder.WaitFor(wctx, r.AckedIDs)
	if err := prof.Stop(); err != nil {
		return r, err
	}
	if o.perf != "" {
		fmt.Fprintf(out, "  CPU profiles of gtc serve: %s-ack.data, %s-replies.data (perf report -i FILE --no-children)\n", o.perf, o.perf)
	}
	time.Sleep(200 * time.Millisecond) // a second reply to a message, if any, would come right after the first
	rs := AnalyzeReplies(r, graph.Recorder.Replies(), graph.Recorder.Via(), expect)
	fmt.Fprintf(out, "  replies delivered: %d of %d acknowledged messages; %d with more than one reply, %d sent from another number than the one written to, %d not matching any message\n",
		rs.Got, len(r.AckedIDs), rs.Dups, rs.WrongNumber, rs.Unexpected)
	if rs.Span > 0 {
		fmt.Fprintf(out, "  replies/s delivered: %.0f over the run (first webhook to last reply %s), %.0f sustained (10th to 90th percentile reply)\n",
			float64(rs.Got)/rs.Span.Seconds(), rs.Span.Round(time.Millisecond), rs.Sustained)
	}
	if o.numbers > 1 {
		lo, hi := slices.Min(rs.PerNumber), slices.Max(rs.PerNumber)
		fmt.Fprintf(out, "  replies per number: %d to %d over %d numbers (each paced at 1,000/s: a cap of %d/s in all)\n", lo, hi, o.numbers, 1000*o.numbers)
	}
	fmt.Fprintf(out, "  webhook-to-reply latency: p50 %s, p99 %s\n", Percentile(rs.Latencies, 50).Round(time.Millisecond), Percentile(rs.Latencies, 99).Round(time.Millisecond))
	for i, p := range procs {
		_, peak, _ := p.Memory()
		label := "server RSS"
		if len(procs) > 1 {
			label = fmt.Sprintf("instance %d RSS", i+1)
		}
		fmt.Fprintf(out, "  %s: idle %s, peak %s\n", label, mib(idle[i]), mib(peak))
	}
	if rs.Span > 0 {
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
				cpu.Round(10*time.Millisecond), rs.Span.Round(time.Millisecond), cpu.Seconds()/rs.Span.Seconds())
		}
	}
	logs := make([]string, len(procs))
	for i, p := range procs {
		logs[i] = p.Log
	}
	switch {
	case rs.Got != len(r.AckedIDs):
		return r, fmt.Errorf("%d acknowledged messages got no reply within %s (server logs: %s)", len(r.AckedIDs)-rs.Got, o.replyTimeout, strings.Join(logs, ", "))
	case rs.Dups > 0 || rs.WrongNumber > 0 || rs.Unexpected > 0:
		return r, fmt.Errorf("replies not delivered exactly once from the right number: %d twice, %d from another number, %d unexpected", rs.Dups, rs.WrongNumber, rs.Unexpected)
	}
	return r, nil
}

// ReplyStats is what the Graph double saw of a run's replies.
type ReplyStats struct {
	Got         int             // acknowledged messages with at least one reply
	Dups        int             // acknowledged messages with more than one
	WrongNumber int             // replies sent from another phone number than the message's
	Unexpected  int             // replies that name no acknowledged message
	Latencies   []time.Duration // webhook sent → first reply, per message answered
	Span        time.Duration   // first webhook sent → last first reply
	Sustained   float64         // replies/s between the 10th and the 90th percentile reply
	PerNumber   []int           // replies by phone number, in the order of expect's numbers (sorted ids)
}

// AnalyzeReplies matches the replies (first reply time per inbound id, and the phone
// number it came from) against a run's acknowledged messages; expect maps every message
// id to the phone_number_id it was written to.
func AnalyzeReplies(r *LoadResult, replies map[string][]time.Time, via, expect map[string]string) ReplyStats {
	var rs ReplyStats
	acked := make(map[string]bool, len(r.AckedIDs))
	var firsts []time.Time
	var last time.Time
	ids := map[string]int{}
	for _, pid := range expect {
		ids[pid] = 0
	}
	order := slices.Sorted(maps.Keys(ids))
	for i, k := range order {
		ids[k] = i
	}
	rs.PerNumber = make([]int, len(order))
	for _, id := range r.AckedIDs {
		acked[id] = true
		ts := replies[id]
		if len(ts) == 0 {
			continue
		}
		rs.Got++
		if len(ts) > 1 {
			rs.Dups++
		}
		if via != nil && expect != nil && via[id] != expect[id] {
			rs.WrongNumber++
		}
		if i, ok := ids[expect[id]]; ok {
			rs.PerNumber[i]++
		}
		rs.Latencies = append(rs.Latencies, ts[0].Sub(r.SentAt[id]))
		firsts = append(firsts, ts[0])
		if ts[0].After(last) {
			last = ts[0]
		}
	}
	for id := range replies {
		if !acked[id] {
			rs.Unexpected++
		}
	}
	var first time.Time
	for _, t := range r.SentAt {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if !first.IsZero() && !last.IsZero() {
		rs.Span = last.Sub(first)
	}
	if n := len(firsts); n >= 10 {
		slices.SortFunc(firsts, func(a, b time.Time) int { return a.Compare(b) })
		i, j := n/10, n*9/10
		if d := firsts[j].Sub(firsts[i]); d > 0 {
			rs.Sustained = float64(j-i) / d.Seconds()
		}
	}
	return rs
}

// printCPU prints the CPU time a server and the load tool used while the webhooks were
// sent: on a shared 2-core machine the load tool's share is part of the figure.
func printCPU(out io.Writer, server string, cpu, self, span time.Duration) {
	if span <= 0 {
		return
	}
	fmt.Fprintf(out, "  CPU while sending: %s %s (%.2f cores), load tool %s (%.2f cores)\n", server,
		cpu.Round(10*time.Millisecond), cpu.Seconds()/span.Seconds(), self.Round(10*time.Millisecond), self.Seconds()/span.Seconds())
}

// machineLoad describes how busy the machine is: the load average and, where the kernel
// has it, CPU pressure (the share of the last 10 s in which some task waited for a CPU).
func machineLoad() string {
	var parts []string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			parts = append(parts, "load average "+strings.Join(f[:3], " "))
		}
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "avg10="); ok {
				parts = append(parts, "CPU pressure "+v+"% (some, 10 s)")
			}
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

// procCPU is p's CPU time so far (0 when it cannot be read).
func procCPU(p *ServeProc) time.Duration {
	d, _ := p.CPU()
	return d
}

// selfCPU is the load tool's own CPU time so far (0 when it cannot be read).
func selfCPU() time.Duration {
	d, _ := cpuOf(os.Getpid())
	return d
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
