package flow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Call kinds.
const (
	CallHTTP = "http"
	CallAI   = "ai"
)

// Call is the effect of an http or ai node: the caller runs it (with its retries and
// timeout) and feeds the result back with ResultInput(Step, result).
type Call struct {
	Kind string // CallHTTP or CallAI
	Flow string
	Node string
	Step int64
	// IdempotencyKey goes out as the Idempotency-Key header, the same on every retry.
	IdempotencyKey string
	HTTP           *HTTPRequest
	AI             *AIRequest
	// Secrets are the secret values this call carries: never log, store or show them
	// (Redact replaces them).
	Secrets []string
}

// Redact replaces every secret value of the call in s.
func (c *Call) Redact(s string) string {
	for _, v := range c.Secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[secret]")
		}
	}
	return s
}

// HTTPRequest is a rendered request of an http node. URL, headers and body have their
// {{ }} rendered; values put into the URL are escaped.
type HTTPRequest struct {
	Method      string
	URL         string
	Headers     []HTTPHeader
	Body        []byte
	ContentType string // of Body; "" without a body
	Timeout     time.Duration
	Retries     int
	// URLSecret and BodySecret say that URL or Body hold a secret.
	URLSecret  bool
	BodySecret bool
}

// HTTPHeader is one request header; Secret marks a value that holds a secret.
type HTTPHeader struct {
	Name   string
	Value  string
	Secret bool
}

// AIRequest is a rendered chat completion request of an ai node (the caller adds the
// bundle's base_url, api_key and, when Model is "", model).
type AIRequest struct {
	Model       string
	Messages    []ChatMessage
	Temperature *float64
	MaxTokens   int
	Timeout     time.Duration
	Retries     int
	// Secret marks that the messages hold a secret.
	Secret bool
}

// ChatMessage is one message of a chat completion: role system, user or assistant.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// call stops the conversation at an http or ai node with its Call.
func (r *stepper) call(conv *Conversation, f *Flow, n *Node, env *Env) (*Conversation, error) {
	names := []string(nil)
	if n.HTTP != nil {
		names = n.HTTP.secrets
	} else if n.AI != nil {
		names = n.AI.secrets
	}
	env.Secrets = map[string]any{}
	defer func() { env.Secrets = nil }()
	var secretVals []string
	for _, name := range names {
		var v string
		ok := false
		if r.c.Secret != nil {
			v, ok = r.c.Secret(name)
		}
		if !ok {
			return r.callFailed(conv, f, n, fmt.Sprintf("secret %s is not set: add it to secrets.env or the environment", name))
		}
		env.Secrets[name] = v
		secretVals = append(secretVals, v)
	}
	c := &Call{Flow: f.Name, Node: n.ID, Step: conv.Step, IdempotencyKey: IdempotencyKey(conv.ID, conv.Step), Secrets: secretVals}
	var err error
	if n.HTTP != nil {
		c.Kind = CallHTTP
		c.HTTP, err = renderHTTP(n.HTTP, env)
	} else {
		c.Kind = CallAI
		c.AI, err = r.renderAI(conv, n.AI, env)
	}
	if err != nil {
		// A value that does not render (a missing variable) fails the call, like a backend
		// that cannot be reached: on_error decides.
		return r.callFailed(conv, f, n, c.Redact(err.Error()))
	}
	conv.State, conv.WaitingSince, conv.Deadline = StateCalling, r.c.Now, 0
	r.out.Call = c
	return conv, nil
}

// callFailed goes on at on_error or ends the conversation.
func (r *stepper) callFailed(conv *Conversation, f *Flow, n *Node, detail string) (*Conversation, error) {
	onErr := ""
	switch {
	case n.HTTP != nil:
		onErr = n.HTTP.OnError
		if n.HTTP.SaveAs != "" {
			conv.Vars[n.HTTP.SaveAs] = map[string]any{"status": 0, "ok": false, "body": nil, "headers": map[string]any{}, "error": detail}
		}
	case n.AI != nil:
		onErr = n.AI.OnError
		if n.AI.SaveAs != "" {
			conv.Vars[n.AI.SaveAs] = map[string]any{"text": "", "finish_reason": "", "usage": map[string]any{}, "error": detail}
		}
	}
	if onErr == "" {
		r.end(conv, EndCallFailed, fmt.Sprintf("node %s: %s", n.ID, detail))
		return nil, nil
	}
	return r.advance(conv, f, onErr, nil)
}

