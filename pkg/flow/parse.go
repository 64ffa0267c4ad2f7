package flow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// ParseFile reads, parses and validates one flow file. Every problem comes back at once as
// a *problem.Error.
func ParseFile(path string) (*Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flow: %w", err)
	}
	f, probs := Parse(path, data)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// Parse parses and validates one flow from data; file names the problems. The flow is nil
// when the file is not a flow at all; otherwise it is returned with whatever could be
// parsed, and probs says whether it may be run (no errors).
func Parse(file string, data []byte) (*Flow, *problem.List) {
	f, probs := parseFlow(file, data)
	if f != nil {
		reportUnreachable(f, probs, nil)
	}
	return f, probs
}

// parseFlow is Parse without the unreachable nodes, which a set reports knowing its gotos.
func parseFlow(file string, data []byte) (*Flow, *problem.List) {
	p := &parser{file: file, probs: &problem.List{}}
	f := p.parse(data)
	if f != nil {
		p.validate(f)
	}
	return f, p.probs
}

type parser struct {
	file  string
	probs *problem.List
	// lastMap is the mapping checked last: where a missing key is reported.
	lastMap *yaml.Node
	// lines are the source lines, to place errors inside strings.
	lines []string
	// userReads are the user.* names the flow's expressions read.
	userReads []userRead
	// literal takes every string as written: no {{ }} (ParseLiteralReply).
	literal bool
}

func (p *parser) errf(n *yaml.Node, path, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.probs.Errorf(p.file, path, line, col, format, args...)
}

func (p *parser) errAt(at pos, path, format string, args ...any) {
	p.probs.Errorf(p.file, path, at.Line, at.Col, format, args...)
}

func (p *parser) warnAt(at pos, path, format string, args ...any) {
	p.probs.Warnf(p.file, path, at.Line, at.Col, format, args...)
}

func posOf(n *yaml.Node) pos {
	if n == nil {
		return pos{}
	}
	return pos{n.Line, n.Column}
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) parse(data []byte) *Flow {
	p.lines = strings.Split(string(data), "\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		p.probs.Errorf(p.file, "", line, 0, "invalid YAML: %s", msg)
		return nil
	}
	if len(doc.Content) == 0 {
		p.probs.Errorf(p.file, "", 1, 1, "empty flow: write name, version, nodes and triggers")
		return nil
	}
	root := doc.Content[0]
	m, ok := p.mapping(root, "", "a flow", "name", "version", "description", "nodes", "triggers")
	if !ok {
		return nil
	}
	f := &Flow{File: p.file, byID: map[string]*Node{}, pos: posOf(root)}
	f.Name, _ = p.scalar(m, "name", "", true)
	if f.Name != "" && !idRe.MatchString(f.Name) {
		p.errf(m.val("name"), "name", "flow name %q may only use letters, digits, _ and -", f.Name)
	}
	f.Version, _ = p.scalar(m, "version", "", false)
	f.Description, _ = p.scalar(m, "description", "", false)

	nodes := m.val("nodes")
	if nodes == nil {
		p.errf(root, "nodes", "missing nodes: add a list of nodes, each with id, type and config")
	} else if items, ok := p.seq(nodes, "nodes"); ok {
		if len(items) == 0 {
			p.errf(nodes, "nodes", "a flow needs at least one node")
		}
		for i, n := range items {
			if node := p.node(n, fmt.Sprintf("nodes[%d]", i)); node != nil {
				f.Nodes = append(f.Nodes, node)
			}
		}
	}
	if t := m.val("triggers"); t != nil {
		if items, ok := p.seq(t, "triggers"); ok {
			for i, n := range items {
				if tr := p.trigger(n, fmt.Sprintf("triggers[%d]", i)); tr != nil {
					tr.flow = f
					tr.index = i
					f.Triggers = append(f.Triggers, tr)
				}
			}
		}
	}
	f.userReads = p.userReads
	return f
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// mapNode is a YAML mapping whose keys were checked against the known ones.
type mapNode struct {
	n    *yaml.Node
	path string
	keys map[string]*yaml.Node // key node
	vals map[string]*yaml.Node
}

func (m *mapNode) val(key string) *yaml.Node { return m.vals[key] }
func (m *mapNode) key(key string) *yaml.Node { return m.keys[key] }
func (m *mapNode) has(key string) bool       { return m.vals[key] != nil }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping checks that n is a mapping whose keys are all known and appear once.
func (p *parser) mapping(n *yaml.Node, path, what string, known ...string) (*mapNode, bool) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, path, "%s must be a mapping with keys %s", what, strings.Join(known, ", "))
		return nil, false
	}
	p.lastMap = n
	m := &mapNode{n: n, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errf(k, path, "keys must be plain names")
			continue
		}
		if !contains(known, k.Value) {
			p.errf(k, join(path, k.Value), "%s", problem.UnknownKey(k.Value, known))
			continue
		}
		if prev := m.keys[k.Value]; prev != nil {
			p.errf(k, join(path, k.Value), "duplicate key %s (first at line %d): keep one", k.Value, prev.Line)
			continue
		}
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		m.keys[k.Value], m.vals[k.Value] = k, v
	}
	return m, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) seq(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, path, "%s must be a list", path)
		return nil, false
	}
	return n.Content, true
}

