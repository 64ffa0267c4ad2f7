package flow

import (
	"fmt"
	"sort"
	"strings"

	"github.com/greentic/gtc/pkg/problem"
)

// validate checks the flow as a whole: ids, references, reachability and loops.
func (p *parser) validate(f *Flow) {
	var ids []string
	for i, n := range f.Nodes {
		if n.ID == "" {
			continue
		}
		if prev, ok := f.byID[n.ID]; ok {
			p.errAt(n.pos, fmt.Sprintf("nodes[%d].id", i), "duplicate node id %s (first at line %d): give each node its own id", n.ID, prev.pos.Line)
			continue
		}
		f.byID[n.ID] = n
		ids = append(ids, n.ID)
	}
	ref := func(id string, at pos, path, what string) bool {
		if id == "" {
			return false
		}
		if _, ok := f.byID[id]; ok {
			return true
		}
		msg := fmt.Sprintf("%s %s points to no node", what, id)
		if near := problem.Nearest(id, ids); near != "" {
			msg += fmt.Sprintf(", did you mean %s?", near)
		} else if len(ids) > 0 {
			msg += ": nodes are " + strings.Join(ids, ", ")
		}
		p.errAt(at, path, "%s", msg)
		return false
	}
	for i, n := range f.Nodes {
		np := fmt.Sprintf("nodes[%d]", i)
		ref(n.Next, n.nextPos, np+".next", "next")
		for j, c := range n.Conditions {
			ref(c.Next, c.nextPos, fmt.Sprintf("%s.config.conditions[%d].next", np, j), "next")
		}
		ref(n.Default, n.defPos, np+".config.default", "default")
		switch {
		case n.Ask != nil:
			ref(n.Ask.OnInvalid, n.Ask.invPos, np+".config.on_invalid", "on_invalid")
			ref(n.Ask.OnTimeout, n.Ask.toPos, np+".config.on_timeout", "on_timeout")
		case n.HTTP != nil:
			ref(n.HTTP.OnError, n.HTTP.errPos, np+".config.on_error", "on_error")
		case n.AI != nil:
			ref(n.AI.OnError, n.AI.errPos, np+".config.on_error", "on_error")
		case n.Handoff != nil:
			ref(n.Handoff.OnRelease, n.Handoff.relPos, np+".config.on_release", "on_release")
		}
	}
	for i, t := range f.Triggers {
		ref(t.Target, t.tpos, fmt.Sprintf("triggers[%d].target", i), "target")
	}
	if len(f.Nodes) == 0 {
		return
	}

	// Reachability: from every trigger target and from the first node (where an explicit
	// start without a node begins).
	reached := map[*Node]bool{}
	var walk func(n *Node)
	walk = func(n *Node) {
		if n == nil || reached[n] {
			return
		}
		reached[n] = true
		for _, s := range f.successors(n) {
			walk(s)
		}
	}
	walk(f.Nodes[0])
	for _, t := range f.Triggers {
		walk(f.byID[t.Target])
	}
	for i, n := range f.Nodes {
		if !reached[n] && f.byID[n.ID] == n {
			// Reported by Parse, or by the set, where a goto from another flow may reach it.
			f.unreachable = append(f.unreachable, unreachable{n: n, path: fmt.Sprintf("nodes[%d]", i)})
		}
	}

	// Branches that can never reach a reply: a fixed point over "some successor replies".
	replies := map[*Node]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range f.Nodes {
			if replies[n] {
				continue
			}
			ok := n.Type != NodeBranch
			for _, s := range f.successors(n) {
				ok = ok || replies[s]
			}
			if ok {
				replies[n], changed = true, true
			}
		}
	}
	for i, n := range f.Nodes {
		if n.Type == NodeBranch && !replies[n] && len(f.successors(n)) > 0 {
			p.errAt(n.pos, fmt.Sprintf("nodes[%d]", i), "branch %s never reaches a reply: its conditions and default only lead to branches that loop back; send something on one of its paths", n.ID)
		}
	}

	// Loops through replies would send forever (a run's variables never change).
	state := map[*Node]int{} // 1 visiting, 2 done
	var visit func(n *Node, stack []*Node)
	reported := map[*Node]bool{}
	visit = func(n *Node, stack []*Node) {
		state[n] = 1
		stack = append(stack, n)
		for _, s := range f.successors(n) {
			switch state[s] {
			case 0:
				visit(s, stack)
			case 1:
				var cycle []string
				hasReply, waits := false, false
				for k := len(stack) - 1; k >= 0; k-- {
					cycle = append([]string{stack[k].ID}, cycle...)
					hasReply = hasReply || stack[k].Type == NodeReply
					waits = waits || stack[k].waits()
					if stack[k] == s {
						break
					}
				}
				if hasReply && !waits && !reported[s] {
					reported[s] = true
					p.errAt(s.pos, "", "loop %s -> %s: a run would send these messages forever; end the loop (a flow continues on the next inbound message through its triggers)", strings.Join(cycle, " -> "), s.ID)
				}
			}
		}
		state[n] = 2
	}
	for _, n := range f.Nodes {
		if state[n] == 0 && f.byID[n.ID] == n {
			visit(n, nil)
		}
	}
}

