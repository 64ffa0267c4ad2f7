package flow

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Defaults and bounds of the conversation nodes.
const (
	DefaultMaxRetries          = 2
	MaxMaxRetries              = 10
	DefaultConversationTimeout = time.Hour
	MaxWaitTimeout             = 30 * 24 * time.Hour
	DefaultHTTPTimeout         = 10 * time.Second
	MaxHTTPTimeout             = 30 * time.Second
	DefaultHTTPRetries         = 2
	MaxHTTPRetries             = 5
	MaxAIHistory               = 20
	AITimeout                  = 30 * time.Second
)

// HTTPMethods are the methods an http node may use.
var HTTPMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Ask is the config of an ask node: the question is the node's reply part.
type Ask struct {
	SaveAs       string
	Expect       string
	Pattern      string
	Validate     string
	RetryMessage string // "" : the default of Expect
	MaxRetries   int
	OnInvalid    string
	Timeout      time.Duration // 0: the conversation timeout of the bundle
	OnTimeout    string

	re       *regexp.Regexp
	validate *vm.Program
	retry    text
	invPos   pos
	toPos    pos
}

// SetConfig is the config of a set node: expressions evaluated in order.
type SetConfig struct {
	Vars []*Assign
	User []*Assign
}

// Assign is one name: expression of a set node.
type Assign struct {
	Name       string
	Expression string
	prog       *vm.Program
	pos        pos
}

// Goto continues the conversation in Flow at Node (its first node when empty).
type Goto struct {
	Flow string
	Node string

	flowPos, nodePos pos
}

// Header is one request header or query parameter of an http node.
type Header struct {
	Name  string
	Value string
	t     text
}

// HTTPConfig is the config of an http node.
type HTTPConfig struct {
	Method  string
	URL     string
	Headers []Header
	Query   []Header
	HasJSON bool
	Body    string
	Timeout time.Duration
	Retries int
	SaveAs  string
	OnError string

	url     text
	json    *jsonT
	body    text
	errPos  pos
	secrets []string
}

// AIConfig is the config of an ai node.
type AIConfig struct {
	System      string
	Prompt      string // "": the contact's last message
	History     int
	Model       string
	Temperature *float64
	MaxTokens   int
	SaveAs      string
	Send        bool
	OnError     string

	system, prompt text
	errPos         pos
	secrets        []string
}

// HandoffConfig is the config of a handoff node.
type HandoffConfig struct {
	Message   string
	Queue     string
	Note      string
	Timeout   time.Duration // 0: no timeout
	OnRelease string

	message, note text
	relPos        pos
}

// text is a string that may hold {{ }}: a literal when t is nil.
type text struct {
	lit string
	t   *tmpl
}

func (x text) render(env *Env) (string, error) {
	if x.t == nil {
		return x.lit, nil
	}
	return x.t.render(env)
}

