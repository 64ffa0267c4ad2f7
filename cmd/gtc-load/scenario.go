package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/fakes/orderapi"
	"github.com/greentic/gtc/pkg/store"
)

// Scenarios of -scenario: what each contact does.
const (
	ScenarioEcho         = "echo"         // one text, one echo (the default)
	ScenarioConversation = "conversation" // "status", the question, the order number, the confirmation
	ScenarioHTTP         = "http"         // one text, one http node call to the order API double, one reply
)

// ConversationFlow is the two-turn conversation of -scenario conversation: the keyword
// "status" starts it and asks for an order number, the answer (a number) is confirmed.
// Both replies name the inbound message they answer ("ref <id>", at the end of the text).
const ConversationFlow = `name: load_order
version: "1.0"
nodes:
  - id: ask_order
    type: ask
    config:
      message: "Your order number? ref {{message.id}}"
      save_as: order_id
      expect: number
    next: confirm
  - id: confirm
    type: reply
    config:
      message: "order {{int(vars.order_id)}} noted, ref {{message.id}}"
triggers:
  - type: text
    keywords: [status]
    target: ask_order
`

// ConversationKeyword starts ConversationFlow.
const ConversationKeyword = "status"

// HTTPOrderID is the order every -scenario http message looks up (one of
// orderapi.DefaultOrders, status "shipped").
const HTTPOrderID = "12345"

// HTTPFlow returns the flow of -scenario http: every text "lookup …" (a regex trigger,
// which wins over the echo's plain one) looks up HTTPOrderID at the
// order API double (ordersURL is its OrdersURL) with one http node call and replies with
// the order's status, naming the inbound message ("ref <id>", kept in vars.ref before the
// call).
func HTTPFlow(ordersURL string) string {
	return `name: load_lookup
version: "1.0"
nodes:
  - id: remember
    type: set
    config:
      vars:
        ref: "message.id"
    next: lookup
  - id: lookup
    type: http
    config:
      method: GET
      url: "` + ordersURL + `/` + HTTPOrderID + `"
      timeout: 5s
      save_as: order
    next: tell
  - id: tell
    type: reply
    config:
      message: "order ` + HTTPOrderID + ` is {{vars.order.body.status}}, ref {{vars.ref}}"
triggers:
  - type: text
    regex: '^lookup '
    target: remember
`
}

// notWiredMarker is what delivery logs while http nodes and handoff do not run yet.
const notWiredMarker = "calls/handoff not wired yet"

// errCallsNotWired says that a conversation stopped at its http node because delivery does
// not run calls yet (this branch predates the wiring).
var errCallsNotWired = errors.New("no replies: gtc serve logs \"" + notWiredMarker + "\", so the http node's calls are not run yet; run -scenario http again once delivery runs calls")

// serveDatabase returns gtc serve's database flags for o.database and the name to report;
// for PostgreSQL it creates a fresh schema, which cleanup drops (unless -keep-schema).
func serveDatabase(ctx context.Context, o options, out io.Writer) (extra []string, name string, cleanup func(), err error) {
	cleanup = func() {}
	if o.database == "" {
		return nil, "SQLite", cleanup, nil
	}
	db, name := o.database, "SQLite"
	if store.IsPostgres(db) {
		name = "PostgreSQL"
		schema, dsn, drop, err := freshSchema(ctx, db)
		if err != nil {
			return nil, "", cleanup, err
		}
		if o.keepSchema {
			fmt.Fprintf(out, "database: schema %s (kept)\n", schema)
		} else {
			cleanup = func() {
				if err := drop(); err != nil {
					fmt.Fprintln(out, "gtc-load:", err)
				}
			}
		}
		db = dsn
	}
	return []string{"--database", db}, name, cleanup, nil
}

// stack is one gtc serve on a load bundle with extra flows, and its Graph double.
type stack struct {
	graph   *Graph
	serve   *ServeProc
	dbName  string
	closers []func()
}

func (s *stack) Close() {
	for _, f := range slices.Backward(s.closers) {
		f()
	}
}

