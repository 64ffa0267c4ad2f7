package calls

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/secret"
)

const (
	headerSecret = "hdr-S3CRET-value-1"
	urlSecret    = "url-S3CRET-value-2"
	bodySecret   = "body-S3CRET-value-3"
)

// echo answers with everything it received, in the body and a header, like a careless
// backend: the result must not carry the secrets back into the conversation.
func echo(status int, delay time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"auth": r.Header.Get("Authorization"), "url": r.URL.String(),
			r.Header.Get("Authorization"): true, "error": map[string]any{"message": "bad key " + r.Header.Get("Authorization")}})
	}))
}

func secretCall(base string) *flow.Call {
	c := get(base + "/orders/" + urlSecret + "?token=" + urlSecret)
	c.HTTP.Method = "POST"
	c.HTTP.Headers = []flow.HTTPHeader{{Name: "Authorization", Value: "Bearer " + headerSecret, Secret: true}}
	c.HTTP.Body, c.HTTP.ContentType = []byte(`{"k":"`+bodySecret+`"}`), "application/json"
	c.HTTP.URLSecret, c.HTTP.BodySecret = true, true
	c.HTTP.Timeout = 200 * time.Millisecond
	c.Secrets = []string{headerSecret, urlSecret, bodySecret}
	return c
}

func TestSecretsNeverInLogsErrorsOrResults(t *testing.T) {
	ok, fail, slow := echo(200, 0), echo(500, 0), echo(200, time.Second)
	defer ok.Close()
	defer fail.Close()
	defer slow.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String()
	l.Close()
	r, _, logs := newRunner(t)
	var outputs []string
	for _, base := range []string{ok.URL, fail.URL, slow.URL, closed, "ftp://" + urlSecret} {
		c := secretCall(base)
		res := run(t, r, c)
		b, _ := json.Marshal(res)
		outputs = append(outputs, string(b))
	}
	// a secret in the host itself, refused by http_allow
	r.Allow = func(string) bool { return false }
	res := run(t, r, secretCall("http://"+urlSecret+".example.com"))
	b, _ := json.Marshal(res)
	outputs = append(outputs, string(b))

	// ai: the api key, echoed back by a careless server in its error and answer
	llmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Test") == "" && strings.Contains(r.Header.Get("Authorization"), "k") {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s"}}`, r.Header.Get("Authorization"))
			return
		}
	}))
	defer llmSrv.Close()
	r.Allow = nil
	r.LLM = &answers.LLM{BaseURL: llmSrv.URL, Model: "m", APIKey: secret.New(testKey)}
	c := aiCall(flow.ChatMessage{Role: "user", Content: "use " + bodySecret})
	c.Secrets, c.AI.Secret = []string{bodySecret}, true
	res = run(t, r, c)
	if !strings.Contains(res.Err, "401") {
		t.Errorf("ai result %+v", res)
	}
	b, _ = json.Marshal(res)
	outputs = append(outputs, string(b))

	all := logs.String() + strings.Join(outputs, "\n")
	for _, s := range []string{headerSecret, urlSecret, bodySecret, testKey} {
		if strings.Contains(all, s) {
			t.Errorf("secret %s leaked:\n%s", s, all)
		}
	}
	if !strings.Contains(all, "[secret]") || !strings.Contains(logs.String(), `"host"`) {
		t.Errorf("expected redacted echoes and host logs:\n%s", all)
	}
	for _, s := range []string{"/orders", "token=", `"k":`} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs carry %q (paths, headers or queries):\n%s", s, logs.String())
		}
	}
}

func TestLogLine(t *testing.T) {
	srv := echo(200, 0)
	defer srv.Close()
	r, _, logs := newRunner(t)
	run(t, r, get(srv.URL+"/orders/1"))
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
		t.Fatalf("%v: %s", err, logs.String())
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if line["msg"] != "call" || line["level"] != "INFO" || line["method"] != "GET" || line["host"] != host ||
		line["status"] != 200.0 || line["outcome"] != "ok" || line["node"] != "lookup" || line["duration"] == nil {
		t.Errorf("log line %v", line)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice worked")
	}
	ok, fail := echo(200, 0), echo(500, 0)
	defer ok.Close()
	defer fail.Close()
	r, _, _ := newRunner(t)
	r.Metrics = m
	run(t, r, get(ok.URL))
	run(t, r, get(ok.URL))
	run(t, r, get(fail.URL))
	got := gather(t, reg)
	for k, want := range map[string]float64{
		"gtc_calls_total{flow=status,kind=http,node=lookup,outcome=ok}":                  2,
		"gtc_calls_total{flow=status,kind=http,node=lookup,outcome=server_error}":        1,
		"gtc_call_retries_total{flow=status,kind=http,node=lookup,outcome=server_error}": 2,
		"gtc_call_seconds_count{flow=status,kind=http,node=lookup,outcome=ok}":           2,
		"gtc_call_seconds_count{flow=status,kind=http,node=lookup,outcome=server_error}": 3,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
}

// gather flattens counters and histogram counts to "name{k=v,...}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()+key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[mf.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestSecretsStayOnTheirHost(t *testing.T) {
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" key="+r.Header.Get("X-Api-Key")+" auth="+r.Header.Get("Authorization")+" plain="+r.Header.Get("X-Plain"))
	}))
	defer other.Close()
	// 127.0.0.1 and localhost are different hosts to the redirect rules
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusFound
		if r.URL.Path == "/307" {
			code = http.StatusTemporaryRedirect
		}
		http.Redirect(w, r, otherURL+"/x", code)
	}))
	defer first.Close()
	r, _, _ := newRunner(t)
	c := get(first.URL + "/302")
	c.HTTP.Headers = []flow.HTTPHeader{{Name: "X-Api-Key", Value: headerSecret, Secret: true},
		{Name: "Authorization", Value: "Bearer " + headerSecret, Secret: true}, {Name: "X-Plain", Value: "p"}}
	c.Secrets = []string{headerSecret}
	if res := run(t, r, c); res.Status != 200 {
		t.Fatalf("302: %+v", res)
	}
	if len(seen) != 1 || seen[0] != "GET key= auth= plain=p" {
		t.Errorf("the other host saw %q", seen)
	}
	c = get(first.URL + "/307")
	c.HTTP.Method, c.HTTP.Body, c.HTTP.ContentType, c.HTTP.BodySecret = "POST", []byte(bodySecret), "text/plain", true
	c.Secrets = []string{bodySecret}
	res := run(t, r, c)
	if !strings.Contains(res.Err, "it would send a body holding a secret to another host") || len(seen) != 1 {
		t.Errorf("307 with a secret body: %+v, seen %q", res, seen)
	}
}