// userRead is a read of user.NAME somewhere in a flow (for the "never set" warning).
type userRead struct {
	name string
	path string
	at   pos
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var exprWords = []string{"true", "false", "nil", "in", "not", "and", "or", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"}

// checkName reports a save_as or set name that cannot be read back as vars.NAME.
func (p *parser) checkName(v *yaml.Node, path, name string) {
	switch {
	case !nameRe.MatchString(name):
		p.errf(v, path, "%q is not a valid name: use letters, digits and _, starting with a letter, like order_id", name)
	case contains(exprWords, name):
		p.errf(v, path, "%s is a word of the expression language: pick another name", name)
	}
}

// text reads a templated string; secretsOK allows secrets.NAME.
func (p *parser) text(v *yaml.Node, path string, secretsOK, required bool) text {
	if v == nil {
		if required {
			p.errf(p.lastMap, path, "missing %s", lastKey(path))
		}
		return text{}
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errf(v, path, "%s must be text, not %s", lastKey(path), kindName(v))
		return text{}
	}
	if required && strings.TrimSpace(v.Value) == "" {
		p.errf(v, path, "empty %s", lastKey(path))
	}
	t, errs := parseTemplateWith(v.Value, secretsOK)
	for _, e := range errs {
		p.errAt(p.stringPos(v, e.off), path, "%s", templateMessage(e.msg))
	}
	p.noteRefs(v, path, t)
	return text{lit: v.Value, t: t}
}

// noteRefs records the user.* reads of a template.
func (p *parser) noteRefs(v *yaml.Node, path string, t *tmpl) {
	if t == nil {
		return
	}
	for _, r := range t.refs {
		if r.scope == "user" {
			p.userReads = append(p.userReads, userRead{name: r.name, path: path, at: p.stringPos(v, r.off)})
		}
	}
}

// compileExpr compiles a set or validate expression and reports its problems in place.
func (p *parser) compileExpr(v *yaml.Node, path, src string, opts ...expr.Option) *vm.Program {
	for _, r := range scanRefs(src) {
		switch r.scope {
		case "secrets":
			p.errAt(p.stringPos(v, r.off), path, "%s", secretsMessage)
			return nil
		case "user":
			p.userReads = append(p.userReads, userRead{name: r.name, path: path, at: p.stringPos(v, r.off)})
		}
	}
	prog, err := expr.Compile(src, append(opts, budgetOptions()...)...)
	if err != nil {
		off, msg := exprErrorOffset(err)
		at := p.stringPos(v, byteOffset(src, off))
		if strings.HasPrefix(msg, "unknown name") {
			msg += ": known names are " + knownNames() + "; quote text, like \"'de'\""
		}
		p.errAt(at, path, "%s", msg)
		return nil
	}
	return prog
}

// duration reads a duration like 90s, 30m, 8h or 2d.
func (p *parser) duration(m *mapNode, key string, max time.Duration) (time.Duration, bool) {
	s, v := p.scalar(m, key, "", false)
	if v == nil {
		return 0, false
	}
	d, err := parseDuration(s)
	path := join(m.path, key)
	switch {
	case err != nil:
		p.errf(v, path, "%s %q is not a duration: write it like 90s, 30m, 8h or 2d", key, s)
		return 0, false
	case d <= 0:
		p.errf(v, path, "%s must be more than 0", key)
		return 0, false
	case d > max:
		p.errf(v, path, "%s %s is too long: at most %s", key, s, fmtDuration(max))
		return 0, false
	}
	return d, true
}

// parseDuration is time.ParseDuration plus days ("2d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("bad days")
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}

func fmtDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// integer reads a whole number between lo and hi.
func (p *parser) integer(m *mapNode, key string, lo, hi int) (int, bool) {
	v := m.val(key)
	if v == nil {
		return 0, false
	}
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || n < lo || n > hi {
		p.errf(v, join(m.path, key), "%s must be a whole number from %d to %d", key, lo, hi)
		return 0, false
	}
	return n, true
}

// target reads a node id of the same flow (checked with the flow's nodes later).
func (p *parser) target(m *mapNode, key string) (string, pos) {
	s, v := p.scalar(m, key, "", false)
	if v != nil && s == "" {
		p.errf(v, join(m.path, key), "empty %s: give a node id or remove it", key)
	}
	return s, posOf(v)
}

// configNext reads config.next, which may stand in for the node's next.
func (p *parser) configNext(node *Node, m *mapNode) {
	next, nn := p.scalar(m, "next", "", false)
	if nn == nil {
		return
	}
	if node.Next != "" {
		p.errf(nn, join(m.path, "next"), "next is given twice, on the node and in its config: keep one")
		return
	}
	node.Next, node.nextPos = next, posOf(nn)
}

// subMapping is a mapping with only the given keys of m, in source order.
func subMapping(m *mapNode, keys []string) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: m.n.Line, Column: m.n.Column}
	for i := 0; i+1 < len(m.n.Content); i += 2 {
		k := m.n.Content[i].Value
		if contains(keys, k) && m.keys[k] == m.n.Content[i] {
			out.Content = append(out.Content, m.n.Content[i], m.vals[k])
		}
	}
	return out
}