// scalar reads a scalar value of m[key] as a string; required reports a missing one.
func (p *parser) scalar(m *mapNode, key, what string, required bool) (string, *yaml.Node) {
	v := m.val(key)
	path := join(m.path, key)
	if v == nil {
		if required {
			p.errf(m.n, path, "missing %s%s", key, what)
		}
		return "", nil
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errf(v, path, "%s must be a single value, not %s", key, kindName(v))
		return "", nil
	}
	if required && v.Value == "" {
		p.errf(v, path, "empty %s%s", key, what)
	}
	if !p.literal && strings.Contains(v.Value, "{{") && key != "regex" && key != "pattern" {
		p.errf(v, path, "%s cannot use {{ }}: it is fixed when the flow loads (only texts, captions, ids of buttons and rows, links and parameters are rendered)", key)
	}
	return v.Value, v
}

func kindName(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "empty"
	}
	return "a value"
}

func (p *parser) boolean(m *mapNode, key string) bool {
	v := m.val(key)
	if v == nil {
		return false
	}
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		p.errf(v, join(m.path, key), "%s must be true or false", key)
		return false
	}
	b, _ := strconv.ParseBool(v.Value)
	return b
}

func (p *parser) number(m *mapNode, key string, required bool) (float64, bool) {
	v := m.val(key)
	path := join(m.path, key)
	if v == nil {
		if required {
			p.errf(m.n, path, "missing %s", key)
		}
		return 0, false
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") || err != nil {
		p.errf(v, path, "%s must be a number", key)
		return 0, false
	}
	return f, true
}

func (p *parser) node(n *yaml.Node, path string) *Node {
	m, ok := p.mapping(n, path, "a node", "id", "type", "config", "next")
	if !ok {
		return nil
	}
	node := &Node{pos: posOf(n)}
	var idNode *yaml.Node
	node.ID, idNode = p.scalar(m, "id", ": give the node an id like send_welcome", true)
	if idNode != nil {
		node.pos = posOf(idNode)
		if node.ID != "" && !idRe.MatchString(node.ID) {
			p.errf(idNode, join(path, "id"), "node id %q may only use letters, digits, _, . and -", node.ID)
		}
	}
	var typNode *yaml.Node
	node.Type, typNode = p.scalar(m, "type", ": one of "+strings.Join(NodeTypes, ", "), true)
	if next, nn := p.scalar(m, "next", "", false); nn != nil {
		node.Next, node.nextPos = next, posOf(nn)
	}
	cfg := m.val("config")
	if cfg == nil {
		switch node.Type {
		case NodeReply, NodeBranch, NodeSet, NodeGoto, NodeHTTP, NodeAI:
			p.errf(n, join(path, "config"), "missing config of the %s node", node.Type)
		case NodeAsk:
			p.errf(n, join(path, "config"), "missing config of the ask node: at least save_as")
		case NodeHandoff:
			node.Handoff = &HandoffConfig{}
		}
		return node
	}
	cpath := join(path, "config")
	switch node.Type {
	case NodeReply:
		p.reply(node, cfg, cpath)
	case NodeBranch:
		if node.Next != "" {
			p.errAt(node.nextPos, join(path, "next"), "a branch goes on through its conditions and default, not next: remove next")
		}
		p.branch(node, cfg, cpath)
	case NodeAsk:
		p.ask(node, cfg, cpath)
	case NodeSet:
		p.set(node, cfg, cpath)
	case NodeGoto:
		p.gotoNode(node, cfg, cpath)
	case NodeHTTP:
		p.httpNode(node, cfg, cpath)
	case NodeAI:
		p.aiNode(node, cfg, cpath)
	case NodeHandoff:
		p.handoff(node, cfg, cpath)
	case "":
	default:
		msg := fmt.Sprintf("unknown node type %s: use one of %s", node.Type, strings.Join(NodeTypes, ", "))
		if near := problem.Nearest(node.Type, NodeTypes); near != "" {
			msg = fmt.Sprintf("unknown node type %s, did you mean %s? (one of %s)", node.Type, near, strings.Join(NodeTypes, ", "))
		}
		p.errf(typNode, join(path, "type"), "%s", msg)
	}
	return node
}

