package calls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/fakes/orderapi"
	"github.com/greentic/gtc/pkg/flow"
)

func TestHTTPAgainstOrderAPI(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	tests := []struct {
		name     string
		id       string
		faults   []orderapi.Fault
		status   int
		err      string
		requests int
		waits    []time.Duration
	}{
		{name: "found", id: "12345", status: 200, requests: 1},
		{name: "not found is not an error", id: "99999", status: 404, requests: 1},
		{name: "500 then 200 is retried", id: "12345", faults: []orderapi.Fault{{Status: 500}}, status: 200, requests: 2,
			waits: []time.Duration{BackoffBase}},
		{name: "500 three times is the error result", id: "12345", faults: []orderapi.Fault{{Status: 500, Times: 3}}, status: 500,
			requests: 3, waits: []time.Duration{BackoffBase, 2 * BackoffBase}},
		{name: "502 503 504 then 200", id: "12345", faults: []orderapi.Fault{{Status: 502}, {Status: 503}}, status: 200, requests: 3,
			waits: []time.Duration{BackoffBase, 2 * BackoffBase}},
		{name: "a dropped connection is retried", id: "12345", faults: []orderapi.Fault{{Drop: true}}, status: 200, requests: 2,
			waits: []time.Duration{BackoffBase}},
		{name: "dropped three times", id: "12345", faults: []orderapi.Fault{{Drop: true, Times: 3}},
			err: "GET " + strings.TrimPrefix(api.URL, "http://") + ": the server closed the connection (after 3 tries)", requests: 3,
			waits: []time.Duration{BackoffBase, 2 * BackoffBase}},
		{name: "400 is not retried", id: "12345", faults: []orderapi.Fault{{Status: 400}}, status: 400, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api.Reset()
			for _, f := range tt.faults {
				api.Fail(f)
			}
			r, clk, _ := newRunner(t)
			// Go's transport replays a request with an Idempotency-Key once by itself when a
			// reused connection closes before any answer; without keep-alives every try is
			// one request, so the counts below are exact.
			r.Transport = &http.Transport{DisableKeepAlives: true}
			c := get(api.OrdersURL() + "/" + tt.id)
			res := run(t, r, c)
			if res.Status != tt.status || res.Err != tt.err {
				t.Errorf("status %d err %q, want %d %q", res.Status, res.Err, tt.status, tt.err)
			}
			reqs := api.Requests()
			if len(reqs) != tt.requests {
				t.Errorf("%d requests, want %d", len(reqs), tt.requests)
			}
			for _, q := range reqs {
				if q.Problem != "" {
					t.Errorf("the order API refused: %s", q.Problem)
				}
				if q.IdempotencyKey != "gtc-c0nv-3" || q.UserAgent != "gtc/test" {
					t.Errorf("key %q agent %q", q.IdempotencyKey, q.UserAgent)
				}
			}
			if got := clk.waits(); !reflect.DeepEqual(got, tt.waits) {
				t.Errorf("waits %v, want %v", got, tt.waits)
			}
		})
	}
}

func TestHTTPFoundBody(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	r, _, _ := newRunner(t)
	res := run(t, r, get(api.OrdersURL()+"/12345"))
	body, ok := res.Body.(map[string]any)
	if !ok || body["id"] != "12345" || body["status"] != "shipped" || body["items"] != 2.0 {
		t.Fatalf("body = %#v", res.Body)
	}
	if res.Headers["content-type"] != "application/json" {
		t.Errorf("headers = %v", res.Headers)
	}
	res = run(t, r, get(api.OrdersURL()+"/nope"))
	if body, _ := res.Body.(map[string]any); res.Status != 404 || body["error"] != "order not found" {
		t.Errorf("404: %d %#v", res.Status, res.Body)
	}
}

