package eventstest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// sinks holds each script's sink, keyed by its *TestScript.
var sinks sync.Map

type scriptSink struct {
	*Sink
	expectBad bool
}

// ScriptCmd drives a sink from a .txtar script; register it in testscript.Params.Cmds as
// "eventsink":
//
//	eventsink start [--secret S] [--path P] [--addr A] [--expect-bad]
//	    starts a sink (closed when the script ends) and sets EVENTS_URL (and EVENTS_SECRET
//	    when --secret is given). Without --expect-bad, a refused request (bad signature,
//	    headers or body) fails the next events, wait, count or order command.
//	eventsink fail N [--status 500]   the next N good POSTs answer the status
//	eventsink delay DURATION          answer every POST after DURATION (0 turns it off)
//	eventsink events                  the distinct events, bodies as JSON lines on stdout
//	eventsink requests                every request as a JSON line (delivery, type, status, problem, scripted)
//	eventsink wait N [--timeout 10s]  waits until N distinct events arrived
//	eventsink count N                 exactly N distinct events (! count N: any other number)
//	eventsink order                   one line per contact key, sorted: "KEY: evt_1 evt_3"
func ScriptCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: eventsink start|fail|delay|events|requests|wait|count|order ...")
	}
	sub, rest := args[0], args[1:]
	if neg && sub != "count" {
		ts.Fatalf("eventsink %s does not support !", sub)
	}
	if sub == "start" {
		scriptStart(ts, rest)
		return
	}
	v, ok := sinks.Load(ts)
	if !ok {
		ts.Fatalf("eventsink %s: run eventsink start first", sub)
	}
	s := v.(*scriptSink)
	switch sub {
	case "fail":
		fs := flag.NewFlagSet("eventsink fail", flag.ContinueOnError)
		status := fs.Int("status", 500, "")
		n := scriptN(ts, fs, rest, "eventsink fail N [--status CODE]")
		s.FailNext(n, *status)
	case "delay":
		if len(rest) != 1 {
			ts.Fatalf("usage: eventsink delay DURATION")
		}
		d, err := time.ParseDuration(rest[0])
		ts.Check(err)
		s.SetDelay(d)
	case "events":
		s.checkRefusals(ts)
		for _, r := range s.distinctReceived() {
			fmt.Fprintf(ts.Stdout(), "%s\n", r.Body)
		}
	case "requests":
		for _, r := range s.Requests() {
			b, err := json.Marshal(map[string]any{"delivery": r.Delivery, "type": r.Type, "status": r.Status,
				"problem": r.Problem, "scripted": r.Scripted})
			ts.Check(err)
			fmt.Fprintf(ts.Stdout(), "%s\n", b)
		}
	case "wait":
		fs := flag.NewFlagSet("eventsink wait", flag.ContinueOnError)
		timeout := fs.Duration("timeout", 10*time.Second, "")
		n := scriptN(ts, fs, rest, "eventsink wait N [--timeout D]")
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		_, err := s.Wait(ctx, n)
		s.checkRefusals(ts)
		ts.Check(err)
	case "count":
		n := scriptN(ts, flag.NewFlagSet("eventsink count", flag.ContinueOnError), rest, "eventsink count N")
		s.checkRefusals(ts)
		got := len(s.Events())
		switch {
		case got != n && !neg:
			ts.Fatalf("eventsink: %d events, want %d", got, n)
		case got == n && neg:
			ts.Fatalf("eventsink: %d events, want any other number", got)
		}
	case "order":
		s.checkRefusals(ts)
		m := s.ByContact()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(ts.Stdout(), "%s: %s\n", k, strings.Join(m[k], " "))
		}
	default:
		ts.Fatalf("eventsink: unknown subcommand %q", sub)
	}
}

func scriptStart(ts *testscript.TestScript, args []string) {
	if _, ok := sinks.Load(ts); ok {
		ts.Fatalf("eventsink start: already started in this script")
	}
	fs := flag.NewFlagSet("eventsink start", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o Options
	fs.StringVar(&o.Secret, "secret", "", "")
	fs.StringVar(&o.Path, "path", "", "")
	fs.StringVar(&o.Addr, "addr", "", "")
	expectBad := fs.Bool("expect-bad", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: eventsink start [--secret S] [--path P] [--addr A] [--expect-bad]")
	}
	s, err := Start(o)
	ts.Check(err)
	sinks.Store(ts, &scriptSink{Sink: s, expectBad: *expectBad})
	ts.Defer(func() {
		s.Close()
		sinks.Delete(ts)
	})
	ts.Setenv("EVENTS_URL", s.URL())
	if o.Secret != "" {
		ts.Setenv("EVENTS_SECRET", o.Secret)
	}
}

func (s *scriptSink) checkRefusals(ts *testscript.TestScript) {
	if s.expectBad {
		return
	}
	for _, r := range s.Requests() {
		if r.Problem != "" {
			ts.Fatalf("eventsink: refused %s %s: %s", r.Type, r.Delivery, r.Problem)
		}
	}
}

// distinctReceived is the first accepted POST of each event.
func (s *Sink) distinctReceived() []Received {
	seen := map[string]bool{}
	var out []Received
	for _, r := range s.Received() {
		if !seen[r.Event.ID] {
			seen[r.Event.ID] = true
			out = append(out, r)
		}
	}
	return out
}

func scriptN(ts *testscript.TestScript, fs *flag.FlagSet, args []string, usage string) int {
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
