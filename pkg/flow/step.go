package flow

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Step runs one input of a contact's conversation: cur is the stored conversation (nil when
// the contact has none), in what happened, c who the contact is and when. It has no I/O.
//
// Rules (DESIGN.md §8–10): while an ask waits, the next message answers it, except for
// triggers marked interrupt, which end it and start their own; without a conversation, the
// winning trigger starts one; a conversation runs node to node until it waits (ask, http,
// ai, handoff) or reaches a node with no next (it ends). Opt-out and opt-in keywords are the
// caller's job: handle them before calling Step, they never reach a flow. While a person has
// the contact, messages change nothing (Outcome.Ignored) and triggers do not fire.
//
// An error means the input could not be run (a template failed to render, a flow loops, a
// start names no flow, ErrCallPending, ErrWithPerson); nothing of the Outcome applies then.
func (s *Set) Step(cur *Conversation, in Input, c Context) (Outcome, error) {
	r := &stepper{s: s, c: c, out: &Outcome{}, user: cloneMap(c.User)}
	conv, err := r.step(cur.clone(), in)
	if err != nil {
		return Outcome{}, err
	}
	r.out.Next = conv
	if len(r.out.UserUpdates) == 0 {
		r.out.UserUpdates = nil
	}
	if conv == nil || conv.Deadline == 0 {
		r.out.WaitUntil = 0
	}
	return *r.out, nil
}

type stepper struct {
	s    *Set
	c    Context
	out  *Outcome
	user map[string]any
}

func (r *stepper) step(conv *Conversation, in Input) (*Conversation, error) {
	switch in.Kind {
	case InputMessage:
		if in.Event == nil {
			return nil, fmt.Errorf("message input without an event")
		}
		ev := *in.Event
		if conv != nil {
			if conv.State == StateHuman {
				r.out.Ignored = "the contact is with a person"
				return conv, nil
			}
			if t := r.s.matchInterrupt(ev); t != nil {
				r.end(conv, EndInterrupted, "interrupt trigger "+t.Describe())
				conv = nil
			} else if conv.State == StateCalling {
				return nil, ErrCallPending
			} else if n, ok := r.resume(conv, NodeAsk); ok {
				r.addTurn(conv, "user", eventText(ev))
				return r.answer(conv, n, ev)
			} else {
				conv = nil
			}
		}
		t := r.s.Match(ev)
		if t == nil {
			r.out.Ignored = "no trigger matches"
			return nil, nil
		}
		conv = r.newConv(&ev, nil)
		r.addTurn(conv, "user", eventText(ev))
		return r.advance(conv, t.flow, t.Target, &ev)
	case InputStart:
		f, ok := r.s.byName[in.Flow]
		if !ok {
			return nil, &NotFoundError{Flow: in.Flow, Flows: r.s.sortedNames()}
		}
		node := in.Node
		if node == "" {
			if len(f.Nodes) == 0 {
				return nil, &NotFoundError{Flow: in.Flow}
			}
			node = f.Nodes[0].ID
		}
		if _, ok := f.byID[node]; !ok {
			return nil, &NotFoundError{Flow: in.Flow, Node: node}
		}
		if conv != nil {
			if conv.State == StateHuman {
				return nil, ErrWithPerson
			}
			r.end(conv, EndReplaced, fmt.Sprintf("explicit start of %s", in.Flow))
		}
		conv = r.newConv(nil, in.Vars)
		return r.advance(conv, f, node, nil)
	case InputTimeout:
		if conv == nil || conv.Deadline == 0 || (in.Deadline != 0 && in.Deadline != conv.Deadline) || r.c.Now < conv.Deadline || conv.State == StateCalling {
			r.out.Ignored = "stale timeout"
			return conv, nil
		}
		if conv.State == StateHuman {
			return r.release(conv, "", "", "timeout")
		}
		n, ok := r.resume(conv, NodeAsk)
		if !ok {
			return nil, nil
		}
		conv.Retries, conv.Choices, conv.FlowToken = 0, nil, ""
		if n.Ask.OnTimeout == "" {
			r.end(conv, EndTimeout, "")
			return nil, nil
		}
		return r.advance(conv, r.s.byName[conv.Flow], n.Ask.OnTimeout, nil)
	case InputResult:
		if conv == nil || conv.State != StateCalling || (in.Step != 0 && in.Step != conv.Step) || in.Result == nil {
			r.out.Ignored = "stale call result"
			return conv, nil
		}
		f := r.s.byName[conv.Flow]
		if f == nil {
			r.end(conv, EndFlowEdited, "flow "+conv.Flow+" is gone")
			return nil, nil
		}
		n := f.byID[conv.Node]
		switch {
		case n != nil && n.Type == NodeHTTP && n.HTTP != nil:
			return r.httpResult(conv, f, n, *in.Result)
		case n != nil && n.Type == NodeAI && n.AI != nil:
			return r.aiResult(conv, f, n, *in.Result)
		}
		r.end(conv, EndFlowEdited, fmt.Sprintf("node %s is no longer an http or ai node", conv.Node))
		return nil, nil
	case InputRelease:
		if conv == nil || conv.State != StateHuman {
			r.out.Ignored = "not with a person"
			return conv, nil
		}
		return r.release(conv, in.Flow, in.Node, "released")
	}
	return nil, fmt.Errorf("unknown input kind %q", in.Kind)
}

