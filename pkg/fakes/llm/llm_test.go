package llm

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return resp.StatusCode, m
}

func text(m map[string]any) string {
	ch, _ := m["choices"].([]any)
	if len(ch) == 0 {
		return ""
	}
	msg, _ := ch[0].(map[string]any)["message"].(map[string]any)
	s, _ := msg["content"].(string)
	return s
}

func errMsg(m map[string]any) (msg, param string) {
	e, _ := m["error"].(map[string]any)
	msg, _ = e["message"].(string)
	param, _ = e["param"].(string)
	return msg, param
}

const hist = `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"Where is my ORDER?"}]}`

func TestAnswers(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	st, m := post(t, s.BaseURL()+"/chat/completions", "", hist)
	if st != 200 || text(m) != `You said "Where is my ORDER?" (history: 2 messages, system prompt: yes).` {
		t.Errorf("echo: %d %v", st, m)
	}
	if m["object"] != "chat.completion" || m["usage"].(map[string]any)["total_tokens"] == nil {
		t.Errorf("shape %v", m)
	}
	s.Answer("order", "It ships tomorrow.")
	s.Answer("where", "not this one")
	if _, m = post(t, s.URL+"/chat/completions", "", hist); text(m) != "It ships tomorrow." {
		t.Errorf("script: %v", text(m))
	}
	s.Queue("first", "second")
	for _, want := range []string{"first", "second", "It ships tomorrow."} {
		if _, m = post(t, s.BaseURL()+"/chat/completions", "", hist); text(m) != want {
			t.Errorf("queue: %q, want %q", text(m), want)
		}
	}
	s.Queue("one two three four")
	_, m = post(t, s.BaseURL()+"/chat/completions", "", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":2}`)
	ch := m["choices"].([]any)[0].(map[string]any)
	if text(m) != "one two" || ch["finish_reason"] != "length" {
		t.Errorf("max_tokens: %v", m)
	}
	reqs := s.Requests()
	if len(reqs) != 6 || reqs[0].Chat == nil || len(reqs[0].Chat.Messages) != 4 || reqs[0].Chat.Messages[3].Content != "Where is my ORDER?" {
		t.Errorf("recorded %+v", reqs[0])
	}
}

func TestStrict(t *testing.T) {
	s := New(Options{APIKey: "sk-1", Models: []string{"m"}})
	defer s.Close()
	url := s.BaseURL() + "/chat/completions"
	tests := []struct {
		name, key, body string
		status          int
		param, msg      string
	}{
		{"ok", "sk-1", hist, 200, "", ""},
		{"no key", "", hist, 401, "", "You didn't provide an API key"},
		{"wrong key", "sk-2", hist, 401, "", "Incorrect API key provided."},
		{"unknown model", "sk-1", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, 404, "model", "The model `gpt-9` does not exist"},
		{"not json", "sk-1", `{`, 400, "", "could not parse the JSON body"},
		{"array", "sk-1", `[]`, 400, "", "could not parse the JSON body"},
		{"unknown key", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x"}],"temprature":1}`, 400, "temprature", "Unrecognized request argument supplied: temprature"},
		{"no model", "sk-1", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model", "you must provide a model"},
		{"model number", "sk-1", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, 400, "model", "you must provide a model"},
		{"no messages", "sk-1", `{"model":"m"}`, 400, "messages", "messages must be an array"},
		{"empty messages", "sk-1", `{"model":"m","messages":[]}`, 400, "messages", "messages must not be empty"},
		{"bad role", "sk-1", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, 400, "messages[0].role", "Invalid value: 'tool'"},
		{"content object", "sk-1", `{"model":"m","messages":[{"role":"user","content":{"a":1}}]}`, 400, "messages[0].content", "content must be a string"},
		{"no content", "sk-1", `{"model":"m","messages":[{"role":"user"}]}`, 400, "messages[0].content", "content must be a string"},
		{"message key", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x","foo":1}]}`, 400, "messages[0].foo", "Unrecognized message key foo"},
		{"temperature", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}`, 400, "temperature", "from 0 to 2"},
		{"temperature string", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"1"}`, 400, "temperature", "from 0 to 2"},
		{"max_tokens", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, 400, "max_tokens", "at least 1"},
		{"stream", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`, 400, "stream", "does not stream"},
		{"n", "sk-1", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}`, 400, "n", "n must be 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, m := post(t, url, tt.key, tt.body)
			msg, param := errMsg(m)
			if st != tt.status || param != tt.param || !strings.Contains(msg, tt.msg) {
				t.Errorf("%d %q %q, want %d %q %q", st, param, msg, tt.status, tt.param, tt.msg)
			}
			if strings.Contains(msg, "sk-") {
				t.Errorf("the key is echoed: %s", msg)
			}
		})
	}
	for _, r := range s.Requests() {
		if a := r.Header.Get("Authorization"); a != "" && a != "Bearer [redacted]" {
			t.Errorf("recorded Authorization %q", a)
		}
	}
	req, _ := http.NewRequest("GET", url, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("GET: %v %v", resp, err)
	}
	req, _ = http.NewRequest("POST", url, strings.NewReader(hist))
	req.Header.Set("Authorization", "Bearer sk-1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("no content type: %v %v", resp, err)
	}
	if st, _ := post(t, s.URL+"/v1/completions", "sk-1", hist); st != 404 {
		t.Errorf("other path: %d", st)
	}
}

func TestFaults(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	url := s.BaseURL() + "/chat/completions"
	s.Fail(Fault{Status: 500})
	s.Fail(Fault{Status: 429, RetryAfter: "2"})
	if st, m := post(t, url, "", hist); st != 500 || m["error"] == nil {
		t.Errorf("500: %d %v", st, m)
	}
	req, _ := http.NewRequest("POST", url, strings.NewReader(hist))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("429: %v %v", resp, err)
	}
	resp.Body.Close()
	s.Fail(Fault{Delay: 100 * time.Millisecond})
	start := time.Now()
	if st, _ := post(t, url, "", hist); st != 200 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("delay: %d after %v", st, time.Since(start))
	}
	s.Fail(Fault{Drop: true})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ = http.NewRequest("POST", url, strings.NewReader(hist))
	req.Header.Set("Content-Type", "application/json")
	if _, err := client.Do(req); err == nil {
		t.Error("dropped connection answered")
	}
}

func TestEcho(t *testing.T) {
	for _, tt := range []struct {
		msgs []Message
		want string
	}{
		{[]Message{{Role: "user", Content: "hi"}}, `You said "hi" (history: 0 messages, system prompt: no).`},
		{[]Message{{Role: "system", Content: "s"}, {Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}, {Role: "user", Content: "c"}},
			`You said "c" (history: 2 messages, system prompt: yes).`},
		{nil, `You said "" (history: 0 messages, system prompt: no).`},
	} {
		if got := Echo(tt.msgs); got != tt.want {
			t.Errorf("Echo = %q, want %q", got, tt.want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{hist, `{}`, `[]`, `null`, `{"model":"m","messages":[null]}`, `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":null,"max_tokens":1e9}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, param, msg := Validate(b)
		if (c == nil) == (msg == "") {
			t.Fatalf("chat %v with problem %q %q", c, param, msg)
		}
		if c != nil && (c.Model == "" || len(c.Messages) == 0) {
			t.Fatalf("accepted %q", b)
		}
	})
}