func (r *stepper) httpResult(conv *Conversation, f *Flow, n *Node, res CallResult) (*Conversation, error) {
	h := n.HTTP
	ok := res.Err == "" && res.Status >= 200 && res.Status < 300
	headers := map[string]any{}
	for k, v := range res.Headers {
		headers[k] = v
	}
	val := map[string]any{"status": res.Status, "ok": ok, "body": res.Body, "headers": headers}
	failed := res.Err != "" || res.Status >= 500 || res.Status < 100
	if failed {
		detail := res.Err
		if detail == "" {
			detail = fmt.Sprintf("status %d", res.Status)
		}
		val["error"] = detail
		if h.SaveAs != "" {
			conv.Vars[h.SaveAs] = val
		}
		if h.OnError == "" {
			r.end(conv, EndCallFailed, fmt.Sprintf("node %s: %s", n.ID, detail))
			return nil, nil
		}
		return r.advance(conv, f, h.OnError, nil)
	}
	if h.SaveAs != "" {
		conv.Vars[h.SaveAs] = val
	}
	return r.advance(conv, f, n.Next, nil)
}

func (r *stepper) aiResult(conv *Conversation, f *Flow, n *Node, res CallResult) (*Conversation, error) {
	a := n.AI
	if res.Err != "" {
		return r.callFailed(conv, f, n, res.Err)
	}
	usage := res.Usage
	if usage == nil {
		usage = map[string]any{}
	}
	if a.SaveAs != "" {
		conv.Vars[a.SaveAs] = map[string]any{"text": res.Text, "finish_reason": res.FinishReason, "usage": usage}
	}
	if a.Send && strings.TrimSpace(res.Text) != "" {
		for _, part := range splitText(res.Text, 4096) {
			r.reply(conv, f, n, textMessage(part), true)
		}
	}
	return r.advance(conv, f, n.Next, nil)
}

// splitText cuts s into parts of at most max runes, at a line break or space when one is
// near the end.
func splitText(s string, max int) []string {
	var out []string
	rs := []rune(s)
	for len(rs) > max {
		cut := max
		for i := max; i > max*3/4; i-- {
			if rs[i] == '\n' || rs[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimRight(string(rs[:cut]), " \n"))
		rs = []rune(strings.TrimLeft(string(rs[cut:]), " \n"))
	}
	if len(rs) > 0 {
		out = append(out, string(rs))
	}
	return out
}

func renderHTTP(h *HTTPConfig, env *Env) (*HTTPRequest, error) {
	req := &HTTPRequest{Method: h.Method, Timeout: h.Timeout, Retries: h.Retries}
	u, err := renderURL(h.url, env)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	req.URLSecret = len(h.url.t.secrets()) > 0
	if len(h.Query) > 0 {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("url: %w", err)
		}
		q := pu.Query()
		for _, p := range h.Query {
			v, err := p.t.render(env)
			if err != nil {
				return nil, fmt.Errorf("query.%s: %w", p.Name, err)
			}
			q.Add(p.Name, v)
			req.URLSecret = req.URLSecret || len(p.t.t.secrets()) > 0
		}
		pu.RawQuery = q.Encode()
		u = pu.String()
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("url rendered to a bad link: use an absolute http(s) URL")
	}
	req.URL = u
	for _, hd := range h.Headers {
		v, err := hd.t.render(env)
		if err != nil {
			return nil, fmt.Errorf("headers.%s: %w", hd.Name, err)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("headers.%s: the value has a line break", hd.Name)
		}
		req.Headers = append(req.Headers, HTTPHeader{Name: hd.Name, Value: v, Secret: len(hd.t.t.secrets()) > 0})
	}
	switch {
	case h.HasJSON:
		var b bytes.Buffer
		if err := h.json.render(env, &b); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		req.Body, req.ContentType = b.Bytes(), "application/json"
		req.BodySecret = len(h.json.secrets()) > 0
	case h.Body != "":
		s, err := h.body.render(env)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		req.Body, req.ContentType = []byte(s), "text/plain; charset=utf-8"
		req.BodySecret = len(h.body.t.secrets()) > 0
	}
	for _, hd := range req.Headers {
		if strings.EqualFold(hd.Name, "Content-Type") && req.Body != nil {
			req.ContentType = hd.Value
		}
	}
	return req, nil
}

