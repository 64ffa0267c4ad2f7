package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// fakes holds each script's graphfake, keyed by its *TestScript; fakeClocks the offset of
// its clock (an *atomic.Int64 of nanoseconds).
var fakes, fakeClocks sync.Map

// cmdGraphfake drives an in-process Graph API double from a .txtar script:
//
//	graphfake start [--token T] [--phone-number-id ID] [--waba ID] [--display-phone N]
//	                [--no-schema] [--webhook URL] [--app-secret S]
//	                [--rate N] [--pair-interval D] [--pair-burst N] [--check-media-ids]
//	                [--wa-id DIGITS=WA_ID]... (Graph resolves the number DIGITS to WA_ID)
//	    starts it (closed when the script ends) and sets GRAPH_URL, GRAPH_TOKEN,
//	    GRAPH_PHONE_NUMBER_ID and GRAPH_WABA. Meta's schema check is on when the spec is found.
//	graphfake fail CODE [--times N] [--to NUMBER] [--status HTTP] [--endpoint E] [--async] [--gateway]
//	    injects a Graph error (every matching send until "graphfake clear" when --times is 0);
//	    --gateway answers a proxy's HTML page instead (an unclear outcome).
//	graphfake clear                 removes every fault
//	graphfake delay DURATION        delays every answer (0 turns it off)
//	graphfake calls                 recorded calls as JSON lines on stdout
//	graphfake messages              accepted messages as JSON lines on stdout
//	graphfake reads                 accepted read receipts as JSON lines on stdout
//	graphfake webhooks              posted status webhooks as JSON lines (after a flush)
//	graphfake count N [--endpoint E]  exactly N accepted messages (or N calls to endpoint E)
//	graphfake wait N [--timeout D]  waits until N messages were accepted (default 10s)
//	graphfake flush                 waits until status webhooks were posted
//	graphfake post PATH FILE        POSTs FILE as JSON to the fake with its token; prints the
//	                                answer on stdout; fails unless it is 200 (use ! to expect an error)
//	graphfake hook ADDRFILE PATH APPSECRET [--pricing CBP|PMP]
//	    posts the status webhooks of later sends, signed with APPSECRET, to PATH at the
//	    address gtc serve --ready-file wrote to ADDRFILE (waits up to 30 s for it), with the
//	    pricing model given (default PMP, Meta's since July 2025)
//	graphfake clock OFFSET          shifts the fake's clock (e.g. -20h; 0 resets): the
//	                                timestamps of its status webhooks
//	graphfake template-status NAME LANG STATUS [REASON]
//	    sets the fake's template NAME (LANG) to STATUS (APPROVED, PAUSED, DISABLED, REJECTED, …)
//	    as Meta would, so GET message_templates lists it so, and prints the
//	    message_template_status_update webhook Meta sends for it on stdout (to post to gtc
//	    serve with webhook). REASON defaults to NONE.
//	graphfake template-category NAME LANG PREVIOUS NEW
//	graphfake template-quality NAME LANG PREVIOUS NEW
//	    the same for template_category_update and message_template_quality_update.
//	graphfake text FROM TEXT        prints a customer's text message webhook (FROM: wa_id)
//	graphfake standby FROM TEXT     prints the standby copy of a customer's text (another
//	                                responder has the thread)
//	graphfake handover FROM TYPE [PREVIOUS NEW]
//	    prints a messaging_handovers webhook (TYPE control_passed or control_taken; owners'
//	    roles default to escalation_partner → primary, or the reverse for control_taken)
//	graphfake thread FROM            prints who controls the thread with FROM: app, other or idle
//	graphfake form FROM JSON        prints a submitted WhatsApp Flow form (nfm_reply) from FROM
func cmdGraphfake(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: graphfake start|fail|clear|delay|calls|messages|reads|webhooks|count|wait|flush|post|template-status|template-category|template-quality|text|standby|handover|thread|form|hook|clock ...")
	}
	sub, rest := args[0], args[1:]
	if sub == "start" {
		if neg {
			ts.Fatalf("graphfake start does not support !")
		}
		graphfakeStart(ts, rest)
		return
	}
	v, ok := fakes.Load(ts)
	if !ok {
		ts.Fatalf("graphfake %s: run graphfake start first", sub)
	}
	s := v.(*graphfake.Server)
	switch sub {
	case "fail":
		noNeg(ts, neg, sub)
		graphfakeFail(ts, s, rest)
	case "clear":
		noNeg(ts, neg, sub)
		s.ClearFaults()
	case "delay":
		noNeg(ts, neg, sub)
		if len(rest) != 1 {
			ts.Fatalf("usage: graphfake delay DURATION")
		}
		d, err := time.ParseDuration(rest[0])
		ts.Check(err)
		s.Delay(d)
	case "calls":
		noNeg(ts, neg, sub)
		for _, c := range s.Calls() {
			writeLine(ts, map[string]any{"method": c.Method, "version": c.Version, "path": c.Path,
				"endpoint": c.Endpoint, "status": c.Status, "error_code": c.ErrorCode,
				"message_id": c.MessageID, "authorization": c.Header.Get("Authorization"),
				"body": json.RawMessage(jsonOrString(c.Body))})
		}
	case "messages":
		noNeg(ts, neg, sub)
		for _, m := range s.Messages() {
			writeLine(ts, m)
		}
	case "reads":
		noNeg(ts, neg, sub)
		for _, r := range s.Reads() {
			writeLine(ts, map[string]any{"message_id": r.MessageID, "typing": r.Typing})
		}
	case "webhooks":
		noNeg(ts, neg, sub)
		for _, w := range s.Webhooks() {
			writeLine(ts, map[string]any{"message_id": w.MessageID, "status": w.Status, "http_status": w.HTTPStatus})
		}
	case "count":
		graphfakeCount(ts, s, neg, rest)
	case "wait":
		noNeg(ts, neg, sub)
		fs := flag.NewFlagSet("graphfake wait", flag.ContinueOnError)
		timeout := fs.Duration("timeout", 10*time.Second, "")
		n := parseN(ts, fs, rest, "graphfake wait N [--timeout D]")
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		_, err := s.WaitForMessages(ctx, n)
		ts.Check(err)
	case "flush":
		noNeg(ts, neg, sub)
		s.Flush()
	case "post":
		graphfakePost(ts, s, neg, rest)
	case "template-status":
		noNeg(ts, neg, sub)
		graphfakeTemplateStatus(ts, s, rest)
	case "template-category", "template-quality":
		noNeg(ts, neg, sub)
		if len(rest) != 4 {
			ts.Fatalf("usage: graphfake %s NAME LANG PREVIOUS NEW", sub)
		}
		build := s.TemplateCategory
		if sub == "template-quality" {
			build = s.TemplateQuality
		}
		body, err := build(rest[0], rest[1], strings.ToUpper(rest[2]), strings.ToUpper(rest[3]), time.Now())
		if err != nil {
			ts.Fatalf("graphfake %s: %v", sub, err)
		}
		fmt.Fprintf(ts.Stdout(), "%s\n", body)
	case "text", "standby", "handover", "thread", "form":
		noNeg(ts, neg, sub)
		graphfakeInbound(ts, s, sub, rest)
	case "hook":
		noNeg(ts, neg, sub)
		graphfakeHook(ts, s, rest)
	case "clock":
		noNeg(ts, neg, sub)
		if len(rest) != 1 {
			ts.Fatalf("usage: graphfake clock OFFSET")
		}
		d, err := time.ParseDuration(rest[0])
		ts.Check(err)
		off, _ := fakeClocks.Load(ts)
		off.(*atomic.Int64).Store(int64(d))
	default:
		ts.Fatalf("graphfake: unknown subcommand %q", sub)
	}
}