func TestDefaultUserAgentHasVersion(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	r := &Runner{}
	res := run(t, r, get(api.OrdersURL()+"/12345"))
	if res.Status != 200 {
		t.Fatalf("status %d: %+v", res.Status, res)
	}
	if ua := api.Requests()[0].UserAgent; !strings.HasPrefix(ua, "gtc/") {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestIdempotencyKeyIdenticalAcrossRetries(t *testing.T) {
	var keys []string
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("Idempotency-Key")+" "+r.Header.Get("User-Agent"))
		n++
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	r, _, _ := newRunner(t)
	c := get(srv.URL)
	c.HTTP.Headers = []flow.HTTPHeader{{Name: "Idempotency-Key", Value: "mine"}}
	if res := run(t, r, c); res.Status != 200 || res.Body != "ok" {
		t.Fatalf("result %+v", res)
	}
	want := []string{"gtc-c0nv-3 gtc/test", "gtc-c0nv-3 gtc/test", "gtc-c0nv-3 gtc/test"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %q", keys)
	}
	// A job that retries by itself (Try) sends the same key on every try, as after a crash.
	keys, n = nil, 0
	for i := 1; i <= 3; i++ {
		if _, err := r.Try(context.Background(), c, i); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("Try keys %q", keys)
	}
	// after a crash a new process runs the stored call again: the same key
	keys, n = nil, 2
	fresh := &Runner{UserAgent: "gtc/test"}
	if res := run(t, fresh, c); res.Status != 200 || !reflect.DeepEqual(keys, want[:1]) {
		t.Errorf("after a restart: %+v, keys %q", res, keys)
	}
}

func TestTryDecidesRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	r, _, _ := newRunner(t)
	c := get(srv.URL)
	for attempt, want := range map[int]bool{1: true, 2: true, 3: false, 7: false} {
		a, err := r.Try(context.Background(), c, attempt)
		if err != nil {
			t.Fatal(err)
		}
		if a.Retry != want || a.Result.Status != 500 || a.Outcome != OutcomeServerError {
			t.Errorf("try %d: %+v", attempt, a)
		}
		if want && a.Wait != Backoff(attempt, r.Rand) {
			t.Errorf("try %d: wait %v", attempt, a.Wait)
		}
	}
	c.HTTP.Retries = 0
	if a, _ := r.Try(context.Background(), c, 1); a.Retry {
		t.Error("retries: 0 retried")
	}
}

func TestTimeout(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	api.Fail(orderapi.Fault{Delay: 2 * time.Second, Times: 2})
	r, clk, _ := newRunner(t)
	c := get(api.OrdersURL() + "/12345")
	c.HTTP.Timeout, c.HTTP.Retries = 100*time.Millisecond, 1
	start := time.Now()
	res := run(t, r, c)
	if !strings.HasSuffix(res.Err, ": no answer within 100ms (after 2 tries)") || res.Status != 0 {
		t.Errorf("result %+v", res)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %v", d)
	}
	if len(clk.waits()) != 1 {
		t.Errorf("waits %v", clk.waits())
	}
	// the third request is fine again
	c.HTTP.Retries = 0
	if res := run(t, r, c); res.Status != 200 {
		t.Errorf("after the faults: %+v", res)
	}
}

func TestTimeoutBounds(t *testing.T) {
	for _, tt := range []struct {
		in, want time.Duration
	}{{0, 10 * time.Second}, {5 * time.Second, 5 * time.Second}, {45 * time.Second, 30 * time.Second}, {-1, 10 * time.Second}} {
		if got := Timeout(&flow.Call{HTTP: &flow.HTTPRequest{Timeout: tt.in}}); got != tt.want {
			t.Errorf("Timeout(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := Retries(&flow.Call{HTTP: &flow.HTTPRequest{Retries: 99}}); got != flow.MaxHTTPRetries {
		t.Errorf("Retries(99) = %d", got)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, clk, _ := newRunner(t)
	res := run(t, r, get("http://"+addr+"/orders/1"))
	if res.Err != "GET "+addr+": connection refused (after 3 tries)" || res.Status != 0 {
		t.Errorf("result %+v", res)
	}
	if len(clk.waits()) != 2 {
		t.Errorf("waits %v", clk.waits())
	}
}

func TestBodyLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := MaxBody
		if r.URL.Path == "/big" {
			n++
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("x", n))
	}))
	defer srv.Close()
	r, clk, _ := newRunner(t)
	res := run(t, r, get(srv.URL+"/big"))
	if !strings.Contains(res.Err, "the response body is over 1048576 bytes (1 MB)") || res.Body != nil {
		t.Errorf("over the limit: %+v", res.Err)
	}
	if len(clk.waits()) != 0 {
		t.Error("a body over the limit was retried")
	}
	res = run(t, r, get(srv.URL+"/exact"))
	if s, _ := res.Body.(string); res.Err != "" || len(s) != MaxBody {
		t.Errorf("at the limit: err %q, %d bytes", res.Err, len(s))
	}
}

// redirector redirects /r/N to /r/N-1 until /r/0, which answers ok.
func redirector() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/r/%d", &n); err == nil && n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
			return
		}
		fmt.Fprint(w, "arrived with "+r.Header.Get("Idempotency-Key"))
	}))
}

func TestRedirects(t *testing.T) {
	srv := redirector()
	defer srv.Close()
	r, _, _ := newRunner(t)
	res := run(t, r, get(srv.URL+"/r/3"))
	if res.Status != 200 || res.Body != "arrived with gtc-c0nv-3" {
		t.Errorf("3 redirects: %+v", res)
	}
	res = run(t, r, get(srv.URL+"/r/4"))
	if !strings.HasSuffix(res.Err, ": more than 3 redirects: call the final URL directly") || res.Status != 0 {
		t.Errorf("4 redirects: %+v", res)
	}
}

