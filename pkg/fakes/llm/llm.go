// Package llm is an in-process double of an OpenAI-compatible chat completion API, for ai
// flow nodes in tests and `gtc chat`:
//
//	POST /v1/chat/completions   (and /chat/completions)
//
// It checks the body like OpenAI does (unknown keys, types, roles, temperature and
// max_tokens ranges; 400 invalid_request_error naming the param), the bearer key when
// Options.APIKey is set (401), and the model when Options.Models is set (404
// model_not_found). It answers, in order of precedence: a queued answer (Queue), a scripted
// answer whose text the last user message contains (Answer), else Echo: a sentence that
// quotes the prompt and counts the history sent. Faults (Fail) answer a status n times, hold
// answers back or drop the connection. Every request is recorded.
package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/fakes/internal/fakehttp"
)

// Fault is a scripted misbehaviour (see Server.Fail).
type Fault = fakehttp.Fault

// Options configure a Server; the zero value works.
type Options struct {
	// APIKey, when set, is the only bearer key accepted; when "" any or none is (like Ollama).
	APIKey string
	// Models, when set, are the only models that exist.
	Models []string
	// Delay holds back every answer.
	Delay time.Duration
}

// Message is one chat message as received.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"`
}

// ChatRequest is a received request body (the keys gtc sends).
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
}

// Request is one recorded request.
type Request struct {
	Method, Path   string
	Header         http.Header // Authorization redacted
	IdempotencyKey string
	Body           []byte
	// Chat is the decoded body when it was valid.
	Chat *ChatRequest
	// Status is what the fake answered (0: dropped); Problem why it refused the request.
	Status  int
	Problem string
	At      time.Time
}

// Server is a running double. BaseURL is the value for llm.base_url.
type Server struct {
	// URL is the root, e.g. http://127.0.0.1:34567.
	URL string

	opts   Options
	srv    *httptest.Server
	faults fakehttp.Faults
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	queue    []string
	scripts  []script
	requests []Request
	delay    time.Duration
	seq      int
}

type script struct{ contains, text string }

// New starts a double on a random local port.
func New(opts Options) *Server {
	s := newServer(opts)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Listen starts a double on addr (host:port), for `gtc chat` and scripts.
func Listen(addr string, opts Options) (*Server, error) {
	s := newServer(opts)
	srv, err := fakehttp.Start(addr, s)
	if err != nil {
		return nil, err
	}
	s.srv, s.URL = srv, srv.URL
	return s, nil
}

func newServer(opts Options) *Server {
	return &Server{opts: opts, delay: opts.Delay, closed: make(chan struct{})}
}

// BaseURL is URL + "/v1": the llm.base_url setting for this double.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// Queue adds answers given to the next requests, in order, before any scripted answer.
func (s *Server) Queue(texts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, texts...)
}

// Answer scripts text as the answer whenever the last user message contains contains
// (ignoring case). Earlier scripts win.
func (s *Server) Answer(contains, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts = append(s.scripts, script{strings.ToLower(contains), text})
}

// Fail queues a fault for the next requests: Fail(Fault{Status: 500}) answers one 500,
// Fail(Fault{Status: 429, RetryAfter: "1"}) one rate limit, Fail(Fault{Drop: true}) drops
// a connection, Fail(Fault{Delay: 2*time.Second}) holds one answer back.
func (s *Server) Fail(f Fault) { s.faults.Add(f) }

// SetDelay holds back every answer by d.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns the recorded requests, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets recorded requests, queued answers, scripts and faults.
func (s *Server) Reset() {
	s.faults.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.queue, s.scripts = nil, nil, nil
}

// Handler is the double as an http.Handler.
func (s *Server) Handler() http.Handler { return s }

// Close stops the listener; waiting answers end at once. Safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		if s.srv != nil {
			s.srv.CloseClientConnections()
			s.srv.Close()
		}
	})
}