// startStack starts the Graph double, writes a load bundle (the echo flow and flows, by
// file name) into dir and starts one gtc serve on it.
func startStack(ctx context.Context, o options, out io.Writer, dir string, flows map[string]string) (*stack, error) {
	s := &stack{}
	graph, err := StartGraph()
	if err != nil {
		return nil, err
	}
	s.graph = graph
	s.closers = append(s.closers, graph.Close)
	bundle, err := MakeBundle(ctx, o.gtc, dir, graph.URL)
	if err != nil {
		s.Close()
		return nil, err
	}
	for name, text := range flows {
		if err := os.WriteFile(filepath.Join(bundle, "flows", name), []byte(text), 0o644); err != nil {
			s.Close()
			return nil, err
		}
	}
	extra, dbName, dropDB, err := serveDatabase(ctx, o, out)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.dbName = dbName
	s.closers = append(s.closers, dropDB)
	p, err := StartServe(ctx, o.gtc, bundle, filepath.Join(dir, "serve.log"), extra...)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.serve = p
	s.closers = append(s.closers, func() { _ = p.Stop(30 * time.Second) })
	time.Sleep(time.Second) // let it settle, as runServe does
	return s, nil
}

// groupBatches packs msgs, in order, into POSTs of at most batch messages each.
func groupBatches(phoneID string, msgs []Inbound, batch int) []Batch {
	var out []Batch
	for len(msgs) > 0 {
		n := min(batch, len(msgs))
		out = append(out, TextBatch(phoneID, msgs[:n]...))
		msgs = msgs[n:]
	}
	return out
}

// OrderNumber is the order number contact c answers with in -scenario conversation.
func OrderNumber(c int) string { return strconv.Itoa(10_000_000 + c) }

// ConversationMessages returns the two turns of -scenario conversation for contacts:
// the keyword of contact c (id MessageID(run+".q", c)) and its answer, its order number
// (id MessageID(run+".a", c)).
func ConversationMessages(run string, contacts int) (triggers, answers []Inbound) {
	for c := range contacts {
		triggers = append(triggers, Inbound{ID: MessageID(run+".q", c), From: ContactNumber(c), Text: ConversationKeyword})
		answers = append(answers, Inbound{ID: MessageID(run+".a", c), From: ContactNumber(c), Text: OrderNumber(c)})
	}
	return triggers, answers
}

// ConversationTexts are the replies contact c must get, in order: the question, naming
// the trigger, and the confirmation, naming the answer.
func ConversationTexts(run string, c int) []string {
	return []string{"Your order number? ref " + MessageID(run+".q", c),
		"order " + OrderNumber(c) + " noted, ref " + MessageID(run+".a", c)}
}

// repliesTo keeps the replies whose inbound id is one of ids'.
func repliesTo(all map[string][]time.Time, ids []string) map[string][]time.Time {
	out := make(map[string][]time.Time, len(ids))
	for _, id := range ids {
		if ts, ok := all[id]; ok {
			out[id] = ts
		}
	}
	return out
}

// expectAll maps every id to the load bundle's one phone number.
func expectAll(ids []string) map[string]string {
	m := make(map[string]string, len(ids))
	for _, id := range ids {
		m[id] = LoadPhoneNumberID
	}
	return m
}