func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1) }))
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/done", http.StatusMovedPermanently)
			return
		}
		if r.URL.Path == "/done" {
			fmt.Fprint(w, "secure")
			return
		}
		http.Redirect(w, r, plain.URL+"/x", http.StatusFound)
	}))
	defer tlsSrv.Close()
	r, clk, _ := newRunner(t)
	r.Transport = tlsSrv.Client().Transport
	res := run(t, r, get(tlsSrv.URL+"/start"))
	host := strings.TrimPrefix(plain.URL, "http://")
	if !strings.HasSuffix(res.Err, ": redirect from https to http://"+host+" refused: it would send the request unencrypted") {
		t.Errorf("result %+v", res)
	}
	if plainHits.Load() != 0 || len(clk.waits()) != 0 {
		t.Errorf("plain server hit %d times, waits %v", plainHits.Load(), clk.waits())
	}
	if res := run(t, r, get(tlsSrv.URL+"/same")); res.Body != "secure" {
		t.Errorf("https to https: %+v", res)
	}
}

func TestHTTPAllow(t *testing.T) {
	srv := redirector()
	defer srv.Close()
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r, _, _ := newRunner(t)
	r.Allow = func(h string) bool { return answers.AllowHost([]string{"shop.example.com", host}, h) }
	otherHost := strings.TrimPrefix(other.URL, "http://")
	res := run(t, r, get(other.URL+"/orders/1"))
	want := "GET " + otherHost + ": host " + otherHost + " is not in http_allow: add it to http_allow in answers.json to let flows call it"
	if res.Err != want || hits.Load() != 0 {
		t.Errorf("err %q, want %q; %d hits", res.Err, want, hits.Load())
	}
	if res := run(t, r, get(srv.URL+"/r/1")); res.Status != 200 {
		t.Errorf("allowed host: %+v", res)
	}
	// a redirect to a host outside the list is refused too
	jump := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/x", http.StatusFound)
	}))
	defer jump.Close()
	jumpHost := strings.TrimPrefix(jump.URL, "http://")
	r.Allow = func(h string) bool { return answers.AllowHost([]string{jumpHost}, h) }
	res = run(t, r, get(jump.URL))
	if !strings.HasSuffix(res.Err, "redirect to "+otherHost+" refused: the host is not in http_allow") || hits.Load() != 0 {
		t.Errorf("redirect: %+v, %d hits", res, hits.Load())
	}
}

func TestSchemesRefused(t *testing.T) {
	r, _, _ := newRunner(t)
	for _, u := range []string{"ftp://shop.example.com/x", "file:///etc/passwd", "gopher://x/"} {
		if res := run(t, r, get(u)); !strings.Contains(res.Err, "only http and https URLs can be called") {
			t.Errorf("%s: %+v", u, res)
		}
	}
	if res := run(t, r, get("http://user:pw@shop.example.com/")); !strings.Contains(res.Err, "user info") || strings.Contains(res.Err, "pw") {
		t.Errorf("user info: %+v", res)
	}
	if res := run(t, r, get("/relative")); !strings.Contains(res.Err, "not an absolute http(s) URL") {
		t.Errorf("relative: %+v", res)
	}
}