func noNeg(ts *testscript.TestScript, neg bool, sub string) {
	if neg {
		ts.Fatalf("graphfake %s does not support !", sub)
	}
}

func graphfakeStart(ts *testscript.TestScript, args []string) {
	if _, ok := fakes.Load(ts); ok {
		ts.Fatalf("graphfake start: already started in this script")
	}
	fs := flag.NewFlagSet("graphfake start", flag.ContinueOnError)
	var o graphfake.Options
	fs.StringVar(&o.Token, "token", "", "")
	fs.StringVar(&o.PhoneNumberID, "phone-number-id", "", "")
	fs.StringVar(&o.BusinessAccountID, "waba", "", "")
	fs.StringVar(&o.DisplayPhoneNumber, "display-phone", "", "")
	fs.StringVar(&o.StatusWebhook.URL, "webhook", "", "")
	fs.StringVar(&o.StatusWebhook.AppSecret, "app-secret", "", "")
	fs.Float64Var(&o.Limits.PerSecond, "rate", 0, "")
	fs.DurationVar(&o.Limits.PairInterval, "pair-interval", 0, "")
	fs.IntVar(&o.Limits.PairBurst, "pair-burst", 0, "")
	fs.BoolVar(&o.CheckMediaIDs, "check-media-ids", false, "")
	fs.BoolVar(&o.EscalationPartner, "escalation-partner", false, "")
	noSchema := fs.Bool("no-schema", false, "")
	fs.Func("wa-id", "", func(v string) error {
		typed, waID, ok := strings.Cut(v, "=")
		if !ok || typed == "" || waID == "" {
			return fmt.Errorf("--wa-id %q: use DIGITS=WA_ID", v)
		}
		if o.WaIDs == nil {
			o.WaIDs = map[string]string{}
		}
		o.WaIDs[typed] = waID
		return nil
	})
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: graphfake start [--token T] [--phone-number-id ID] [--waba ID] [--display-phone N] [--no-schema] [--webhook URL] [--app-secret S] [--rate N] [--pair-interval D] [--pair-burst N] [--check-media-ids] [--escalation-partner] [--wa-id DIGITS=WA_ID]...")
	}
	if !*noSchema {
		v, err := metaschema.Default()
		switch {
		case errors.Is(err, metaschema.ErrNotFound):
			ts.Logf("graphfake: Meta's schema not found, bodies are checked without it: %v", err)
		case err != nil:
			ts.Fatalf("graphfake: %v", err)
		default:
			o.Schema = v
		}
	}
	off := new(atomic.Int64)
	o.Clock = func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	s := graphfake.New(o)
	fakes.Store(ts, s)
	fakeClocks.Store(ts, off)
	ts.Defer(func() {
		s.Close()
		fakes.Delete(ts)
		fakeClocks.Delete(ts)
	})
	eff := s.Options()
	ts.Setenv("GRAPH_URL", s.URL)
	ts.Setenv("GRAPH_TOKEN", eff.Token)
	ts.Setenv("GRAPH_PHONE_NUMBER_ID", eff.PhoneNumberID)
	ts.Setenv("GRAPH_WABA", eff.BusinessAccountID)
}

