package calls

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/fakes/llm"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/secret"
)

const testKey = "sk-test-0123456789abcdef"

func aiCall(msgs ...flow.ChatMessage) *flow.Call {
	temp := 0.2
	return &flow.Call{Kind: flow.CallAI, Flow: "support", Node: "answer", Step: 5,
		IdempotencyKey: flow.IdempotencyKey("c0nv", 5),
		AI:             &flow.AIRequest{Messages: msgs, Temperature: &temp, MaxTokens: 200, Timeout: 2 * time.Second, Retries: 2}}
}

func aiRunner(t *testing.T, fake *llm.Server) (*Runner, *fakeClock, *syncBuffer) {
	r, clk, logs := newRunner(t)
	r.LLM = &answers.LLM{BaseURL: fake.BaseURL(), Model: "llama3.1:8b", APIKey: secret.New(testKey)}
	return r, clk, logs
}

var history = []flow.ChatMessage{
	{Role: "system", Content: "You are the support assistant of Example Shop."},
	{Role: "user", Content: "hi"},
	{Role: "assistant", Content: "Hello! How can I help?"},
	{Role: "user", Content: "where is my parcel?"},
}

func TestAISuccessWithHistory(t *testing.T) {
	fake := llm.New(llm.Options{APIKey: testKey, Models: []string{"llama3.1:8b"}})
	defer fake.Close()
	r, _, _ := aiRunner(t, fake)
	res := run(t, r, aiCall(history...))
	want := `You said "where is my parcel?" (history: 2 messages, system prompt: yes).`
	if res.Err != "" || res.Text != want || res.FinishReason != "stop" || res.Status != 200 {
		t.Fatalf("result %+v", res)
	}
	if res.Usage["total_tokens"] == nil {
		t.Errorf("usage %v", res.Usage)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	q := reqs[0]
	if q.Problem != "" || q.Path != "/v1/chat/completions" || q.IdempotencyKey != "gtc-c0nv-5" ||
		q.Header.Get("User-Agent") != "gtc/test" || q.Header.Get("Authorization") != "Bearer [redacted]" {
		t.Errorf("request %+v", q)
	}
	if q.Chat.Model != "llama3.1:8b" || len(q.Chat.Messages) != 4 || *q.Chat.Temperature != 0.2 || q.Chat.MaxTokens != 200 {
		t.Errorf("chat %+v", q.Chat)
	}
	// the node's model wins over the bundle's
	c := aiCall(history...)
	c.AI.Model = "other"
	if res := run(t, r, c); !strings.Contains(res.Err, "The model `other` does not exist") || !strings.Contains(res.Err, "(check llm.base_url and the model)") {
		t.Errorf("unknown model: %+v", res)
	}
}

func TestAIRetries(t *testing.T) {
	fake := llm.New(llm.Options{APIKey: testKey})
	defer fake.Close()
	r, clk, _ := aiRunner(t, fake)
	fake.Fail(llm.Fault{Status: 500})
	fake.Queue("Your parcel is on its way.")
	res := run(t, r, aiCall(history...))
	if res.Err != "" || res.Text != "Your parcel is on its way." || len(fake.Requests()) != 2 || len(clk.waits()) != 1 {
		t.Errorf("500 then ok: %+v, %d requests", res, len(fake.Requests()))
	}
	keys := map[string]bool{}
	for _, q := range fake.Requests() {
		keys[q.IdempotencyKey] = true
	}
	if len(keys) != 1 {
		t.Errorf("keys %v", keys)
	}

	fake.Reset()
	fake.Fail(llm.Fault{Status: 503, Times: 3})
	res = run(t, r, aiCall(history...))
	if res.Err != "the LLM answered 503 Service Unavailable: The fake was told to fail: Service Unavailable (after 3 tries)" || res.Text != "" {
		t.Errorf("503 × 3: %q", res.Err)
	}

	fake.Reset()
	fake.Fail(llm.Fault{Status: 429, RetryAfter: "4"})
	r, clk, _ = aiRunner(t, fake)
	if res := run(t, r, aiCall(history...)); res.Err != "" || clk.waits()[0] != 4*time.Second {
		t.Errorf("429: %+v %v", res, clk.waits())
	}
}

func TestAIErrors(t *testing.T) {
	fake := llm.New(llm.Options{APIKey: testKey})
	defer fake.Close()
	tests := []struct {
		name  string
		setup func(r *Runner)
		err   string
	}{
		{"wrong key", func(r *Runner) { r.LLM.APIKey = secret.New("sk-wrong-key-value") },
			"the LLM refused the request: 401 Unauthorized: Incorrect API key provided. (check llm.api_key)"},
		{"no llm", func(r *Runner) { r.LLM = nil },
			"the LLM is not configured: add llm {base_url, model, api_key} to answers.json and run gtc setup again"},
		{"no model", func(r *Runner) { r.LLM.Model = "" }, "no model: set llm.model in answers.json or model in the ai node"},
		{"key from an unset variable", func(r *Runner) {
			r.LLM.APIKey = secret.New("${GTC_TEST_UNSET_KEY}")
			r.Env = func(string) (string, bool) { return "", false }
		}, "llm.api_key is ${GTC_TEST_UNSET_KEY}, but GTC_TEST_UNSET_KEY is not set: export it before gtc serve"},
		{"plain http elsewhere", func(r *Runner) { r.LLM.BaseURL = "http://llm.example.com/v1" },
			"llm.base_url: plain http is allowed only on localhost: use https"},
		{"bad base url", func(r *Runner) { r.LLM.BaseURL = "llm.example.com" },
			"llm.base_url: use an absolute http(s) URL like https://api.openai.com/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, clk, _ := aiRunner(t, fake)
			tt.setup(r)
			res := run(t, r, aiCall(history...))
			if res.Err != tt.err {
				t.Errorf("err %q\nwant %q", res.Err, tt.err)
			}
			if len(clk.waits()) != 0 {
				t.Errorf("retried: %v", clk.waits())
			}
			if strings.Contains(res.Err, "sk-wrong") || strings.Contains(res.Err, testKey) {
				t.Errorf("the key leaked: %s", res.Err)
			}
		})
	}
}