type unreachable struct {
	n    *Node
	path string
}

func reportUnreachable(f *Flow, probs *problem.List, reached map[*Node]bool) {
	for _, u := range f.unreachable {
		if !reached[u.n] {
			probs.Errorf(f.File, u.path, u.n.pos.Line, u.n.pos.Col, "node %s is unreachable: no trigger or goto targets it and no next, condition or default leads to it; point something at it or remove it", u.n.ID)
		}
	}
}

// successors are the nodes n may go to next.
func (f *Flow) successors(n *Node) []*Node {
	var out []*Node
	add := func(id string) {
		if s, ok := f.byID[id]; ok {
			out = append(out, s)
		}
	}
	add(n.Next)
	for _, c := range n.Conditions {
		add(c.Next)
	}
	add(n.Default)
	switch {
	case n.Ask != nil:
		add(n.Ask.OnInvalid)
		add(n.Ask.OnTimeout)
	case n.HTTP != nil:
		add(n.HTTP.OnError)
	case n.AI != nil:
		add(n.AI.OnError)
	case n.Handoff != nil:
		add(n.Handoff.OnRelease)
	}
	return out
}

// waits reports whether a run stops at n until something happens (an answer, a call's
// result, a person's release): a loop through such a node is a conversation, not a spin.
func (n *Node) waits() bool {
	switch n.Type {
	case NodeAsk, NodeHTTP, NodeAI, NodeHandoff:
		return true
	}
	return false
}

// Trigger precedence: the most specific trigger that matches wins; among equally specific
// ones, the first in load order (flow files by name, triggers as written).
const (
	rankAny      = 10 // message
	rankKind     = 20 // text, interactive, button, media, location
	rankSubKind  = 30 // text with regex, interactive with reply_type, media with media_type
	rankSpecific = 40 // text with keywords, interactive with id, button with payload
)

func (t *Trigger) rank() int {
	switch t.Type {
	case TriggerMessage:
		return rankAny
	case TriggerText:
		if len(t.Keywords) > 0 {
			return rankSpecific
		}
		if t.Regex != "" {
			return rankSubKind
		}
	case TriggerInteractive:
		if t.ID != "" {
			return rankSpecific
		}
		if t.ReplyType != "" {
			return rankSubKind
		}
	case TriggerButton:
		if t.Payload != "" {
			return rankSpecific
		}
	case TriggerMedia:
		if t.MediaType != "" {
			return rankSubKind
		}
	}
	return rankKind
}

// keys are what a trigger matches, one string per distinct match; two triggers sharing a
// key are ambiguous (the later one never fires for it).
func (t *Trigger) keys() []string {
	switch t.Type {
	case TriggerText:
		if len(t.Keywords) > 0 {
			out := make([]string, len(t.Keywords))
			for i, k := range t.Keywords {
				out[i] = "text keyword " + k
			}
			return out
		}
		if t.Regex != "" {
			return []string{"text regex " + t.Regex}
		}
		return []string{"any text"}
	case TriggerInteractive:
		if t.ID != "" {
			return []string{fmt.Sprintf("interactive %s reply %s", orAny(t.ReplyType), t.ID)}
		}
		return []string{fmt.Sprintf("interactive %s reply", orAny(t.ReplyType))}
	case TriggerButton:
		return []string{"button payload " + orAny(t.Payload)}
	case TriggerMedia:
		return []string{"media " + orAny(t.MediaType)}
	}
	return []string{t.Type}
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// checkAmbiguous warns about triggers that match the same thing as an earlier trigger of
// the same precedence, and about interactive triggers by id without a reply_type that
// overlap one with it.
func checkAmbiguous(ts []*Trigger, probs *problem.List) {
	first := map[string]*Trigger{}
	for _, t := range ts {
		if t.Type == "" || t.Target == "" {
			continue
		}
		ks := t.keys()
		if t.Type == TriggerInteractive && t.ID != "" && t.ReplyType != "" {
			ks = append(ks, fmt.Sprintf("interactive any reply %s", t.ID))
		}
		for _, k := range ks {
			prev, ok := first[k]
			if !ok {
				first[k] = t
				continue
			}
			if prev == t || prev.rank() != t.rank() {
				continue
			}
			where := fmt.Sprintf("line %d", prev.pos.Line)
			if prev.flow != t.flow {
				where = fmt.Sprintf("%s:%d (flow %s)", prev.flow.File, prev.pos.Line, prev.flow.Name)
			}
			probs.Warnf(t.flow.File, fmt.Sprintf("triggers[%d]", t.index), t.pos.Line, t.pos.Col,
				"ambiguous trigger: %s is already matched by the trigger at %s, which wins; remove one or make it more specific", strings.TrimSpace(k), where)
			break
		}
	}
}

// sortedNames lists the flow names of s.
func (s *Set) sortedNames() []string {
	var out []string
	for n := range s.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