func (p *parser) branch(node *Node, cfg *yaml.Node, path string) {
	m, ok := p.mapping(cfg, path, "a branch config", "conditions", "default")
	if !ok {
		return
	}
	if d, dn := p.scalar(m, "default", "", false); dn != nil {
		node.Default, node.defPos = d, posOf(dn)
	}
	cs := m.val("conditions")
	if cs == nil {
		if node.Default == "" {
			p.errf(cfg, path, "a branch needs conditions or a default")
		}
		return
	}
	items, ok := p.seq(cs, join(path, "conditions"))
	if !ok {
		return
	}
	for i, c := range items {
		cp := fmt.Sprintf("%s.conditions[%d]", path, i)
		cm, ok := p.mapping(c, cp, "a condition", "expression", "next")
		if !ok {
			continue
		}
		cond := &Condition{}
		var en, nn *yaml.Node
		cond.Expression, en = p.scalar(cm, "expression", ": like button.id == 'help'", true)
		cond.Next, nn = p.scalar(cm, "next", ": the node to go to when the expression is true", true)
		cond.nextPos = posOf(nn)
		if en != nil {
			cond.pos = posOf(en)
			if strings.TrimSpace(cond.Expression) != "" {
				secret := false
				for _, r := range scanRefs(cond.Expression) {
					at := p.stringPos(en, r.off)
					switch r.scope {
					case "secrets":
						p.errAt(at, join(cp, "expression"), "%s", secretsMessage)
						secret = true
					case "user":
						p.userReads = append(p.userReads, userRead{name: r.name, path: join(cp, "expression"), at: at})
					}
				}
				prog, err := compileCondition(cond.Expression)
				if secret {
					prog, err = nil, nil
				}
				if err != nil {
					off, msg := exprErrorOffset(err)
					at := p.stringPos(en, byteOffset(cond.Expression, off))
					p.errAt(at, join(cp, "expression"), "%s", conditionMessage(msg))
				}
				cond.prog = prog
			}
		}
		node.Conditions = append(node.Conditions, cond)
	}
}

// conditionMessage explains expr's compile errors in flow terms.
func conditionMessage(msg string) string {
	if strings.HasPrefix(msg, "expected bool") {
		return "a condition must be true or false, " + msg + ": compare it, like button.id == 'help'"
	}
	if strings.HasPrefix(msg, "unknown name") {
		return msg + ": known names are " + knownNames() + " (variables are vars.name)"
	}
	return msg
}