// matchInterrupt is the winning trigger among those marked interrupt.
func (s *Set) matchInterrupt(ev Event) *Trigger {
	for _, t := range s.triggers {
		if t.Interrupt && t.matches(ev) {
			return t
		}
	}
	return nil
}

func (r *stepper) newConv(ev *Event, vars map[string]any) *Conversation {
	v := cloneMap(r.c.Vars)
	for k, x := range vars {
		v[k] = x
	}
	return &Conversation{ID: newID(r.c, ev), Vars: v}
}

func (r *stepper) end(conv *Conversation, reason EndReason, detail string) {
	r.out.Ended = append(r.out.Ended, Ended{ID: conv.ID, Flow: conv.Flow, Node: conv.Node, Reason: reason, Detail: detail})
}

// resume finds the node a stored conversation waits at; a flow edited meanwhile ends it.
func (r *stepper) resume(conv *Conversation, typ string) (*Node, bool) {
	f, ok := r.s.byName[conv.Flow]
	if !ok {
		r.end(conv, EndFlowEdited, "flow "+conv.Flow+" is gone")
		return nil, false
	}
	n, ok := f.byID[conv.Node]
	if !ok {
		r.end(conv, EndFlowEdited, fmt.Sprintf("node %s is gone from flow %s", conv.Node, conv.Flow))
		return nil, false
	}
	if n.Type != typ || !n.configured() {
		r.end(conv, EndFlowEdited, fmt.Sprintf("node %s is no longer an %s node", conv.Node, typ))
		return nil, false
	}
	return n, true
}

func (r *stepper) env(conv *Conversation, ev *Event) *Env {
	c := r.c
	c.Vars, c.User = conv.Vars, r.user
	return NewEnv(ev, c)
}

func (r *stepper) waitFor(d time.Duration) int64 {
	if d <= 0 {
		d = r.c.ConversationTimeout
	}
	if d <= 0 {
		d = DefaultConversationTimeout
	}
	return r.c.Now + int64(d/time.Second)
}

// reply records a message to send.
func (r *stepper) reply(conv *Conversation, f *Flow, n *Node, m *whatsapp.Message, retry bool) {
	m.To = r.c.To
	if r.c.ReplyTo != "" && m.Type != whatsapp.TypeReaction {
		m.Context = &whatsapp.Context{MessageID: r.c.ReplyTo}
	}
	r.out.Replies = append(r.out.Replies, Reply{Flow: f.Name, Node: n.ID, Message: *m, RetryOnRateLimit: retry})
	switch {
	case m.Text != nil:
		r.addTurn(conv, "assistant", m.Text.Body)
	case m.Interactive != nil && m.Interactive.Body != nil:
		r.addTurn(conv, "assistant", m.Interactive.Body.Text)
	}
}