// Echo is the default answer: it quotes the last user message and counts the messages
// before it (system messages aside), e.g.
//
//	You said "where is my order?" (history: 2 messages, system prompt: yes).
func Echo(msgs []Message) string {
	last, hist, system := "", 0, "no"
	for i, m := range msgs {
		switch {
		case m.Role == "system":
			system = "yes"
		case m.Role == "user" && i == len(msgs)-1:
			last = m.Content
		default:
			hist++
		}
	}
	return fmt.Sprintf("You said %q (history: %d messages, system prompt: %s).", last, hist, system)
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, Header: fakehttp.Redacted(r.Header),
		IdempotencyKey: r.Header.Get("Idempotency-Key"), Body: body, At: time.Now()}
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	fakehttp.Serve(w, r, s.closed, delay, &s.faults,
		func(f *Fault) (int, []byte, http.Header) { return s.answer(r, &req, f) },
		func(status int) { req.Status = status; s.record(req) })
}

// apiError is OpenAI's error body.
func apiError(status int, typ, msg, param, code string) (int, []byte, http.Header) {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if param != "" {
		e["param"] = param
	}
	if code != "" {
		e["code"] = code
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return status, b, nil
}

func (s *Server) answer(r *http.Request, req *Request, f *Fault) (int, []byte, http.Header) {
	if r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/chat/completions" {
		req.Problem = "unknown path " + r.URL.Path
		return apiError(http.StatusNotFound, "invalid_request_error", "Invalid URL (POST "+r.URL.Path+"): use /v1/chat/completions", "", "")
	}
	if r.Method != http.MethodPost {
		req.Problem = "method " + r.Method
		return apiError(http.StatusMethodNotAllowed, "invalid_request_error", "Only POST is allowed on "+r.URL.Path, "", "")
	}
	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		req.Problem = "bad api key"
		msg := "You didn't provide an API key. Send it as Authorization: Bearer <key>."
		if r.Header.Get("Authorization") != "" {
			msg = "Incorrect API key provided."
		}
		return apiError(http.StatusUnauthorized, "invalid_request_error", msg, "", "invalid_api_key")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		req.Problem = "content type " + ct
		return apiError(http.StatusBadRequest, "invalid_request_error", "Content-Type must be application/json, not "+ct, "", "")
	}
	chat, param, msg := Validate(req.Body)
	if msg != "" {
		req.Problem = param + ": " + msg
		return apiError(http.StatusBadRequest, "invalid_request_error", msg, param, "")
	}
	req.Chat = chat
	if len(s.opts.Models) > 0 && !contains(s.opts.Models, chat.Model) {
		req.Problem = "unknown model " + chat.Model
		return apiError(http.StatusNotFound, "invalid_request_error",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", chat.Model), "model", "model_not_found")
	}
	if f != nil && f.Status != 0 {
		var h http.Header
		if f.RetryAfter != "" {
			h = http.Header{"Retry-After": {f.RetryAfter}}
		}
		if f.Body != "" {
			return f.Status, []byte(f.Body), h
		}
		typ := "server_error"
		if f.Status == http.StatusTooManyRequests {
			typ = "rate_limit_error" // OpenAI: "requests" / "tokens" codes
		}
		st, b, _ := apiError(f.Status, typ, "The fake was told to fail: "+http.StatusText(f.Status), "", "")
		return st, b, h
	}
	text := s.reply(chat.Messages)
	words := strings.Fields(text)
	finish := "stop"
	if chat.MaxTokens > 0 && len(words) > chat.MaxTokens {
		words, finish = words[:chat.MaxTokens], "length"
		text = strings.Join(words, " ")
	}
	prompt := 0
	for _, m := range chat.Messages {
		prompt += len(strings.Fields(m.Content)) + 4
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("chatcmpl-fake%06d", s.seq)
	s.mu.Unlock()
	b, _ := json.Marshal(map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": chat.Model,
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text},
			"finish_reason": finish, "logprobs": nil}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)},
	})
	return http.StatusOK, b, nil
}