// renderURL renders a url template, escaping each value for where it lands: a path
// segment before the ?, a query value after it.
func renderURL(x text, env *Env) (string, error) {
	if x.t == nil {
		return x.lit, nil
	}
	var b strings.Builder
	for i, s := range x.t.segs {
		if s.prog == nil {
			b.WriteString(s.lit)
			continue
		}
		one := &tmpl{segs: []segment{s}}
		v, err := one.render(env)
		if err != nil {
			return "", err
		}
		if i == 0 && urlSetting(x.t) != "" {
			// A base URL from the settings goes in as it is (checked with the rest).
			b.WriteString(strings.TrimSuffix(v, "/"))
			continue
		}
		if strings.Contains(b.String(), "?") {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
	}
	return b.String(), nil
}

func (j *jsonT) render(env *Env, b *bytes.Buffer) error {
	switch {
	case j == nil:
		b.WriteString("null")
	case j.str != nil:
		var v any = j.str.lit
		t := j.str.t
		if t != nil && len(t.segs) == 1 && t.segs[0].prog != nil {
			// "{{vars.count}}" keeps the value's JSON type.
			raw, err := runExpr(t.segs[0].prog, env)
			if err != nil {
				return fmt.Errorf("{{%s}}: %w", t.segs[0].src, err)
			}
			v = raw
		} else if t != nil {
			s, err := t.render(env)
			if err != nil {
				return err
			}
			v = s
		}
		if err := writeJSON(b, v); err != nil {
			return err
		}
	case j.isObj:
		b.WriteByte('{')
		for i, k := range j.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := j.kids[i].render(env, b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case j.arr:
		b.WriteByte('[')
		for i, k := range j.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := k.render(env, b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return writeJSON(b, j.lit)
	}
	return nil
}

// writeJSON writes v as JSON without HTML escaping (a backend gets "a&b", not "a\u0026b").
func writeJSON(b *bytes.Buffer, v any) error {
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n")))
	return nil
}

func (r *stepper) renderAI(conv *Conversation, a *AIConfig, env *Env) (*AIRequest, error) {
	req := &AIRequest{Model: a.Model, Temperature: a.Temperature, MaxTokens: a.MaxTokens, Timeout: AITimeout, Retries: DefaultHTTPRetries,
		Secret: len(a.secrets) > 0}
	if a.System != "" {
		s, err := a.system.render(env)
		if err != nil {
			return nil, fmt.Errorf("system: %w", err)
		}
		req.Messages = append(req.Messages, ChatMessage{Role: "system", Content: s})
	}
	hist := conv.History
	prompt := ""
	if a.Prompt != "" {
		s, err := a.prompt.render(env)
		if err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		prompt = s
	} else {
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].Role == "user" {
				prompt = hist[i].Text
				if i == len(hist)-1 {
					hist = hist[:i]
				}
				break
			}
		}
	}
	if strings.TrimSpace(prompt) == "" {
		return nil, fmt.Errorf("no prompt: the contact sent no text yet; set prompt")
	}
	if a.History > 0 {
		if len(hist) > a.History {
			hist = hist[len(hist)-a.History:]
		}
		for _, t := range hist {
			req.Messages = append(req.Messages, ChatMessage{Role: t.Role, Content: t.Text})
		}
	}
	req.Messages = append(req.Messages, ChatMessage{Role: "user", Content: prompt})
	return req, nil
}

// Secrets lists the secret names the set's http and ai nodes read, sorted: the caller can
// check they are set before serving.
func (s *Set) Secrets() []string {
	var out []string
	for _, f := range s.Flows {
		for _, n := range f.Nodes {
			if n.HTTP != nil {
				out = appendNew(out, n.HTTP.secrets...)
			}
			if n.AI != nil {
				out = appendNew(out, n.AI.secrets...)
			}
		}
	}
	sort.Strings(out)
	return out
}

// UsesAI reports whether any flow has an ai node (then the bundle needs an llm setting).
func (s *Set) UsesAI() bool {
	for _, f := range s.Flows {
		for _, n := range f.Nodes {
			if n.Type == NodeAI {
				return true
			}
		}
	}
	return false
}
