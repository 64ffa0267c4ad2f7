package calls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/secret"
)

// chatRequest is the body of POST {base_url}/chat/completions.
type chatRequest struct {
	Model       string             `json:"model"`
	Messages    []flow.ChatMessage `json:"messages"`
	Temperature *float64           `json:"temperature,omitempty"`
	MaxTokens   int                `json:"max_tokens,omitempty"`
}

// Completion is what gtc reads of a chat completion answer.
type Completion struct {
	Text         string
	FinishReason string
	Usage        map[string]any
}

func (r *Runner) tryAI(ctx context.Context, c *flow.Call) try {
	t := try{method: http.MethodPost}
	fail := func(outcome, msg string) try {
		t.outcome, t.res.Err = outcome, msg
		return t
	}
	if r.LLM == nil {
		return fail(OutcomeBadCall, "the LLM is not configured: add llm {base_url, model, api_key} to answers.json and run gtc setup again")
	}
	endpoint, err := chatURL(r.resolve(r.LLM.BaseURL))
	if err != nil {
		return fail(OutcomeBadCall, "llm.base_url: "+err.Error())
	}
	model := c.AI.Model
	if model == "" {
		model = r.resolve(r.LLM.Model)
	}
	if model == "" {
		return fail(OutcomeBadCall, "no model: set llm.model in answers.json or model in the ai node")
	}
	key := ""
	if !r.LLM.APIKey.IsZero() {
		key, err = r.LLM.APIKey.Resolve(r.Env)
		if err != nil {
			var me *secret.MissingEnvError
			if errors.As(err, &me) {
				return fail(OutcomeBadCall, fmt.Sprintf("llm.api_key is ${%s}, but %s is not set: export it before gtc serve", me.Name, me.Name))
			}
			return fail(OutcomeBadCall, "llm.api_key cannot be read")
		}
	}
	body, err := json.Marshal(chatRequest{Model: model, Messages: c.AI.Messages, Temperature: c.AI.Temperature, MaxTokens: c.AI.MaxTokens})
	if err != nil {
		return fail(OutcomeBadCall, "the chat request cannot be encoded (a temperature that is not a number?)")
	}
	hd := http.Header{}
	hd.Set("Content-Type", "application/json")
	hd.Set("Accept", "application/json")
	if key != "" {
		hd.Set("Authorization", "Bearer "+key)
	}
	ans, st := r.send(ctx, c, request{method: http.MethodPost, url: endpoint, header: hd, body: body, target: "the LLM"})
	if st.outcome != "" || st.cancelled {
		return st
	}
	t = st
	t.res.Status = ans.status
	switch s := ans.status; {
	case s >= 200 && s < 300:
		comp, err := ParseCompletion(ans.body)
		if err != nil {
			return fail(OutcomeBadResponse, "the LLM's answer is not a chat completion: "+err.Error())
		}
		t.outcome = OutcomeOK
		t.res.Text = r.redact(c, comp.Text)
		t.res.FinishReason = comp.FinishReason
		t.res.Usage = comp.Usage
		return t
	case s == http.StatusTooManyRequests:
		t.retryable = true
		t.retryAfter = retryAfter(ans.header.Get("Retry-After"), r.clock().Now())
		return fail(OutcomeRateLimited, "the LLM answered 429 Too Many Requests"+apiMessage(ans.body))
	case s >= 500:
		t.retryable = true
		if s == http.StatusServiceUnavailable {
			t.retryAfter = retryAfter(ans.header.Get("Retry-After"), r.clock().Now())
		}
		return fail(OutcomeServerError, fmt.Sprintf("the LLM answered %d %s", s, http.StatusText(s))+apiMessage(ans.body))
	}
	hint := ""
	switch ans.status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (check llm.api_key)"
	case http.StatusNotFound:
		hint = " (check llm.base_url and the model)"
	}
	return fail(OutcomeClientError, fmt.Sprintf("the LLM refused the request: %d %s", ans.status, http.StatusText(ans.status))+apiMessage(ans.body)+hint)
}

// chatURL is {base_url}/chat/completions. base_url is http(s) without user info, query or
// fragment; plain http only on localhost (the settings check this too).
func chatURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", errors.New("use an absolute http(s) URL like https://api.openai.com/v1")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("no user info, query or fragment: use a URL like https://api.openai.com/v1")
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return "", errors.New("plain http is allowed only on localhost: use https")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/chat/completions"
	u.RawPath = ""
	return u.String(), nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// resolve reads a whole ${NAME} setting from Env (settings are usually resolved by the
// bundle already).
func (r *Runner) resolve(s string) string {
	v, err := secret.New(s).Resolve(r.Env)
	if err != nil {
		return ""
	}
	return v
}

// ParseCompletion reads choices[0].message.content, finish_reason and usage of an
// OpenAI-compatible chat completion. A refusal counts as the text when content is empty.
func ParseCompletion(body []byte) (Completion, error) {
	var raw struct {
		Choices []struct {
			Message *struct {
				Content json.RawMessage `json:"content"`
				Refusal *string         `json:"refusal"`
			} `json:"message"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage map[string]any  `json:"usage"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Completion{}, errors.New("not JSON of the chat completion shape")
	}
	if len(raw.Error) > 0 && string(raw.Error) != "null" {
		return Completion{}, errors.New("it holds an error" + apiMessage(body))
	}
	if len(raw.Choices) == 0 {
		return Completion{}, errors.New("no choices")
	}
	ch := raw.Choices[0]
	if ch.Message == nil {
		return Completion{}, errors.New("choices[0] has no message")
	}
	text, err := content(ch.Message.Content)
	if err != nil {
		return Completion{}, fmt.Errorf("choices[0].message.content: %w", err)
	}
	if text == "" && ch.Message.Refusal != nil {
		text = *ch.Message.Refusal
	}
	out := Completion{Text: text, Usage: raw.Usage}
	if ch.FinishReason != nil {
		out.FinishReason = *ch.FinishReason
	}
	if out.Usage == nil {
		out.Usage = map[string]any{}
	}
	return out, nil
}

// content is a message's content: a string, null, or an array of parts whose text parts are
// joined (some servers answer in parts).
func content(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("neither a string nor a list of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

// apiMessage is ": <error.message>" of an OpenAI-style error body (at most 200 characters),
// or "".
func apiMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) == 0 {
		return ""
	}
	var msg string
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.Error, &obj) == nil {
		msg = obj.Message
	} else if json.Unmarshal(e.Error, &msg) != nil {
		return ""
	}
	msg = strings.Join(strings.Fields(strings.ToValidUTF8(msg, "")), " ")
	if msg == "" {
		return ""
	}
	if rs := []rune(msg); len(rs) > 200 {
		msg = string(rs[:200]) + "…"
	}
	return ": " + msg
}