func textMessage(body string) *whatsapp.Message {
	return &whatsapp.Message{MessagingProduct: whatsapp.MessagingProduct, RecipientType: whatsapp.RecipientIndividual,
		Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: body}}
}

const maxTurnText = 2000

// addTurn keeps a message for ai nodes: only when the set has one, and only as many turns
// as its largest history needs (plus the prompt).
func (r *stepper) addTurn(conv *Conversation, role, text string) {
	keep := r.s.keep
	if conv == nil || text == "" || keep == 0 {
		return
	}
	if utf8.RuneCountInString(text) > maxTurnText {
		text = string([]rune(text)[:maxTurnText])
	}
	conv.History = append(conv.History, Turn{Role: role, Text: text})
	if len(conv.History) > keep {
		conv.History = append([]Turn(nil), conv.History[len(conv.History)-keep:]...)
	}
}

// advance runs conv from node id of f until it waits or ends.
func (r *stepper) advance(conv *Conversation, f *Flow, id string, ev *Event) (*Conversation, error) {
	env := r.env(conv, ev)
	visited := map[*Node]bool{}
	conv.State, conv.WaitingSince, conv.Deadline, conv.Queue = "", 0, 0, ""
	for steps := 0; ; steps++ {
		if id == "" {
			r.end(conv, EndCompleted, "")
			return nil, nil
		}
		n, ok := f.byID[id]
		if !ok {
			r.end(conv, EndFlowEdited, fmt.Sprintf("node %s is gone from flow %s", id, f.Name))
			return nil, nil
		}
		if steps >= MaxSteps || visited[n] {
			return nil, fmt.Errorf("flow %s: node %s runs again in the same run: the flow loops; end the loop", f.Name, n.ID)
		}
		visited[n] = true
		if !n.configured() {
			return nil, fmt.Errorf("flow %s: node %s has no valid config: run gtc flow validate", f.Name, n.ID)
		}
		conv.Flow, conv.Node = f.Name, n.ID
		conv.Step++
		switch n.Type {
		case NodeReply:
			m, err := n.Render(env)
			if err != nil {
				return nil, fmt.Errorf("flow %s: %w", f.Name, err)
			}
			r.reply(conv, f, n, m, n.RetryOnRateLimit)
			id = n.Next
		case NodeBranch:
			next, err := n.Choose(env)
			if err != nil {
				return nil, fmt.Errorf("flow %s: %w", f.Name, err)
			}
			id = next
		case NodeSet:
			if err := r.set(n, env); err != nil {
				return nil, fmt.Errorf("flow %s: %w", f.Name, err)
			}
			id = n.Next
		case NodeGoto:
			g, ok := r.s.byName[n.Goto.Flow]
			if !ok {
				r.end(conv, EndFlowEdited, fmt.Sprintf("goto %s: no such flow", n.Goto.Flow))
				return nil, nil
			}
			f, id = g, n.Goto.Node
			if id == "" && len(g.Nodes) > 0 {
				id = g.Nodes[0].ID
			}
		case NodeAsk:
			if err := r.ask(conv, f, n, env); err != nil {
				return nil, fmt.Errorf("flow %s: %w", f.Name, err)
			}
			return conv, nil
		case NodeHTTP, NodeAI:
			return r.call(conv, f, n, env)
		case NodeHandoff:
			return conv, r.handoff(conv, f, n, env)
		default:
			return nil, fmt.Errorf("flow %s: node %s has unknown type %s", f.Name, n.ID, n.Type)
		}
	}
}

