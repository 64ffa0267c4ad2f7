package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// scriptLine is one input of a flow run script.
type scriptLine struct {
	line  int
	text  string // as written, for the transcript
	kind  string // text, button, list, payload, location, media, flow, form, wait
	arg   string
	wait  time.Duration
	event *flow.Event
}

// parseScript reads a flow run script; every bad line is reported (file:line: problem).
func parseScript(name string, data []byte, opts *RunOptions) ([]scriptLine, error) {
	var out []scriptLine
	var probs []string
	for i, raw := range strings.Split(string(data), "\n") {
		s := strings.TrimSpace(raw)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		l := scriptLine{line: i + 1, text: s, kind: "text", arg: s}
		if strings.HasPrefix(s, "/") {
			cmd, arg, _ := strings.Cut(s[1:], " ")
			l.kind, l.arg = cmd, strings.TrimSpace(arg)
			switch cmd {
			case "button", "list", "payload", "location", "media", "flow":
				if l.arg == "" {
					probs = append(probs, fmt.Sprintf("%s:%d: /%s needs a value, like /%s %s", name, l.line, cmd, cmd, example(cmd)))
					continue
				}
			case "form":
				form, err := parseForm(l.arg)
				if err != nil {
					probs = append(probs, fmt.Sprintf("%s:%d: %v", name, l.line, err))
					continue
				}
				l.event = &flow.Event{Type: "interactive", MessageID: fmt.Sprintf("wamid.gtc-flow-run.%d", l.line),
					From: opts.From, Flow: &whatsapp.FlowReply{Name: "flow", Body: "Sent", Response: form}}
			case "wait":
				d, err := answers.ParseDuration(l.arg)
				if err != nil || d <= 0 {
					probs = append(probs, fmt.Sprintf("%s:%d: /wait needs a positive duration like 30m, 2h or 1d, not %q", name, l.line, l.arg))
					continue
				}
				l.wait = d
			default:
				probs = append(probs, fmt.Sprintf("%s:%d: unknown command /%s: use /button, /list, /payload, /location, /media, /flow, /form or /wait", name, l.line, cmd))
				continue
			}
		}
		if l.kind != "flow" && l.kind != "wait" && l.kind != "form" {
			o := *opts
			o.set = []string{l.kind}
			o.Text, o.Button, o.List, o.Payload, o.Location, o.Media = l.arg, l.arg, l.arg, l.arg, l.arg, l.arg
			ev, err := o.event()
			if err != nil {
				probs = append(probs, fmt.Sprintf("%s:%d: %v", name, l.line, err))
				continue
			}
			ev.MessageID = fmt.Sprintf("wamid.gtc-flow-run.%d", l.line)
			l.event = ev
		}
		out = append(out, l)
	}
	if len(probs) > 0 {
		return nil, cmdutil.FlagErrorf("%s", strings.Join(probs, "\n"))
	}
	return out, nil
}

// parseForm reads /form's argument: a submitted WhatsApp Flow form's fields, one JSON
// object (numbers stay numbers).
func parseForm(arg string) (map[string]any, error) {
	const example = `like /form {"email": "ada@example.com"}`
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.UseNumber()
	var form map[string]any
	if err := dec.Decode(&form); err != nil || form == nil {
		return nil, fmt.Errorf("/form needs the form's fields as one JSON object, %s", example)
	}
	if dec.More() {
		return nil, fmt.Errorf("/form takes one JSON object; text follows it, %s", example)
	}
	return form, nil
}

// submitted completes a /form event as WhatsApp sends it: the waiting question's
// flow_token unless the form gives one, and response_json.
func submitted(ev flow.Event, cur *flow.Conversation) (flow.Event, error) {
	fr := *ev.Flow
	fr.Response = maps.Clone(fr.Response)
	if tok, ok := fr.Response["flow_token"].(string); ok {
		fr.FlowToken = tok
	} else if cur != nil && cur.FlowToken != "" {
		fr.Response["flow_token"], fr.FlowToken = cur.FlowToken, cur.FlowToken
	}
	b, err := json.Marshal(fr.Response)
	if err != nil {
		return ev, err
	}
	fr.ResponseJSON = string(b)
	ev.Flow = &fr
	return ev, nil
}