func TestRetryAfter(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	r, clk, _ := newRunner(t)
	api.Fail(orderapi.Fault{Status: 429, RetryAfter: "7"})
	if res := run(t, r, get(api.OrdersURL()+"/12345")); res.Status != 200 {
		t.Errorf("429 then 200: %+v", res)
	}
	if got := clk.waits(); !reflect.DeepEqual(got, []time.Duration{7 * time.Second}) {
		t.Errorf("waits %v, want [7s]", got)
	}
	// 503 with Retry-After, then a 429 without: the backoff
	r, clk, _ = newRunner(t)
	api.Fail(orderapi.Fault{Status: 503, RetryAfter: "3"})
	api.Fail(orderapi.Fault{Status: 429})
	if res := run(t, r, get(api.OrdersURL()+"/12345")); res.Status != 200 {
		t.Errorf("503, 429, 200: %+v", res)
	}
	if got := clk.waits(); !reflect.DeepEqual(got, []time.Duration{3 * time.Second, 2 * BackoffBase}) {
		t.Errorf("waits %v", got)
	}
	// a Retry-After beyond MaxRetryAfter ends the retries: 429 goes to next (ok=false)
	r, clk, _ = newRunner(t)
	api.Reset()
	api.Fail(orderapi.Fault{Status: 429, RetryAfter: "3600"})
	if res := run(t, r, get(api.OrdersURL()+"/12345")); res.Status != 429 || res.Err != "" {
		t.Errorf("long Retry-After: %+v", res)
	}
	if len(clk.waits()) != 0 || len(api.Requests()) != 1 {
		t.Errorf("waits %v, %d requests", clk.waits(), len(api.Requests()))
	}
	// 429 every time: after the retries the 429 is the result
	r, _, _ = newRunner(t)
	api.Fail(orderapi.Fault{Status: 429, RetryAfter: "1", Times: 3})
	if res := run(t, r, get(api.OrdersURL()+"/12345")); res.Status != 429 || res.Err != "" {
		t.Errorf("429 three times: %+v", res)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 12 ":                          12 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Mon, 30 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Mon, 30 Nov 2026 11:00:00 GMT": 0,
		"99999999999999999999":          0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPostJSONAndRedirect307KeepsBody(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("X-Shop")+" "+string(b))
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
		w.WriteHeader(422)
		fmt.Fprint(w, `{"title":"no such item","n":[1,2]}`)
	}))
	defer srv.Close()
	r, _, _ := newRunner(t)
	c := get(srv.URL + "/a")
	c.HTTP.Method = "POST"
	c.HTTP.Body, c.HTTP.ContentType = []byte(`{"id":"1"}`), "application/json"
	c.HTTP.Headers = []flow.HTTPHeader{{Name: "X-Shop", Value: "s1"}}
	res := run(t, r, c)
	want := []string{`POST /a application/json s1 {"id":"1"}`, `POST /b application/json s1 {"id":"1"}`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests %q", got)
	}
	if b, _ := res.Body.(map[string]any); res.Status != 422 || b["title"] != "no such item" {
		t.Errorf("result %+v", res)
	}
}

func TestCancelledIsNotFinished(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	api.SetDelay(5 * time.Second)
	r, _, _ := newRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := r.Run(ctx, get(api.OrdersURL()+"/12345"))
	if !errors.Is(err, ErrNotFinished) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	if _, err := r.Try(ctx, get(api.OrdersURL()+"/12345"), 1); !errors.Is(err, ErrNotFinished) {
		t.Errorf("Try err = %v", err)
	}
}

func TestSlowHook(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	type key struct{}
	var calls atomic.Int32
	var seen atomic.Value
	r, _, _ := newRunner(t)
	r.SlowAfter = 50 * time.Millisecond
	r.OnSlow = func(ctx context.Context, c *flow.Call) {
		calls.Add(1)
		seen.Store(fmt.Sprint(ctx.Value(key{}), " ", c.Node))
	}
	ctx := context.WithValue(context.Background(), key{}, "wamid.1")
	// fast: no hook
	if _, err := r.Run(ctx, get(api.OrdersURL()+"/12345")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if calls.Load() != 0 {
		t.Fatalf("hook called for a fast call")
	}
	// slow, over two tries: one call of the hook
	api.Fail(orderapi.Fault{Delay: 150 * time.Millisecond, Status: 500})
	api.Fail(orderapi.Fault{Delay: 150 * time.Millisecond})
	res, err := r.Run(ctx, get(api.OrdersURL()+"/12345"))
	if err != nil || res.Status != 200 {
		t.Fatalf("%+v %v", res, err)
	}
	time.Sleep(80 * time.Millisecond)
	if calls.Load() != 1 || seen.Load() != "wamid.1 lookup" {
		t.Errorf("hook called %d times with %v", calls.Load(), seen.Load())
	}
}

func TestDefaultSlowAfterIsOneSecond(t *testing.T) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	api.Fail(orderapi.Fault{Delay: 1200 * time.Millisecond})
	var calls atomic.Int32
	r, _, _ := newRunner(t)
	r.OnSlow = func(context.Context, *flow.Call) { calls.Add(1) }
	if _, err := r.Run(context.Background(), get(api.OrdersURL()+"/12345")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("hook called %d times for a 1.2 s call", calls.Load())
	}
}

// BenchmarkRun is one http call against the order API double (no delay): the Runner's own
// cost per call, in parallel.
func BenchmarkRun(b *testing.B) {
	api := orderapi.New(orderapi.Options{})
	defer api.Close()
	r := &Runner{}
	c := get(api.OrdersURL() + "/12345")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := r.Run(context.Background(), c); err != nil || res.Status != 200 {
				b.Fatalf("%+v %v", res, err)
			}
		}
	})
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	r, clk, _ := newRunner(t)
	r.Transport = &http.Transport{} // trusts the system roots only
	res := run(t, r, get(srv.URL))
	if !strings.HasSuffix(res.Err, ": the server's TLS certificate is not trusted") || len(clk.waits()) != 0 {
		t.Errorf("%+v, waits %v", res, clk.waits())
	}
}