var askKeys = []string{"save_as", "expect", "pattern", "validate", "retry_message", "max_retries", "on_invalid", "timeout", "on_timeout", "next"}

func (p *parser) ask(node *Node, cfg *yaml.Node, path string) {
	replyPart := append(append([]string{}, replyKinds...), "preview_url", "retry_on_rate_limit")
	m, ok := p.mapping(cfg, path, "an ask config", append(append([]string{}, replyPart...), askKeys...)...)
	if !ok {
		return
	}
	a := &Ask{MaxRetries: DefaultMaxRetries}
	node.Ask = a
	hasQuestion := false
	for _, k := range replyKinds {
		hasQuestion = hasQuestion || m.has(k)
	}
	if hasQuestion {
		p.reply(node, subMapping(m, replyPart), path)
		p.lastMap = cfg
	} else {
		for _, k := range []string{"preview_url", "retry_on_rate_limit"} {
			if m.has(k) {
				p.errf(m.key(k), join(path, k), "%s applies to the question: add message (or another reply kind) or remove it", k)
			}
		}
	}
	p.configNext(node, m)

	var sv *yaml.Node
	a.SaveAs, sv = p.scalar(m, "save_as", ": the name the answer is saved as, like save_as: order_id", true)
	if sv != nil && a.SaveAs != "" {
		p.checkName(sv, join(path, "save_as"), a.SaveAs)
	}
	interactive := node.msg != nil && node.msg.Interactive != nil && (node.msg.Interactive.Type == "button" || node.msg.Interactive.Type == "list")
	a.Expect = ExpectText
	switch {
	case interactive:
		a.Expect = ExpectChoice
	case opensFlow(node.msg):
		a.Expect = ExpectFlow
	}
	if e, ev := p.scalar(m, "expect", "", false); ev != nil {
		a.Expect = e
		switch {
		case !contains(Expects, e):
			msg := fmt.Sprintf("unknown expect %s: use one of %s", e, strings.Join(Expects, ", "))
			if near := problem.Nearest(e, Expects); near != "" {
				msg = fmt.Sprintf("unknown expect %s, did you mean %s? (one of %s)", e, near, strings.Join(Expects, ", "))
			}
			p.errf(ev, join(path, "expect"), "%s", msg)
			a.Expect = ""
		case e == ExpectChoice && !interactive:
			p.errf(ev, join(path, "expect"), "expect: choice needs a question with interactive buttons or a list: offer the choices, or expect text")
		}
	}
	if pat, pv := p.scalar(m, "pattern", "", false); pv != nil {
		a.Pattern = pat
		re, err := regexp.Compile(pat)
		switch {
		case a.Expect != ExpectText && a.Expect != "":
			p.errf(pv, join(path, "pattern"), "pattern applies to expect: text answers only: remove it or use validate")
		case err != nil:
			p.errf(pv, join(path, "pattern"), "invalid regex: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		case pat == "":
			p.errf(pv, join(path, "pattern"), "empty pattern: remove it to accept any text")
		}
		a.re = re
	}
	if vv := m.val("validate"); vv != nil {
		if vv.Kind != yaml.ScalarNode || strings.TrimSpace(vv.Value) == "" {
			p.errf(vv, join(path, "validate"), "validate must be an expression over answer, like len(answer) <= 10")
		} else if a.Expect != "" {
			a.Validate = vv.Value
			a.validate = p.compileExpr(vv, join(path, "validate"), vv.Value, expr.Env(answerEnvOf(a.Expect, nil, nil)), expr.AsBool())
		}
	}
	if rv := m.val("retry_message"); rv != nil {
		a.retry = p.text(rv, join(path, "retry_message"), false, true)
		a.RetryMessage = a.retry.lit
		if a.retry.t == nil && utf8.RuneCountInString(a.RetryMessage) > whatsapp.MaxTextBody {
			p.errf(rv, join(path, "retry_message"), "retry_message is %d characters, the Cloud API allows %d", utf8.RuneCountInString(a.RetryMessage), whatsapp.MaxTextBody)
		}
	}
	if n, ok := p.integer(m, "max_retries", 0, MaxMaxRetries); ok {
		a.MaxRetries = n
	}
	a.OnInvalid, a.invPos = p.target(m, "on_invalid")
	a.Timeout, _ = p.duration(m, "timeout", MaxWaitTimeout)
	a.OnTimeout, a.toPos = p.target(m, "on_timeout")
}

func (p *parser) set(node *Node, cfg *yaml.Node, path string) {
	m, ok := p.mapping(cfg, path, "a set config", "vars", "user", "next")
	if !ok {
		return
	}
	p.configNext(node, m)
	sc := &SetConfig{}
	node.Set = sc
	if !m.has("vars") && !m.has("user") {
		p.errf(cfg, path, "a set node needs vars or user, like vars: {tries: \"(vars.tries ?? 0) + 1\"}")
	}
	read := func(key string) []*Assign {
		v := m.val(key)
		if v == nil {
			return nil
		}
		kp := join(path, key)
		if v.Kind != yaml.MappingNode {
			p.errf(v, kp, "%s must be a mapping of names to expressions", key)
			return nil
		}
		var out []*Assign
		seen := map[string]bool{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, ev := v.Content[i], v.Content[i+1]
			np := join(kp, k.Value)
			p.checkName(k, np, k.Value)
			if seen[k.Value] {
				p.errf(k, np, "%s is set twice: keep one", k.Value)
				continue
			}
			seen[k.Value] = true
			as := &Assign{Name: k.Value, pos: posOf(k)}
			if ev.Kind != yaml.ScalarNode || ev.Tag == "!!null" || strings.TrimSpace(ev.Value) == "" {
				p.errf(ev, np, "%s must be an expression, like \"'de'\" or \"(vars.tries ?? 0) + 1\"", k.Value)
				continue
			}
			as.Expression = ev.Value
			as.prog = p.compileExpr(ev, np, ev.Value, expr.Env(Env{}))
			out = append(out, as)
		}
		return out
	}
	sc.Vars = read("vars")
	sc.User = read("user")
}

func (p *parser) gotoNode(node *Node, cfg *yaml.Node, path string) {
	m, ok := p.mapping(cfg, path, "a goto config", "flow", "node")
	if !ok {
		return
	}
	g := &Goto{}
	node.Goto = g
	var fv, nv *yaml.Node
	g.Flow, fv = p.scalar(m, "flow", ": the name of the flow to continue in", true)
	g.flowPos = posOf(fv)
	g.Node, nv = p.scalar(m, "node", "", false)
	g.nodePos = posOf(nv)
	if nv != nil && g.Node == "" {
		p.errf(nv, join(path, "node"), "empty node: remove it to start at the flow's first node")
	}
	if node.Next != "" {
		p.errAt(node.nextPos, "next", "a goto continues in flow %s: remove next", g.Flow)
	}
}

var settingRe = regexp.MustCompile(`^settings\.([A-Za-z_][A-Za-z0-9_]*)$`)

// urlSetting is NAME when t starts with {{settings.NAME}} (a base URL the rest of the url
// extends), else "".
func urlSetting(t *tmpl) string {
	if len(t.segs) == 0 || t.segs[0].prog == nil {
		return ""
	}
	m := settingRe.FindStringSubmatch(t.segs[0].src)
	if m == nil || !contains(SettingNames, m[1]) {
		return ""
	}
	return m[1]
}

// startsWithSetting reports whether a url starts with {{settings.NAME}} (an unknown NAME
// is reported by the expression's own problem).
func startsWithSetting(url string) bool {
	rest, ok := strings.CutPrefix(url, "{{")
	if !ok {
		return false
	}
	inside, _, ok := strings.Cut(rest, "}}")
	return ok && settingRe.MatchString(strings.TrimSpace(inside))
}

var headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// reservedHeaders are set by gtc or the HTTP client.
var reservedHeaders = []string{"host", "content-length", "idempotency-key", "transfer-encoding", "connection"}

func (p *parser) httpNode(node *Node, cfg *yaml.Node, path string) {
	m, ok := p.mapping(cfg, path, "an http config", "method", "url", "headers", "query", "json", "body", "timeout", "retries", "save_as", "on_error", "next")
	if !ok {
		return
	}
	p.configNext(node, m)
	h := &HTTPConfig{Method: http.MethodGet, Timeout: DefaultHTTPTimeout, Retries: DefaultHTTPRetries}
	node.HTTP = h
	if meth, mv := p.scalar(m, "method", "", false); mv != nil {
		h.Method = strings.ToUpper(meth)
		if !contains(HTTPMethods, h.Method) {
			p.errf(mv, join(path, "method"), "unknown method %s: use one of %s", meth, strings.Join(HTTPMethods, ", "))
		}
	}
	uv := m.val("url")
	h.url = p.text(uv, join(path, "url"), true, true)
	h.URL = h.url.lit
	if uv != nil && h.URL != "" {
		lit := h.URL
		if i := strings.Index(lit, "{{"); i >= 0 {
			lit = lit[:i]
		}
		switch {
		case lit == "" && startsWithSetting(h.URL):
			// {{settings.NAME}} at the start: the rendered URL is checked when the node runs.
		case !strings.HasPrefix(lit, "http://") && !strings.HasPrefix(lit, "https://"):
			p.errf(uv, join(path, "url"), "url must start with http:// or https:// (written out) or with a setting, like {{settings.order_api_url}}/{{vars.order_id}}")
		case h.url.t == nil:
			if err := checkURL(h.URL); err != nil {
				p.errf(uv, join(path, "url"), "bad url %q: use an absolute http(s) URL like https://shop.example.com/api/orders", h.URL)
			}
		}
	}
	pairs := func(key string) []Header {
		v := m.val(key)
		if v == nil {
			return nil
		}
		kp := join(path, key)
		if v.Kind != yaml.MappingNode {
			p.errf(v, kp, "%s must be a mapping of names to values", key)
			return nil
		}
		var out []Header
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, hv := v.Content[i], v.Content[i+1]
			np := join(kp, k.Value)
			if key == "headers" {
				if !headerNameRe.MatchString(k.Value) {
					p.errf(k, np, "%q is not a header name", k.Value)
				} else if contains(reservedHeaders, strings.ToLower(k.Value)) {
					p.errf(k, np, "gtc sets %s itself: remove it", k.Value)
				}
			} else if k.Value == "" {
				p.errf(k, np, "empty query parameter name")
			}
			t := p.text(hv, np, true, false)
			out = append(out, Header{Name: k.Value, Value: t.lit, t: t})
		}
		return out
	}
	h.Headers = pairs("headers")
	h.Query = pairs("query")
	if jv := m.val("json"); jv != nil {
		h.HasJSON = true
		h.json = p.jsonValue(jv, join(path, "json"))
	}
	if bv := m.val("body"); bv != nil {
		h.body = p.text(bv, join(path, "body"), true, false)
		h.Body = h.body.lit
		if h.HasJSON {
			p.errf(m.key("body"), join(path, "body"), "give json or body, not both")
		}
	}
	if (h.HasJSON || m.has("body")) && (h.Method == http.MethodGet || h.Method == http.MethodDelete) && m.has("method") {
		p.errf(m.val("method"), join(path, "method"), "a %s request has no body: use POST, PUT or PATCH, or move the values to query", h.Method)
	} else if (h.HasJSON || m.has("body")) && !m.has("method") {
		p.errf(cfg, join(path, "method"), "missing method: a request with a body needs method: POST (or PUT or PATCH)")
	}
	if d, ok := p.duration(m, "timeout", MaxHTTPTimeout); ok {
		h.Timeout = d
	}
	if n, ok := p.integer(m, "retries", 0, MaxHTTPRetries); ok {
		h.Retries = n
	}
	h.SaveAs = p.saveAs(m, false)
	h.OnError, h.errPos = p.target(m, "on_error")
	for _, x := range []text{h.url, h.body} {
		h.secrets = appendNew(h.secrets, x.t.secrets()...)
	}
	for _, x := range append(append([]Header{}, h.Headers...), h.Query...) {
		h.secrets = appendNew(h.secrets, x.t.t.secrets()...)
	}
	h.secrets = appendNew(h.secrets, h.json.secrets()...)
}