func (r *stepper) set(n *Node, env *Env) error {
	for _, a := range n.Set.Vars {
		v, err := runAssign(n, a, env)
		if err != nil {
			return err
		}
		env.Vars[a.Name] = v
	}
	for _, a := range n.Set.User {
		v, err := runAssign(n, a, env)
		if err != nil {
			return err
		}
		r.user[a.Name] = v
		env.User = r.user
		if r.out.UserUpdates == nil {
			r.out.UserUpdates = map[string]any{}
		}
		r.out.UserUpdates[a.Name] = v
	}
	return nil
}

func runAssign(n *Node, a *Assign, env *Env) (any, error) {
	if a.prog == nil {
		return nil, fmt.Errorf("node %s: %s did not compile: run gtc flow validate", n.ID, a.Name)
	}
	v, err := runExpr(a.prog, env)
	if err != nil {
		return nil, fmt.Errorf("node %s: %s (%s): %w", n.ID, a.Name, a.Expression, err)
	}
	return v, nil
}

// ask sends the question and waits.
func (r *stepper) ask(conv *Conversation, f *Flow, n *Node, env *Env) error {
	conv.Choices, conv.FlowToken = nil, ""
	if n.msg != nil {
		m, err := n.Render(env)
		if err != nil {
			return err
		}
		conv.Choices, conv.FlowToken = choicesOf(m), flowTokenOf(m)
		r.reply(conv, f, n, m, n.RetryOnRateLimit)
	}
	conv.State, conv.Retries = StateWaiting, 0
	conv.WaitingSince = r.c.Now
	conv.Deadline = r.waitFor(n.Ask.Timeout)
	r.out.WaitUntil = conv.Deadline
	return nil
}

// answer takes ev as the answer to the ask n.
func (r *stepper) answer(conv *Conversation, n *Node, ev Event) (*Conversation, error) {
	f := r.s.byName[conv.Flow]
	a := n.Ask
	env := r.env(conv, &ev)
	val, err := ParseAnswer(a.Expect, ev, conv.Choices)
	if err == nil && a.Expect == ExpectFlow && conv.FlowToken != "" && ev.Flow.FlowToken != "" && ev.Flow.FlowToken != conv.FlowToken {
		err = invalid(a.Expect, "a form sent with flow_token %q, but this question sent %q (an older form?)", ev.Flow.FlowToken, conv.FlowToken)
	}
	if err == nil && a.re != nil {
		if s, _ := val.(string); !a.re.MatchString(s) {
			err = invalid(a.Expect, "%q does not match the pattern %s", s, a.Pattern)
		}
	}
	if err == nil && a.validate != nil {
		ok, verr := runExpr(a.validate, answerEnvOf(a.Expect, env, val))
		if b, _ := ok.(bool); verr != nil || !b {
			err = invalid(a.Expect, "validate (%s) is not true for this answer", a.Validate)
			if verr != nil {
				err = invalid(a.Expect, "validate (%s): %v", a.Validate, verr)
			}
		}
	}
	if err == nil {
		conv.Vars[a.SaveAs] = val
		env.Vars = conv.Vars
		conv.Retries, conv.Choices, conv.FlowToken = 0, nil, ""
		return r.advance(conv, f, n.Next, &ev)
	}
	r.out.Invalid = err.Error()
	if conv.Retries >= a.MaxRetries {
		conv.Retries, conv.Choices, conv.FlowToken = 0, nil, ""
		if a.OnInvalid == "" {
			r.end(conv, EndInvalid, err.Error())
			return nil, nil
		}
		return r.advance(conv, f, a.OnInvalid, &ev)
	}
	conv.Retries++
	msg := defaultRetry(a.Expect)
	if a.RetryMessage != "" {
		s, rerr := a.retry.render(env)
		if rerr != nil {
			return nil, fmt.Errorf("flow %s: node %s: retry_message: %w", f.Name, n.ID, rerr)
		}
		msg = s
	}
	r.reply(conv, f, n, textMessage(msg), n.RetryOnRateLimit)
	if len(conv.Choices) > 0 && n.msg != nil {
		// Re-send the buttons or list, so the choices are at hand.
		m, rerr := n.Render(env)
		if rerr != nil {
			return nil, fmt.Errorf("flow %s: %w", f.Name, rerr)
		}
		conv.Choices = choicesOf(m)
		r.reply(conv, f, n, m, n.RetryOnRateLimit)
	}
	conv.WaitingSince = r.c.Now
	conv.Deadline = r.waitFor(a.Timeout)
	r.out.WaitUntil = conv.Deadline
	return conv, nil
}