func (s *Server) reply(msgs []Message) string {
	last := ""
	if n := len(msgs); n > 0 && msgs[n-1].Role == "user" {
		last = strings.ToLower(msgs[n-1].Content)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		t := s.queue[0]
		s.queue = s.queue[1:]
		return t
	}
	for _, sc := range s.scripts {
		if strings.Contains(last, sc.contains) {
			return sc.text
		}
	}
	return Echo(msgs)
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// knownKeys are the request keys OpenAI's chat completions accept; any other is refused
// like OpenAI does ("Unrecognized request argument supplied").
var knownKeys = map[string]bool{
	"model": true, "messages": true, "temperature": true, "top_p": true, "n": true, "stream": true,
	"stream_options": true, "stop": true, "max_tokens": true, "max_completion_tokens": true,
	"presence_penalty": true, "frequency_penalty": true, "logit_bias": true, "logprobs": true,
	"top_logprobs": true, "user": true, "seed": true, "response_format": true, "tools": true,
	"tool_choice": true, "parallel_tool_calls": true, "service_tier": true, "store": true,
	"metadata": true, "reasoning_effort": true, "modalities": true, "prediction": true,
}

// Validate checks a chat completion body like OpenAI does and decodes it. On a problem it
// returns the param (a JSON path like messages[1].role) and a message.
func Validate(body []byte) (chat *ChatRequest, param, msg string) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil || dec.More() {
		return nil, "", "We could not parse the JSON body of your request. The body must be a JSON object."
	}
	if top == nil {
		return nil, "", "The body must be a JSON object."
	}
	for k := range top {
		if !knownKeys[k] {
			return nil, k, "Unrecognized request argument supplied: " + k
		}
	}
	c := &ChatRequest{}
	if err := json.Unmarshal(top["model"], &c.Model); err != nil || strings.TrimSpace(c.Model) == "" {
		return nil, "model", "you must provide a model parameter (a non-empty string)"
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(top["messages"], &msgs); err != nil || len(top["messages"]) == 0 {
		return nil, "messages", "messages must be an array of message objects"
	}
	if len(msgs) == 0 {
		return nil, "messages", "messages must not be empty"
	}
	for i, m := range msgs {
		at := fmt.Sprintf("messages[%d]", i)
		if m == nil {
			return nil, at, "each message must be an object"
		}
		for k := range m {
			if k != "role" && k != "content" && k != "name" {
				return nil, at + "." + k, "Unrecognized message key " + k + " (the fake accepts role, content and name)"
			}
		}
		var msg Message
		if err := json.Unmarshal(m["role"], &msg.Role); err != nil {
			return nil, at + ".role", "role must be a string"
		}
		switch msg.Role {
		case "system", "user", "assistant":
		default:
			return nil, at + ".role", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant' and 'user'.", msg.Role)
		}
		if err := json.Unmarshal(m["content"], &msg.Content); err != nil || m["content"] == nil {
			return nil, at + ".content", "content must be a string"
		}
		if raw, ok := m["name"]; ok {
			if err := json.Unmarshal(raw, &msg.Name); err != nil {
				return nil, at + ".name", "name must be a string"
			}
		}
		c.Messages = append(c.Messages, msg)
	}
	if raw, ok := top["temperature"]; ok && string(raw) != "null" {
		var t float64
		if err := json.Unmarshal(raw, &t); err != nil || t < 0 || t > 2 {
			return nil, "temperature", "temperature must be a number from 0 to 2"
		}
		c.Temperature = &t
	}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		if raw, ok := top[k]; ok && string(raw) != "null" {
			var n int
			if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
				return nil, k, k + " must be an integer of at least 1"
			}
			c.MaxTokens = n
		}
	}
	if raw, ok := top["stream"]; ok {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, "stream", "stream must be a boolean"
		}
		if b {
			return nil, "stream", "the fake does not stream (gtc never asks it to)"
		}
	}
	if raw, ok := top["n"]; ok && string(raw) != "null" {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil || n != 1 {
			return nil, "n", "the fake answers one choice: n must be 1"
		}
	}
	return c, "", ""
}