func example(cmd string) string {
	switch cmd {
	case "location":
		return "52.52,13.405"
	case "media":
		return "image"
	case "flow":
		return "feedback"
	}
	return "ID"
}

// runScript runs a conversation offline: the state (conversation, user.*) moves from line
// to line as it would in gtc serve, through the same delivery.Step.
func runScript(opts *RunOptions) error {
	data, err := os.ReadFile(opts.ScriptFile)
	if errors.Is(err, fs.ErrNotExist) {
		return cmdutil.FlagErrorf("--script %s: no such file", opts.ScriptFile)
	}
	if err != nil {
		return fmt.Errorf("read script: %w", err)
	}
	lines, err := parseScript(opts.ScriptFile, data, opts)
	if err != nil {
		return err
	}
	vars, err := parseVars(opts.Vars)
	if err != nil {
		return err
	}
	flowsDir, tenant, team, err := opts.resolve()
	if err != nil {
		return err
	}
	set, err := flow.LoadDir(flowsDir)
	if err != nil {
		return err
	}
	for _, w := range set.Warnings() {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	if len(set.Flows) == 0 {
		return cmdutil.FlagErrorf("%s has no %s files", flowsDir, flow.Ext)
	}
	w := opts.IO.Out
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	now, last := opts.NowUnix, opts.LastMessageTime
	var cur *flow.Conversation
	user := map[string]any{}
	step := func(l scriptLine, in flow.Input) error {
		rc := delivery.RunContext{Tenant: tenant, Team: team, To: opts.From, Now: now, LastMessageTime: last, Vars: vars, User: user}
		if in.Event != nil {
			rc.ReplyTo = in.Event.MessageID
		}
		out, err := delivery.Step(set, cur, in, rc)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", opts.ScriptFile, l.line, err)
		}
		for _, r := range out.Replies {
			if err := enc.Encode(r.Message); err != nil {
				return err
			}
		}
		for _, e := range out.Ended {
			if e.Reason != flow.EndCompleted {
				detail := ""
				if e.Detail != "" {
					detail = ": " + e.Detail
				}
				fmt.Fprintf(w, "· conversation %s/%s ended: %s%s\n", e.Flow, e.Node, e.Reason, detail)
			}
		}
		if out.Invalid != "" {
			fmt.Fprintf(w, "· not an answer: %s\n", out.Invalid)
		}
		if out.Ignored != "" && len(out.Replies) == 0 {
			fmt.Fprintf(w, "· nothing happens: %s\n", out.Ignored)
		}
		if out.Call != nil || out.Handoff != nil {
			fmt.Fprintln(w, "· the conversation waits for a call or a person (not simulated by flow run)")
		}
		if len(out.UserUpdates) > 0 {
			user = maps.Clone(user)
			maps.Copy(user, out.UserUpdates)
		}
		cur = out.Next
		if cur != nil && cur.State == flow.StateWaiting {
			until := ""
			if cur.Deadline > 0 {
				until = ", answer within " + (time.Duration(cur.Deadline-cur.WaitingSince) * time.Second).String()
			}
			fmt.Fprintf(w, "· waiting at %s/%s%s\n", cur.Flow, cur.Node, until)
		}
		return nil
	}
	for _, l := range lines {
		fmt.Fprintf(w, "> %s\n", l.text)
		var err error
		switch l.kind {
		case "wait":
			now += int64(l.wait / time.Second)
			if cur != nil && cur.Deadline > 0 && cur.Deadline <= now {
				err = step(l, flow.TimeoutInput(cur.Deadline))
			}
		case "flow":
			err = step(l, flow.StartInput(l.arg, "", vars))
		case "form":
			var ev flow.Event
			if ev, err = submitted(*l.event, cur); err == nil {
				ev.Timestamp = now
				err = step(l, flow.MessageInput(ev))
				last = now
			}
		default:
			l.event.Timestamp = now
			err = step(l, flow.MessageInput(*l.event))
			last = now
		}
		if err != nil {
			if errors.Is(err, flow.ErrMissingVar) {
				return cmdutil.FlagErrorf("%v", err)
			}
			return err
		}
	}
	if len(user) > 0 {
		b, _ := json.Marshal(user)
		fmt.Fprintf(w, "· user: %s\n", b)
	}
	return nil
}