func appendNew(list []string, items ...string) []string {
	for _, s := range items {
		if !contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// saveAs reads an optional save_as name.
func (p *parser) saveAs(m *mapNode, required bool) string {
	s, v := p.scalar(m, "save_as", ": the name the result is saved as", required)
	if v != nil && s != "" {
		p.checkName(v, join(m.path, "save_as"), s)
	}
	return s
}

func (p *parser) aiNode(node *Node, cfg *yaml.Node, path string) {
	m, ok := p.mapping(cfg, path, "an ai config", "system", "prompt", "history", "model", "temperature", "max_tokens", "save_as", "send", "on_error", "next")
	if !ok {
		return
	}
	p.configNext(node, m)
	a := &AIConfig{Send: true}
	node.AI = a
	if v := m.val("system"); v != nil {
		a.system = p.text(v, join(path, "system"), true, true)
		a.System = a.system.lit
	}
	if v := m.val("prompt"); v != nil {
		a.prompt = p.text(v, join(path, "prompt"), true, true)
		a.Prompt = a.prompt.lit
	}
	if n, ok := p.integer(m, "history", 0, MaxAIHistory); ok {
		a.History = n
	}
	a.Model, _ = p.scalar(m, "model", "", false)
	if t, ok := p.number(m, "temperature", false); ok {
		if t < 0 || t > 2 {
			p.errf(m.val("temperature"), join(path, "temperature"), "temperature must be from 0 to 2")
		}
		a.Temperature = &t
	}
	if n, ok := p.integer(m, "max_tokens", 1, 1<<20); ok {
		a.MaxTokens = n
	}
	a.SaveAs = p.saveAs(m, false)
	if m.has("send") {
		a.Send = p.boolean(m, "send")
	}
	if !a.Send && a.SaveAs == "" {
		p.errf(cfg, path, "an ai node with send: false needs save_as, or its answer is lost")
	}
	a.OnError, a.errPos = p.target(m, "on_error")
	a.secrets = appendNew(a.secrets, a.system.t.secrets()...)
	a.secrets = appendNew(a.secrets, a.prompt.t.secrets()...)
}

func (p *parser) handoff(node *Node, cfg *yaml.Node, path string) {
	m, ok := p.mapping(cfg, path, "a handoff config", "message", "queue", "note", "timeout", "on_release")
	if !ok {
		return
	}
	h := &HandoffConfig{}
	node.Handoff = h
	if v := m.val("message"); v != nil {
		h.message = p.text(v, join(path, "message"), false, true)
		h.Message = h.message.lit
		if h.message.t == nil && utf8.RuneCountInString(h.Message) > whatsapp.MaxTextBody {
			p.errf(v, join(path, "message"), "message is %d characters, the Cloud API allows %d", utf8.RuneCountInString(h.Message), whatsapp.MaxTextBody)
		}
	}
	h.Queue, _ = p.scalar(m, "queue", "", false)
	if v := m.val("note"); v != nil {
		h.note = p.text(v, join(path, "note"), false, false)
		h.Note = h.note.lit
	}
	h.Timeout, _ = p.duration(m, "timeout", MaxWaitTimeout)
	h.OnRelease, h.relPos = p.target(m, "on_release")
	if node.Next != "" {
		p.errAt(node.nextPos, "next", "a handoff resumes at on_release when a person hands the contact back: use on_release instead of next")
	}
}

// jsonT is a JSON body whose strings may hold {{ }}.
type jsonT struct {
	obj   []string // keys, for objects
	kids  []*jsonT // values of objects and arrays
	isObj bool
	arr   bool
	str   *text
	lit   any // numbers, booleans, null
}

func (j *jsonT) secrets() []string {
	if j == nil {
		return nil
	}
	var out []string
	if j.str != nil {
		out = j.str.t.secrets()
	}
	for _, k := range j.kids {
		out = appendNew(out, k.secrets()...)
	}
	return out
}

func (p *parser) jsonValue(v *yaml.Node, path string) *jsonT {
	switch v.Kind {
	case yaml.MappingNode:
		j := &jsonT{isObj: true}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := v.Content[i]
			j.obj = append(j.obj, k.Value)
			j.kids = append(j.kids, p.jsonValue(v.Content[i+1], join(path, k.Value)))
		}
		return j
	case yaml.SequenceNode:
		j := &jsonT{arr: true}
		for i, c := range v.Content {
			j.kids = append(j.kids, p.jsonValue(c, fmt.Sprintf("%s[%d]", path, i)))
		}
		return j
	case yaml.AliasNode:
		if v.Alias != nil {
			return p.jsonValue(v.Alias, path)
		}
	case yaml.ScalarNode:
		if v.Tag == "!!str" || v.Style != 0 {
			t := p.text(v, path, true, false)
			return &jsonT{str: &t}
		}
		var x any
		if err := v.Decode(&x); err != nil {
			p.errf(v, path, "%v", err)
		}
		return &jsonT{lit: x}
	}
	return &jsonT{}
}

// answerEnvOf is the environment of an ask's validate expression: Env plus answer, typed by
// expect. value is the parsed answer (nil when compiling).
func answerEnvOf(expect string, env *Env, value any) any {
	switch expect {
	case ExpectNumber:
		f, _ := value.(float64)
		return numberAnswerEnv{Env: env, Answer: f}
	case ExpectLocation:
		m, _ := value.(map[string]any)
		return locationAnswerEnv{Env: env, Answer: LocationEnv{Latitude: num(m["latitude"]), Longitude: num(m["longitude"]), Name: str(m["name"]), Address: str(m["address"])}}
	case ExpectMedia:
		m, _ := value.(map[string]any)
		return mediaAnswerEnv{Env: env, Answer: MediaEnv{Type: str(m["type"]), ID: str(m["id"]), MimeType: str(m["mime_type"]), Caption: str(m["caption"])}}
	case ExpectAny, ExpectFlow:
		m, _ := value.(map[string]any)
		return anyAnswerEnv{Env: env, Answer: m}
	}
	s, _ := value.(string)
	return textAnswerEnv{Env: env, Answer: s}
}

func num(v any) float64 { f, _ := v.(float64); return f }
func str(v any) string  { s, _ := v.(string); return s }

// MediaEnv is `answer` of an ask expecting media.
type MediaEnv struct {
	Type     string `expr:"type"`
	ID       string `expr:"id"`
	MimeType string `expr:"mime_type"`
	Caption  string `expr:"caption"`
}

type textAnswerEnv struct {
	*Env
	Answer string `expr:"answer"`
}

type numberAnswerEnv struct {
	*Env
	Answer float64 `expr:"answer"`
}

type locationAnswerEnv struct {
	*Env
	Answer LocationEnv `expr:"answer"`
}

type mediaAnswerEnv struct {
	*Env
	Answer MediaEnv `expr:"answer"`
}

type anyAnswerEnv struct {
	*Env
	Answer map[string]any `expr:"answer"`
}