func TestAIBadAnswers(t *testing.T) {
	for body, want := range map[string]string{
		`{"choices":[]}`:                          "no choices",
		`<html>`:                                  "not JSON of the chat completion shape",
		`{"choices":[{}]}`:                        "choices[0] has no message",
		`{"error":{"message":"overloaded"}}`:      "it holds an error: overloaded",
		`{"choices":[{"message":{"content":5}}]}`: "choices[0].message.content: neither a string nor a list of parts",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		}))
		r, _, _ := newRunner(t)
		r.LLM = &answers.LLM{BaseURL: srv.URL, Model: "m"}
		res := run(t, r, aiCall(history...))
		if res.Err != "the LLM's answer is not a chat completion: "+want {
			t.Errorf("%s: %q", body, res.Err)
		}
		srv.Close()
	}
}

func TestParseCompletion(t *testing.T) {
	tests := []struct {
		body string
		want Completion
	}{
		{`{"choices":[{"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
			Completion{Text: "Hi", FinishReason: "stop", Usage: map[string]any{"prompt_tokens": 3.0, "completion_tokens": 1.0, "total_tokens": 4.0}}},
		{`{"choices":[{"message":{"content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`,
			Completion{Text: "I can't help with that.", FinishReason: "stop", Usage: map[string]any{}}},
		{`{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]},"finish_reason":"length"}]}`,
			Completion{Text: "ab", FinishReason: "length", Usage: map[string]any{}}},
		{`{"choices":[{"message":{"content":"x"},"finish_reason":null}],"error":null}`, Completion{Text: "x", Usage: map[string]any{}}},
	}
	for _, tt := range tests {
		got, err := ParseCompletion([]byte(tt.body))
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s:\n got %+v %v\nwant %+v", tt.body, got, err, tt.want)
		}
	}
}

func TestChatURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.openai.com/v1":    "https://api.openai.com/v1/chat/completions",
		"https://api.openai.com/v1/":   "https://api.openai.com/v1/chat/completions",
		"http://localhost:11434/v1":    "http://localhost:11434/v1/chat/completions",
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080/chat/completions",
		"http://[::1]:8080/v1":         "http://[::1]:8080/v1/chat/completions",
		"http://10.0.0.5/v1":           "",
		"https://api.example.com/v1?x": "",
		"https://u:p@api.example.com":  "",
		"ftp://api.example.com":        "",
	} {
		got, err := chatURL(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("chatURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestAIContextCancel(t *testing.T) {
	fake := llm.New(llm.Options{Delay: 3 * time.Second})
	defer fake.Close()
	r, _, _ := aiRunner(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := r.Run(ctx, aiCall(history...)); err == nil {
		t.Error("no error after cancel")
	}
}