// stringPos is the position of byte off inside the string value of scalar n, found in
// the source: exact for plain and single-line quoted strings (escapes included) and for
// literal blocks; folded blocks and multi-line quoted strings point at the right line of the
// value's start.
func (p *parser) stringPos(n *yaml.Node, off int) pos {
	if off > len(n.Value) {
		off = len(n.Value)
	}
	before := n.Value[:off]
	line := func(l int) string {
		if l >= 1 && l <= len(p.lines) {
			return p.lines[l-1]
		}
		return ""
	}
	switch n.Style {
	case yaml.LiteralStyle:
		k := strings.Count(before, "\n")
		// The block's indentation is that of its first non-empty line.
		indent := 0
		for l := n.Line + 1; l <= len(p.lines); l++ {
			if src := line(l); strings.TrimSpace(src) != "" {
				indent = len(src) - len(strings.TrimLeft(src, " "))
				break
			}
		}
		last := before[strings.LastIndexByte(before, '\n')+1:]
		return pos{n.Line + 1 + k, indent + 1 + utf8.RuneCountInString(last)}
	case yaml.FoldedStyle:
		return pos{n.Line + 1, n.Column}
	case yaml.SingleQuotedStyle:
		// '' stands for one quote.
		col := n.Column + 1 + utf8.RuneCountInString(before) + strings.Count(before, "'")
		return pos{n.Line, col}
	case yaml.DoubleQuotedStyle:
		src := []rune(line(n.Line))
		i := n.Column // index of the first rune after the opening quote (Column is 1-based)
		for consumed := 0; consumed < off; {
			if i >= len(src) || src[i] == '"' {
				return pos{n.Line, n.Column + 1 + utf8.RuneCountInString(before)} // multi-line: approximate
			}
			if src[i] == '\\' && i+1 < len(src) {
				width, value := escapeWidth(src[i+1:])
				i += width
				consumed += value
				continue
			}
			consumed += utf8.RuneLen(src[i])
			i++
		}
		return pos{n.Line, i + 1}
	}
	return pos{n.Line, n.Column + utf8.RuneCountInString(before)}
}

// escapeWidth is how many source runes the double-quoted escape at esc (after the
// backslash) takes, and how many bytes of the value it stands for.
func escapeWidth(esc []rune) (src, value int) {
	hex := map[rune]int{'x': 2, 'u': 4, 'U': 8}
	if n, ok := hex[esc[0]]; ok && len(esc) > n {
		if r, err := strconv.ParseUint(string(esc[1:1+n]), 16, 32); err == nil {
			return 2 + n, utf8.RuneLen(rune(r))
		}
	}
	switch esc[0] {
	case 'N', '_':
		return 2, 2 // U+0085, U+00A0
	case 'L', 'P':
		return 2, 3 // U+2028, U+2029
	}
	return 2, 1
}

func (p *parser) trigger(n *yaml.Node, path string) *Trigger {
	m, ok := p.mapping(n, path, "a trigger", "type", "target", "keywords", "regex", "reply_type", "id", "payload", "media_type", "interrupt")
	if !ok {
		return nil
	}
	t := &Trigger{pos: posOf(n)}
	t.Interrupt = p.boolean(m, "interrupt")
	var tn *yaml.Node
	t.Type, tn = p.scalar(m, "type", ": message, text, interactive, button, media or location", true)
	if tn != nil {
		t.pos = posOf(tn)
	}
	var targetNode *yaml.Node
	t.Target, targetNode = p.scalar(m, "target", ": the id of the node to start at", true)
	t.tpos = posOf(targetNode)
	allowed := map[string][]string{
		TriggerMessage:     nil,
		TriggerText:        {"keywords", "regex"},
		TriggerInteractive: {"reply_type", "id"},
		TriggerButton:      {"payload"},
		TriggerMedia:       {"media_type"},
		TriggerLocation:    nil,
	}
	extra, known := allowed[t.Type]
	if !known && t.Type != "" {
		p.errf(tn, join(path, "type"), "unknown trigger type %s: use message, text, interactive, button, media or location", t.Type)
		return t
	}
	for _, k := range []string{"keywords", "regex", "reply_type", "id", "payload", "media_type"} {
		if m.has(k) && !contains(extra, k) && t.Type != "" {
			p.errf(m.key(k), join(path, k), "%s does not apply to a %s trigger: remove it", k, t.Type)
		}
	}
	if kw := m.val("keywords"); kw != nil && contains(extra, "keywords") {
		if items, ok := p.seq(kw, join(path, "keywords")); ok {
			if len(items) == 0 {
				p.errf(kw, join(path, "keywords"), "empty keywords: list at least one or remove keywords")
			}
			for i, k := range items {
				if k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
					p.errf(k, fmt.Sprintf("%s.keywords[%d]", path, i), "a keyword must be a non-empty word")
					continue
				}
				t.Keywords = append(t.Keywords, normalizeText(k.Value))
			}
		}
	}
	if contains(extra, "regex") {
		var rn *yaml.Node
		t.Regex, rn = p.scalar(m, "regex", "", false)
		if rn != nil {
			if m.has("keywords") {
				p.errf(rn, join(path, "regex"), "use keywords or regex, not both: split them into two triggers")
			}
			re, err := regexp.Compile(t.Regex)
			if err != nil {
				p.errf(rn, join(path, "regex"), "invalid regex: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			} else if t.Regex == "" {
				p.errf(rn, join(path, "regex"), "empty regex: remove it to match any text")
			}
			t.re = re
		}
	}
	if contains(extra, "reply_type") {
		var rn *yaml.Node
		t.ReplyType, rn = p.scalar(m, "reply_type", "", false)
		if rn != nil && t.ReplyType != "button" && t.ReplyType != "list" && t.ReplyType != "flow" {
			p.errf(rn, join(path, "reply_type"), "reply_type must be button, list or flow (a submitted WhatsApp Flow form; id then matches its flow_token)")
		}
		var idn *yaml.Node
		t.ID, idn = p.scalar(m, "id", "", false)
		if idn != nil && t.ID == "" {
			p.errf(idn, join(path, "id"), "empty id: remove it to match any reply")
		}
	}
	if contains(extra, "payload") {
		var pn *yaml.Node
		t.Payload, pn = p.scalar(m, "payload", "", false)
		if pn != nil && t.Payload == "" {
			p.errf(pn, join(path, "payload"), "empty payload: remove it to match any quick reply")
		}
	}
	if contains(extra, "media_type") {
		var mn *yaml.Node
		t.MediaType, mn = p.scalar(m, "media_type", "", false)
		if mn != nil && !contains(whatsapp.MediaTypes, t.MediaType) {
			p.errf(mn, join(path, "media_type"), "media_type must be one of %s", strings.Join(whatsapp.MediaTypes, ", "))
		}
	}
	return t
}