func graphfakeHook(ts *testscript.TestScript, s *graphfake.Server, args []string) {
	const usage = "usage: graphfake hook ADDRFILE PATH APPSECRET [--pricing CBP|PMP]"
	if len(args) < 3 {
		ts.Fatalf(usage)
	}
	fs := flag.NewFlagSet("graphfake hook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pricing := fs.String("pricing", "PMP", "")
	if err := fs.Parse(args[3:]); err != nil || fs.NArg() != 0 {
		ts.Fatalf(usage)
	}
	addrFile := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			s.SetStatusWebhook(graphfake.StatusWebhook{URL: "http://" + strings.TrimSpace(string(b)) + args[1],
				AppSecret: args[2], PricingModel: *pricing})
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("graphfake hook: %s not written within 30s (did gtc serve start?)", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func graphfakeFail(ts *testscript.TestScript, s *graphfake.Server, args []string) {
	fs := flag.NewFlagSet("graphfake fail", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f graphfake.Fault
	fs.IntVar(&f.Times, "times", 0, "")
	fs.StringVar(&f.To, "to", "", "")
	fs.IntVar(&f.HTTPStatus, "status", 0, "")
	fs.StringVar(&f.Endpoint, "endpoint", "", "")
	fs.BoolVar(&f.Async, "async", false, "")
	fs.StringVar(&f.Details, "details", "", "")
	fs.BoolVar(&f.Gateway, "gateway", false, "")
	const usage = "usage: graphfake fail CODE [--times N] [--to NUMBER] [--status HTTP] [--endpoint E] [--async] [--details TEXT] [--gateway]"
	if len(args) == 0 {
		ts.Fatalf(usage)
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("%s: bad CODE %q", usage, args[0])
	}
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		ts.Fatalf(usage)
	}
	f.Code = code
	s.Inject(f)
}

func graphfakeCount(ts *testscript.TestScript, s *graphfake.Server, neg bool, args []string) {
	fs := flag.NewFlagSet("graphfake count", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "")
	n := parseN(ts, fs, args, "graphfake count N [--endpoint E]")
	got := 0
	what := "accepted messages"
	if *endpoint == "" {
		got = len(s.Messages())
	} else {
		what = "calls to " + *endpoint
		for _, c := range s.Calls() {
			if *endpoint == "*" || c.Endpoint == *endpoint {
				got++
			}
		}
	}
	switch {
	case got != n && !neg:
		ts.Fatalf("graphfake: %d %s, want %d", got, what, n)
	case got == n && neg:
		ts.Fatalf("graphfake: %d %s, want any other number", got, what)
	}
}

func graphfakePost(ts *testscript.TestScript, s *graphfake.Server, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: graphfake post PATH FILE")
	}
	body, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	req, err := http.NewRequest(http.MethodPost, s.URL+args[0], bytes.NewReader(body))
	ts.Check(err)
	req.Header.Set("Authorization", "Bearer "+s.Options().Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n", out)
	switch {
	case resp.StatusCode != http.StatusOK && !neg:
		ts.Fatalf("graphfake post: HTTP %d: %s", resp.StatusCode, out)
	case resp.StatusCode == http.StatusOK && neg:
		ts.Fatalf("graphfake post: HTTP 200, want an error")
	}
}

func graphfakeTemplateStatus(ts *testscript.TestScript, s *graphfake.Server, args []string) {
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: graphfake template-status NAME LANG STATUS [REASON]")
	}
	reason := ""
	if len(args) == 4 {
		reason = args[3]
	}
	body, err := s.TemplateStatus(args[0], args[1], strings.ToUpper(args[2]), reason, time.Now())
	if err != nil {
		ts.Fatalf("graphfake template-status: %v", err)
	}
	fmt.Fprintf(ts.Stdout(), "%s\n", body)
}

var inboundSeq atomic.Int64

// graphfakeInbound prints a customer's webhook: a text, a standby copy, a handover or a
// submitted form; or says who controls a thread.
func graphfakeInbound(ts *testscript.TestScript, s *graphfake.Server, sub string, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: graphfake %s FROM ...", sub)
	}
	f := graphfake.Sender{WaID: strings.TrimPrefix(args[0], "+"), Name: "Customer"}
	id := fmt.Sprintf("wamid.script.%d.%d", time.Now().UnixNano(), inboundSeq.Add(1))
	var body []byte
	switch sub {
	case "text", "standby":
		if len(args) != 2 {
			ts.Fatalf("usage: graphfake %s FROM TEXT", sub)
		}
		if sub == "text" {
			body = s.InboundText(f, id, args[1], time.Now())
		} else {
			body = s.StandbyText(f, id, args[1], time.Now())
		}
	case "handover":
		if len(args) != 2 && len(args) != 4 {
			ts.Fatalf("usage: graphfake handover FROM TYPE [PREVIOUS NEW]")
		}
		prev, next := "escalation_partner", "primary"
		if args[1] == "control_taken" {
			prev, next = next, prev
		}
		if len(args) == 4 {
			prev, next = args[2], args[3]
		}
		body = s.Handover(f, args[1], prev, next, "", time.Now())
	case "thread":
		fmt.Fprintln(ts.Stdout(), s.ThreadOwner(f.WaID))
		return
	case "form":
		if len(args) != 2 {
			ts.Fatalf("usage: graphfake form FROM JSON")
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(args[1]), &resp); err != nil {
			ts.Fatalf("graphfake form: %v", err)
		}
		body = s.InboundFlowReply(f, id, "", resp, time.Now())
	}
	fmt.Fprintf(ts.Stdout(), "%s\n", body)
}

func parseN(ts *testscript.TestScript, fs *flag.FlagSet, args []string, usage string) int {
	fs.SetOutput(io.Discard)
	if len(args) == 0 {
		ts.Fatalf("usage: %s", usage)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		ts.Fatalf("usage: %s (bad N %q)", usage, args[0])
	}
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: %s", usage)
	}
	return n
}

func writeLine(ts *testscript.TestScript, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	ts.Check(enc.Encode(v))
	_, err := ts.Stdout().Write(b.Bytes())
	ts.Check(err)
}

// jsonOrString keeps a JSON body as is and quotes anything else (multipart summaries).
func jsonOrString(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	if json.Valid(b) {
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil {
			return buf.Bytes()
		}
	}
	q, _ := json.Marshal(strings.ToValidUTF8(string(b), "?"))
	return q
}