// runConversation runs -scenario conversation: o.contacts contacts each send the keyword,
// get the question, answer it with their order number and get the confirmation. All
// keywords are sent first (turn 1), then, once every question has arrived, all answers
// (turn 2), each at o.concurrency POSTs in flight of o.batch messages; with o.overlap each
// answer goes out as soon as its question arrives, while keywords are still being sent.
func runConversation(ctx context.Context, o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "gtc-load-conv-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := startStack(ctx, o, out, dir, map[string]string{"load_order.ygtc": ConversationFlow})
	if err != nil {
		return err
	}
	defer s.Close()
	triggers, answers := ConversationMessages(o.runID, o.contacts)
	cfg := o.loadConfig(s.serve.WebhookURL(), LoadAppSecret, LoadPhoneNumberID)
	fmt.Fprintf(out, "conversation: %d contacts, each: %q → question → order number → confirmation; %d per POST, %d POSTs in flight\n",
		o.contacts, ConversationKeyword, o.batch, o.concurrency)
	fmt.Fprintf(out, "machine before the conversations: %s\n", machineLoad())
	cpu0, self0 := procCPU(s.serve), selfCPU()

	finish := func(name string, r *LoadResult, msgs []Inbound) (ReplyStats, error) {
		report(out, fmt.Sprintf("%s (%s)", name, s.dbName), r)
		wctx, cancel := context.WithTimeout(ctx, o.replyTimeout)
		defer cancel()
		s.graph.Recorder.WaitFor(wctx, r.AckedIDs)
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		rs := AnalyzeReplies(r, repliesTo(s.graph.Recorder.Replies(), ids), nil, expectAll(ids))
		fmt.Fprintf(out, "  replies: %d of %d acknowledged messages; %d with more than one\n", rs.Got, len(r.AckedIDs), rs.Dups)
		if rs.Span > 0 {
			fmt.Fprintf(out, "  replies/s: %.0f (first webhook to last reply %s)\n", float64(rs.Got)/rs.Span.Seconds(), rs.Span.Round(time.Millisecond))
		}
		fmt.Fprintf(out, "  webhook-to-reply latency: p50 %s, p99 %s\n", Percentile(rs.Latencies, 50).Round(time.Millisecond), Percentile(rs.Latencies, 99).Round(time.Millisecond))
		if r.Failed > 0 || rs.Got != len(msgs) {
			return rs, fmt.Errorf("%s: %d of %d messages acknowledged, %d answered within %s (server log: %s)", name, len(r.AckedIDs), len(msgs), rs.Got, o.replyTimeout, s.serve.Log)
		}
		return rs, nil
	}
	const name1, name2 = "turn 1: the keyword, answered by the question", "turn 2: the answer, answered by the confirmation (turn latency)"
	var (
		r1, r2        *LoadResult
		rs1, rs2      ReplyStats
		sending, span time.Duration
	)
	if !o.overlap {
		r1 = Drive(ctx, cfg, groupBatches(LoadPhoneNumberID, triggers, o.batch))
		if rs1, err = finish(name1, r1, triggers); err != nil {
			return err
		}
		r2 = Drive(ctx, cfg, groupBatches(LoadPhoneNumberID, answers, o.batch))
		if rs2, err = finish(name2, r2, answers); err != nil {
			return err
		}
		sending, span = r1.Elapsed+r2.Elapsed, rs1.Span+rs2.Span
	} else {
		r1, r2 = driveOverlapped(ctx, o, cfg, s.graph.Recorder, triggers, answers)
		if rs1, err = finish(name1, r1, triggers); err != nil {
			return err
		}
		if rs2, err = finish(name2+", each answer sent when its question arrived", r2, answers); err != nil {
			return err
		}
		sending = max(r1.Elapsed, r2.Elapsed)
		span = firstSent(r2).Add(rs2.Span).Sub(firstSent(r1))
	}
	time.Sleep(200 * time.Millisecond) // a second reply, if any, would come right after the first

	// Both turns together: every webhook and every reply of the conversations.
	acked := len(r1.AckedIDs) + len(r2.AckedIDs)
	fmt.Fprintf(out, "conversations (%s): %d webhooks acknowledged at %.0f/s while sending, %d replies at %.0f/s (first keyword to last confirmation%s: %s)\n",
		s.dbName, acked, float64(acked)/sending.Seconds(), rs1.Got+rs2.Got, float64(rs1.Got+rs2.Got)/span.Seconds(),
		map[bool]string{false: ", without the pause between the turns", true: ""}[o.overlap], span.Round(time.Millisecond))
	fmt.Fprintf(out, "  turn latency (answer webhook → its confirmation): p50 %s, p99 %s\n",
		Percentile(rs2.Latencies, 50).Round(time.Millisecond), Percentile(rs2.Latencies, 99).Round(time.Millisecond))
	if cpu, self := procCPU(s.serve)-cpu0, selfCPU()-self0; span > 0 {
		fmt.Fprintf(out, "  CPU: gtc serve %s (%.2f cores), load tool %s, over %s\n",
			cpu.Round(10*time.Millisecond), cpu.Seconds()/span.Seconds(), self.Round(10*time.Millisecond), span.Round(time.Millisecond))
	}
	if _, peak, err := s.serve.Memory(); err == nil {
		fmt.Fprintf(out, "  server RSS peak %s\n", mib(peak))
	}
	var bad []string
	for c := range o.contacts {
		got := s.graph.Recorder.TextsTo("+" + ContactNumber(c))
		if want := ConversationTexts(o.runID, c); !slices.Equal(got, want) {
			bad = append(bad, fmt.Sprintf("contact %s got %q, want %q", ContactNumber(c), got, want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d contacts did not get exactly the question and the confirmation, once each and in order; first: %s (server log: %s)",
			len(bad), o.contacts, bad[0], s.serve.Log)
	}
	fmt.Fprintf(out, "  every contact got exactly its 2 replies (question, confirmation), once each, in order\n")
	return nil
}

// runHTTP runs -scenario http: o.contacts contacts each send one text; the flow makes one
// http node call to the order API double (started here, answering after o.callDelay) and
// replies with the order's status. One message per contact, so every message starts a call
// of its own (a message while the contact's call is in flight is another case).
func runHTTP(ctx context.Context, o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "gtc-load-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	api, err := orderapi.Listen("127.0.0.1:0", orderapi.Options{})
	if err != nil {
		return err
	}
	defer api.Close()
	api.SetDelay(o.callDelay)
	s, err := startStack(ctx, o, out, dir, map[string]string{"load_lookup.ygtc": HTTPFlow(api.OrdersURL())})
	if err != nil {
		return err
	}
	defer s.Close()
	msgs := make([]Inbound, o.contacts)
	for c := range msgs {
		id := MessageID(o.runID+".h", c)
		msgs[c] = Inbound{ID: id, From: ContactNumber(c), Text: "lookup " + id}
	}
	cfg := o.loadConfig(s.serve.WebhookURL(), LoadAppSecret, LoadPhoneNumberID)
	fmt.Fprintf(out, "http: %d contacts, each: a text → one GET to the order API double (answering after %s) → a reply with the status; %d per POST, %d POSTs in flight\n",
		o.contacts, o.callDelay, o.batch, o.concurrency)
	fmt.Fprintf(out, "machine before the calls: %s\n", machineLoad())
	cpu0 := procCPU(s.serve)
	r := Drive(ctx, cfg, groupBatches(LoadPhoneNumberID, msgs, o.batch))
	report(out, fmt.Sprintf("gtc serve, http node (%s)", s.dbName), r)

	wctx, cancel := context.WithTimeout(ctx, o.replyTimeout)
	defer cancel()
	if err := waitCalls(wctx, s, r.AckedIDs); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	rs := AnalyzeReplies(r, s.graph.Recorder.Replies(), s.graph.Recorder.Via(), expectAll(r.AckedIDs))
	fmt.Fprintf(out, "  replies delivered: %d of %d acknowledged messages; %d with more than one reply, %d not matching any message\n",
		rs.Got, len(r.AckedIDs), rs.Dups, rs.Unexpected)
	reqs := api.Requests()
	calls, keys := 0, map[string]int{}
	var first, last time.Time
	for _, q := range reqs {
		keys[q.IdempotencyKey]++
		if q.Status == 200 {
			calls++
		}
		if first.IsZero() || q.At.Before(first) {
			first = q.At
		}
		if q.At.After(last) {
			last = q.At
		}
	}
	if span := last.Sub(first); calls > 1 && span > 0 {
		fmt.Fprintf(out, "  calls/s: %.0f (%d answered 200 of %d requests, first to last request %s)\n", float64(calls-1)/span.Seconds(), calls, len(reqs), span.Round(time.Millisecond))
	}
	if rs.Span > 0 {
		fmt.Fprintf(out, "  replies/s delivered: %.0f (first webhook to last reply %s)\n", float64(rs.Got)/rs.Span.Seconds(), rs.Span.Round(time.Millisecond))
		cpu := procCPU(s.serve) - cpu0
		fmt.Fprintf(out, "  server CPU: %s (%.2f cores)\n", cpu.Round(10*time.Millisecond), cpu.Seconds()/rs.Span.Seconds())
	}
	fmt.Fprintf(out, "  webhook-to-reply latency: p50 %s, p99 %s\n", Percentile(rs.Latencies, 50).Round(time.Millisecond), Percentile(rs.Latencies, 99).Round(time.Millisecond))
	var problems []string
	for _, q := range reqs {
		if q.Problem != "" {
			problems = append(problems, q.Problem)
		}
	}
	repeated := 0
	for _, n := range keys {
		if n > 1 {
			repeated++
		}
	}
	fmt.Fprintf(out, "  order API: %d requests, %d distinct Idempotency-Keys (%d repeated), %d refused\n", len(reqs), len(keys), repeated, len(problems))
	var bad []string
	for c, m := range msgs {
		want := []string{"order " + HTTPOrderID + " is shipped, ref " + m.ID}
		if got := s.graph.Recorder.TextsTo("+" + ContactNumber(c)); !slices.Equal(got, want) {
			bad = append(bad, fmt.Sprintf("contact %s got %q, want %q", ContactNumber(c), got, want))
		}
	}
	switch {
	case len(problems) > 0:
		return fmt.Errorf("the order API refused %d requests; first: %s", len(problems), problems[0])
	case r.Failed > 0:
		return fmt.Errorf("%d POSTs not acknowledged; first failure: %s", r.Failed, r.FirstError)
	case len(bad) > 0:
		return fmt.Errorf("%d of %d contacts did not get exactly one reply with the order's status; first: %s (server log: %s)", len(bad), len(msgs), bad[0], s.serve.Log)
	case calls != len(msgs):
		return fmt.Errorf("%d calls answered 200 for %d messages (a repeated call is allowed by the design after a crash, not in a clean run)", calls, len(msgs))
	}
	fmt.Fprintf(out, "  every contact got exactly one reply with the order's status; one call per message\n")
	return nil
}

// waitCalls waits until every id has a reply or ctx ends; it gives up early with
// errCallsNotWired when nothing arrives for 5 s and gtc serve's log says calls are not
// wired.
func waitCalls(ctx context.Context, s *stack, ids []string) error {
	start := time.Now()
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		n := s.graph.Recorder.WaitFor(sctx, ids)
		cancel()
		if n == len(ids) || ctx.Err() != nil {
			return nil
		}
		if n == 0 && time.Since(start) > 5*time.Second {
			if log, _ := os.ReadFile(s.serve.Log); strings.Contains(string(log), notWiredMarker) {
				return errCallsNotWired
			}
		}
	}
}

// driveOverlapped sends the keywords (o.batch per POST) and, at the same time, each
// contact's answer (one per POST) as soon as its question reaches the Graph double, each
// side with o.concurrency POSTs in flight. It returns when every answer is sent, or when
// o.replyTimeout passes without every question.
func driveOverlapped(ctx context.Context, o options, cfg LoadConfig, rec *ReplyRecorder, triggers, answers []Inbound) (r1, r2 *LoadResult) {
	due := make(map[string]Inbound, len(triggers)) // trigger id → the answer its question asks for
	for i, t := range triggers {
		due[t.ID] = answers[i]
	}
	var mu sync.Mutex
	ch := make(chan Batch, len(answers))
	rec.OnReply(func(id string) {
		mu.Lock()
		defer mu.Unlock()
		a, ok := due[id]
		if !ok {
			return // a confirmation, an echo, or a question already answered
		}
		delete(due, id)
		ch <- TextBatch(LoadPhoneNumberID, a)
		if len(due) == 0 {
			close(ch)
		}
	})
	defer rec.OnReply(nil)
	actx, cancel := context.WithTimeout(ctx, o.replyTimeout)
	defer cancel()
	done := make(chan *LoadResult)
	go func() { done <- DriveChan(actx, cfg, ch) }()
	r1 = Drive(ctx, cfg, groupBatches(LoadPhoneNumberID, triggers, o.batch))
	r2 = <-done
	return r1, r2
}

// firstSent is when r's first POST was sent.
func firstSent(r *LoadResult) time.Time {
	var first time.Time
	for _, t := range r.SentAt {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}
