package flow

import (
	"fmt"
	"sort"
	"strings"

	"github.com/greentic/gtc/pkg/problem"
)

// checkSet validates what spans flows: goto targets, loops through goto and set nodes that
// would spin without waiting, user.* read but never set, and interrupt triggers.
func (s *Set) checkSet(probs *problem.List) {
	var names []string
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	userSet := map[string]bool{}
	for _, f := range s.Flows {
		for _, n := range f.Nodes {
			if n.Set != nil {
				for _, a := range n.Set.User {
					userSet[a.Name] = true
				}
			}
		}
	}
	for _, f := range s.Flows {
		if s.byName[f.Name] != f {
			continue
		}
		for i, n := range f.Nodes {
			if n.Goto == nil || n.Goto.Flow == "" {
				continue
			}
			np := fmt.Sprintf("nodes[%d].config", i)
			g, ok := s.byName[n.Goto.Flow]
			if !ok {
				msg := fmt.Sprintf("goto flow %s: there is no such flow", n.Goto.Flow)
				if near := problem.Nearest(n.Goto.Flow, names); near != "" {
					msg += fmt.Sprintf(", did you mean %s?", near)
				} else if len(names) > 0 {
					msg += ": flows are " + strings.Join(names, ", ")
				}
				probs.Errorf(f.File, np+".flow", n.Goto.flowPos.Line, n.Goto.flowPos.Col, "%s", msg)
				continue
			}
			if n.Goto.Node == "" {
				if len(g.Nodes) == 0 {
					probs.Errorf(f.File, np+".flow", n.Goto.flowPos.Line, n.Goto.flowPos.Col, "goto flow %s: it has no nodes", g.Name)
				}
				continue
			}
			if _, ok := g.byID[n.Goto.Node]; !ok {
				var ids []string
				for _, x := range g.Nodes {
					ids = append(ids, x.ID)
				}
				msg := fmt.Sprintf("goto node %s: flow %s has no such node", n.Goto.Node, g.Name)
				if near := problem.Nearest(n.Goto.Node, ids); near != "" {
					msg += fmt.Sprintf(", did you mean %s?", near)
				} else if len(ids) > 0 {
					msg += ": its nodes are " + strings.Join(ids, ", ")
				}
				probs.Errorf(f.File, np+".node", n.Goto.nodePos.Line, n.Goto.nodePos.Col, "%s", msg)
			}
		}
		warned := map[string]bool{}
		for _, u := range f.userReads {
			if u.name == "" || userSet[u.name] || warned[u.name] {
				continue
			}
			warned[u.name] = true
			probs.Warnf(f.File, u.path, u.at.Line, u.at.Col, "user.%s is read but no set node sets it: it stays empty until one does (add user: {%s: ...} to a set node)", u.name, u.name)
		}
		for _, t := range f.Triggers {
			if !t.Interrupt {
				continue
			}
			if t.Type == TriggerMessage || (t.Type == TriggerText && len(t.Keywords) == 0 && t.Regex == "") {
				probs.Errorf(f.File, fmt.Sprintf("triggers[%d].interrupt", t.index), t.pos.Line, t.pos.Col,
					"an interrupt trigger that matches any message would end every question before it is answered: give it keywords, like keywords: [menu, cancel]")
			}
		}
	}
	s.checkSpins(probs)
	s.checkReach(probs)
}

// checkReach reports the nodes of each flow that nothing reaches, counting gotos from any
// flow as ways in.
func (s *Set) checkReach(probs *problem.List) {
	reached := map[*Node]bool{}
	var walk func(f *Flow, n *Node)
	walk = func(f *Flow, n *Node) {
		if n == nil || reached[n] {
			return
		}
		reached[n] = true
		for _, x := range f.successors(n) {
			walk(f, x)
		}
	}
	for _, f := range s.Flows {
		for _, n := range f.Nodes {
			if n.Goto == nil || n.Goto.Node == "" {
				continue
			}
			if g, ok := s.byName[n.Goto.Flow]; ok {
				walk(g, g.byID[n.Goto.Node])
			}
		}
	}
	for _, f := range s.Flows {
		reportUnreachable(f, probs, reached)
	}
}

// checkSpins reports loops through set or goto nodes that never wait (ask, http, ai,
// handoff): a run would spin through them until the step bound stops it. Loops of branches
// alone, and of replies within one flow, are reported elsewhere.
func (s *Set) checkSpins(probs *problem.List) {
	type key struct {
		f *Flow
		n *Node
	}
	succ := func(k key) []key {
		var out []key
		for _, x := range k.f.successors(k.n) {
			out = append(out, key{k.f, x})
		}
		if g := k.n.Goto; g != nil {
			if gf, ok := s.byName[g.Flow]; ok {
				id := g.Node
				if id == "" && len(gf.Nodes) > 0 {
					id = gf.Nodes[0].ID
				}
				if x, ok := gf.byID[id]; ok {
					out = append(out, key{gf, x})
				}
			}
		}
		return out
	}
	state := map[key]int{}
	reported := map[key]bool{}
	var visit func(k key, stack []key)
	visit = func(k key, stack []key) {
		state[k] = 1
		stack = append(stack, k)
		for _, nx := range succ(k) {
			switch state[nx] {
			case 0:
				visit(nx, stack)
			case 1:
				var cycle []string
				waits, spins, replies, cross := false, false, false, false
				for i := len(stack) - 1; i >= 0; i-- {
					x := stack[i]
					name := x.n.ID
					if x.f != nx.f {
						name = x.f.Name + "." + x.n.ID
					}
					cycle = append([]string{name}, cycle...)
					waits = waits || x.n.waits()
					spins = spins || x.n.Type == NodeSet || x.n.Type == NodeGoto
					replies = replies || x.n.Type == NodeReply
					cross = cross || x.f != nx.f
					if x == nx {
						break
					}
				}
				// A loop of replies within one flow is reported by the flow's own check.
				if spins && !waits && !(replies && !cross) && !reported[nx] {
					reported[nx] = true
					probs.Errorf(nx.f.File, "", nx.n.pos.Line, nx.n.pos.Col,
						"loop %s -> %s never waits for the contact: a run would spin through it; put an ask (or an http, ai or handoff node) in the loop, or end it", strings.Join(cycle, " -> "), nx.n.ID)
				}
			}
		}
		state[k] = 2
	}
	for _, f := range s.Flows {
		if s.byName[f.Name] != f {
			continue
		}
		for _, n := range f.Nodes {
			k := key{f, n}
			if state[k] == 0 && f.byID[n.ID] == n {
				visit(k, nil)
			}
		}
	}
}