func (r *stepper) handoff(conv *Conversation, f *Flow, n *Node, env *Env) error {
	h := n.Handoff
	if h.Message != "" {
		s, err := h.message.render(env)
		if err != nil {
			return fmt.Errorf("flow %s: node %s: message: %w", f.Name, n.ID, err)
		}
		r.reply(conv, f, n, textMessage(s), false)
	}
	note := ""
	if h.Note != "" {
		s, err := h.note.render(env)
		if err != nil {
			return fmt.Errorf("flow %s: node %s: note: %w", f.Name, n.ID, err)
		}
		note = s
	}
	conv.State, conv.Queue, conv.WaitingSince = StateHuman, h.Queue, r.c.Now
	conv.Deadline = 0
	if h.Timeout > 0 {
		conv.Deadline = r.c.Now + int64(h.Timeout/time.Second)
		r.out.WaitUntil = conv.Deadline
	}
	r.out.Handoff = &Handoff{Flow: f.Name, Node: n.ID, Queue: h.Queue, Note: note, Timeout: h.Timeout, Deadline: conv.Deadline}
	return nil
}

// release hands a conversation back to the bot.
func (r *stepper) release(conv *Conversation, flowName, node, why string) (*Conversation, error) {
	n, ok := r.resume(conv, NodeHandoff)
	if !ok {
		return nil, nil
	}
	f := r.s.byName[conv.Flow]
	if node == "" {
		node = n.Handoff.OnRelease
	} else if flowName != "" {
		g, ok := r.s.byName[flowName]
		if !ok {
			return nil, &NotFoundError{Flow: flowName, Flows: r.s.sortedNames()}
		}
		f = g
	}
	if node != "" {
		if _, ok := f.byID[node]; !ok {
			return nil, &NotFoundError{Flow: f.Name, Node: node}
		}
	}
	conv.Queue = ""
	if node == "" {
		r.end(conv, EndReleased, why)
		return nil, nil
	}
	return r.advance(conv, f, node, nil)
}

// historyKeep is how many turns a conversation keeps: 0 without ai nodes, else the largest
// history plus two (the prompt and the question before it).
func historyKeep(flows []*Flow) int {
	keep := -1
	for _, f := range flows {
		for _, n := range f.Nodes {
			if n.AI != nil {
				keep = max(keep, n.AI.History)
			}
		}
	}
	if keep < 0 {
		return 0
	}
	return keep + 2
}

// configured reports whether a node's config parsed (a set with errors is never run, but
// the engine does not rely on that).
func (n *Node) configured() bool {
	switch n.Type {
	case NodeAsk:
		return n.Ask != nil
	case NodeSet:
		return n.Set != nil
	case NodeGoto:
		return n.Goto != nil
	case NodeHTTP:
		return n.HTTP != nil && n.HTTP.json != nil || n.HTTP != nil && !n.HTTP.HasJSON
	case NodeAI:
		return n.AI != nil
	case NodeHandoff:
		return n.Handoff != nil
	}
	return true
}

// eventText is what a message says, for the history: its text, or the title of the tapped
// button or row.
func eventText(ev Event) string {
	switch {
	case ev.Text != "":
		return ev.Text
	case ev.List != nil:
		return ev.List.Title
	case ev.Button != nil:
		return ev.Button.Title
	}
	return ""
}
