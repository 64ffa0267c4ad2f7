package orderapi

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, method, url string, hdr map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
	}
	req.Header.Set("Idempotency-Key", "gtc-abc123-4")
	req.Header.Set("User-Agent", "gtc/1.2.3")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestOrders(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	st, m := do(t, "GET", s.OrdersURL()+"/12345", nil, "")
	if st != 200 || m["id"] != "12345" || m["status"] != "shipped" || m["carrier"] != "DHL" {
		t.Errorf("found: %d %v", st, m)
	}
	st, m = do(t, "GET", s.OrdersURL()+"/nope", nil, "")
	if st != 404 || m["error"] != "order not found" {
		t.Errorf("unknown: %d %v", st, m)
	}
	s.SetOrder(Order{ID: "nope", Status: "paid"})
	if st, m = do(t, "GET", s.OrdersURL()+"/nope", nil, ""); st != 200 || m["status"] != "paid" {
		t.Errorf("set: %d %v", st, m)
	}
	s.RemoveOrder("12345")
	if st, _ = do(t, "GET", s.OrdersURL()+"/12345", nil, ""); st != 404 {
		t.Errorf("removed: %d", st)
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[0].OrderID != "12345" || reqs[0].IdempotencyKey != "gtc-abc123-4" || reqs[0].Status != 200 {
		t.Errorf("requests %+v", reqs)
	}
}

func TestStrict(t *testing.T) {
	s := New(Options{Token: "tok"})
	defer s.Close()
	auth := map[string]string{"Authorization": "Bearer tok"}
	with := func(k, v string) map[string]string {
		m := map[string]string{"Authorization": "Bearer tok"}
		m[k] = v
		return m
	}
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		problem            string
	}{
		{"ok", "GET", "/orders/12345", auth, "", 200, ""},
		{"no key", "GET", "/orders/12345", with("Idempotency-Key", ""), "", 400, "missing Idempotency-Key header"},
		{"bad key", "GET", "/orders/12345", with("Idempotency-Key", "abc"), "", 400, "Idempotency-Key is not gtc-<conversation>-<step>: abc"},
		{"bad agent", "GET", "/orders/12345", with("User-Agent", "curl/8"), "", 400, "User-Agent is not gtc/<version>: curl/8"},
		{"no token", "GET", "/orders/12345", nil, "", 401, "missing or wrong bearer token"},
		{"post", "POST", "/orders/12345", auth, "", 405, "method POST not allowed: use GET"},
		{"body on get", "GET", "/orders/12345", auth, "x", 400, "a GET must not have a body"},
		{"bad path", "GET", "/orders/1/2", auth, "", 404, "no such path: orders are at /orders/{id}"},
		{"root", "GET", "/", auth, "", 404, "no such path: orders are at /orders/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Reset()
			st, m := do(t, tt.method, s.URL+tt.path, tt.hdr, tt.body)
			if st != tt.status {
				t.Errorf("status %d, want %d (%v)", st, tt.status, m)
			}
			r := s.Requests()[0]
			if r.Problem != tt.problem || (tt.problem != "" && m["error"] != tt.problem) {
				t.Errorf("problem %q / %v, want %q", r.Problem, m["error"], tt.problem)
			}
			if a := r.Header.Get("Authorization"); a != "" && a != "Bearer [redacted]" {
				t.Errorf("recorded Authorization %q", a)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.Fail(Fault{Status: 500, Times: 2})
	s.Fail(Fault{Status: 429, RetryAfter: "3"})
	for i, want := range []int{500, 500, 429, 200} {
		if st, _ := do(t, "GET", s.OrdersURL()+"/12345", nil, ""); st != want {
			t.Errorf("request %d: %d, want %d", i, st, want)
		}
	}
	s.Fail(Fault{Drop: true})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", s.OrdersURL()+"/12345", nil)
	if _, err := client.Do(req); err == nil {
		t.Error("dropped connection answered")
	}
	s.Fail(Fault{Delay: 300 * time.Millisecond})
	client.Timeout = 50 * time.Millisecond
	req, _ = http.NewRequest("GET", s.OrdersURL()+"/12345", nil)
	req.Header.Set("Idempotency-Key", "gtc-a-1")
	req.Header.Set("User-Agent", "gtc/x")
	var ne net.Error
	if _, err := client.Do(req); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("delay: %v", err)
	}
	s.Fail(Fault{Status: 503, Times: -1})
	for range 3 {
		if st, _ := do(t, "GET", s.OrdersURL()+"/12345", nil, ""); st != 503 {
			t.Errorf("always: %d", st)
		}
	}
	s.Reset()
	if st, _ := do(t, "GET", s.OrdersURL()+"/12345", nil, ""); st != 200 {
		t.Errorf("after reset: %d", st)
	}
}

func TestListen(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	s, err := Listen(addr, Options{Prefix: "api/orders/", Orders: []Order{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.URL != "http://"+addr || s.OrdersURL() != "http://"+addr+"/api/orders" || len(s.Orders()) != 0 {
		t.Errorf("URL %s, orders URL %s", s.URL, s.OrdersURL())
	}
	if st, _ := do(t, "GET", s.OrdersURL()+"/12345", nil, ""); st != 404 {
		t.Errorf("no orders: %d", st)
	}
	if _, err := Listen(addr, Options{}); err == nil {
		t.Error("listening twice on one address worked")
	}
	s.Close()
	s.Close()
}

func TestCloseEndsDelays(t *testing.T) {
	s := New(Options{Delay: time.Minute})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", s.OrdersURL()+"/12345", nil)
		_, _ = http.DefaultClient.Do(req)
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	s.Close()
	<-done
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}