func normalizeText(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Set is the flows of a bundle, ready to run.
type Set struct {
	Flows    []*Flow
	byName   map[string]*Flow
	triggers []*Trigger // in precedence order
	warnings []problem.Problem
	keep     int // turns of history a conversation keeps (historyKeep)
}

// Flow returns the flow called name.
func (s *Set) Flow(name string) (*Flow, bool) {
	f, ok := s.byName[name]
	return f, ok
}

// Warnings are the problems that do not stop the flows from running (ambiguous triggers).
func (s *Set) Warnings() []problem.Problem { return s.warnings }

// LoadDir loads every *.ygtc file directly inside dir, in file-name order. Every problem of
// every file comes back at once as a *problem.Error. A missing dir is an empty set.
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return newSet(nil, &problem.List{})
	}
	if err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), Ext) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return LoadFiles(files)
}

// LoadFiles loads the given flow files, in the order given, as one set.
func LoadFiles(files []string) (*Set, error) {
	s, probs, err := CheckFiles(files)
	if err != nil {
		return nil, err
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckFiles parses and validates files as one set and returns every problem (errors and
// warnings); the set is only usable when the list has no errors. The error is for I/O.
func CheckFiles(files []string) (*Set, *problem.List, error) {
	probs := &problem.List{}
	var flows []*Flow
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("read flow: %w", err)
		}
		f, fp := parseFlow(file, data)
		probs.Merge(fp)
		if f != nil {
			flows = append(flows, f)
		}
	}
	s, _ := newSet(flows, probs)
	return s, probs, nil
}

// newSet indexes flows, checks names across files and orders triggers; problems go to probs.
func newSet(flows []*Flow, probs *problem.List) (*Set, error) {
	s := &Set{Flows: flows, byName: map[string]*Flow{}}
	for _, f := range flows {
		if f.Name == "" {
			continue
		}
		if prev, ok := s.byName[f.Name]; ok {
			probs.Errorf(f.File, "name", f.pos.Line, f.pos.Col, "flow name %s is already used by %s: flow names must be unique", f.Name, prev.File)
			continue
		}
		s.byName[f.Name] = f
		s.triggers = append(s.triggers, f.Triggers...)
	}
	sort.SliceStable(s.triggers, func(i, j int) bool {
		return s.triggers[i].rank() > s.triggers[j].rank()
	})
	checkAmbiguous(s.triggers, probs)
	s.checkSet(probs)
	s.keep = historyKeep(s.Flows)
	s.warnings = probs.Warnings()
	return s, nil
}
