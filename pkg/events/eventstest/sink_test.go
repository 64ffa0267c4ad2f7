package eventstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/events"
)

const secret = "sink-secret"

func body(t *testing.T, id, contact string) []byte {
	t.Helper()
	b, err := events.NewHandoffReleased(events.Head{ID: id, Time: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		Tenant: "acme", Team: "support", Contact: events.ContactFromKey(contact)},
		events.HandoffReleased{By: events.ByTimeout}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends b as gtc would, with edit applied to the request first.
func post(t *testing.T, url string, b []byte, edit func(r *http.Request)) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gtc/test")
	req.Header.Set(events.EventHeader, "handoff.released")
	if ev, err := events.Parse(b); err == nil {
		req.Header.Set(events.DeliveryHeader, ev.ID)
	}
	req.Header.Set(events.SignatureHeader, events.Sign(b, secret))
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSinkRefuses(t *testing.T) {
	good := body(t, "evt_1", "4915123456789")
	tests := []struct {
		name    string
		body    []byte
		edit    func(r *http.Request)
		status  int
		problem string
	}{
		{"wrong path", good, func(r *http.Request) { r.URL.Path = "/other" }, 404, "events go to /events"},
		{"GET", nil, func(r *http.Request) { r.Method = http.MethodGet }, 405, "want POST"},
		{"bad signature", good, func(r *http.Request) { r.Header.Set(events.SignatureHeader, events.Sign(good, "x")) }, 401, "does not match"},
		{"no signature", good, func(r *http.Request) { r.Header.Del(events.SignatureHeader) }, 401, "missing"},
		{"two signatures", good, func(r *http.Request) { r.Header.Add(events.SignatureHeader, events.Sign(good, secret)) }, 401, "want one"},
		{"no content type", good, func(r *http.Request) { r.Header.Del("Content-Type") }, 400, "want application/json"},
		{"not gtc", good, func(r *http.Request) { r.Header.Set("User-Agent", "curl/8") }, 400, "want gtc/<version>"},
		{"no delivery header", good, func(r *http.Request) { r.Header.Del(events.DeliveryHeader) }, 400, "missing X-Gtc-Delivery"},
		{"header type differs", good, func(r *http.Request) { r.Header.Set(events.EventHeader, "send.failed") }, 400, "headers say send.failed"},
		{"header id differs", good, func(r *http.Request) { r.Header.Set(events.DeliveryHeader, "evt_2") }, 400, "body says handoff.released evt_1"},
		{"unknown key", []byte(strings.Replace(string(good), `"team"`, `"extra":1,"team"`, 1)),
			func(r *http.Request) { r.Header.Set(events.DeliveryHeader, "evt_1") }, 400, `unknown field "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, Options{Secret: secret, ExpectBad: true})
			if got := post(t, s.URL(), tt.body, tt.edit); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Status != tt.status || !strings.Contains(reqs[0].Problem, tt.problem) {
				t.Errorf("requests %+v, want one refused with %q", reqs, tt.problem)
			}
			if len(s.Events()) != 0 {
				t.Error("recorded a refused event")
			}
		})
	}
}

func TestSinkUnsigned(t *testing.T) {
	s := New(t, Options{ExpectBad: true})
	b := body(t, "evt_1", "4915123456789")
	if got := post(t, s.URL(), b, nil); got != 401 {
		t.Errorf("signed POST to a sink without secret: %d, want 401", got)
	}
	if got := post(t, s.URL(), b, func(r *http.Request) { r.Header.Del(events.SignatureHeader) }); got != 204 {
		t.Errorf("unsigned POST: %d, want 204", got)
	}
}

func TestSinkDuplicates(t *testing.T) {
	s := New(t, Options{Secret: secret, ExpectBad: true})
	b := body(t, "evt_1", "4915123456789")
	for range 2 {
		if got := post(t, s.URL(), b, nil); got != 204 {
			t.Fatalf("status %d", got)
		}
	}
	if n, m := len(s.Received()), len(s.Events()); n != 2 || m != 1 {
		t.Errorf("received %d, events %d; want 2 and 1", n, m)
	}
	// The same id with other bytes is not a retry.
	other := bytes.Replace(b, []byte(`"timeout"`), []byte(`"api"`), 1)
	if got := post(t, s.URL(), other, nil); got != 400 {
		t.Errorf("same id, other body: %d, want 400", got)
	}
}

func TestSinkFailNextAndOut(t *testing.T) {
	var out syncBuffer
	s := New(t, Options{Secret: secret, Out: &out})
	s.FailNext(2, 0)
	b := body(t, "evt_1", "4915123456789")
	for i, want := range []int{500, 500, 204} {
		if got := post(t, s.URL(), b, nil); got != want {
			t.Errorf("POST %d: %d, want %d", i+1, got, want)
		}
	}
	s.FailNext(1, 410)
	if got := post(t, s.URL(), body(t, "evt_2", "4915123456789"), nil); got != 410 {
		t.Errorf("scripted status %d, want 410", got)
	}
	if got := out.String(); got != string(b)+"\n" {
		t.Errorf("Out = %q, want the accepted body on one line", got)
	}
}

func TestSinkWaitAndByContact(t *testing.T) {
	s := New(t, Options{Secret: secret})
	go func() {
		for i, c := range []string{"4915100000001", "US.1", "4915100000001"} {
			post(t, s.URL(), body(t, fmt.Sprintf("evt_%d", i+1), c), nil)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := s.Wait(ctx, 3)
	if err != nil || len(evs) != 3 {
		t.Fatalf("Wait = %d events, %v", len(evs), err)
	}
	got := s.ByContact()
	if fmt.Sprint(got) != "map[4915100000001:[evt_1 evt_3] US.1:[evt_2]]" {
		t.Errorf("ByContact = %v", got)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := s.Wait(ctx2, 4); err == nil || !strings.Contains(err.Error(), "3 of 4 events arrived") {
		t.Errorf("Wait for a missing event = %v", err)
	}
}

func TestStartOnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := Start(Options{Addr: addr, Path: "/hooks/gtc", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.URL() != "http://"+addr+"/hooks/gtc" || s.Addr() != addr {
		t.Errorf("URL %s, Addr %s", s.URL(), s.Addr())
	}
	if got := post(t, s.URL(), body(t, "evt_1", "4915123456789"), nil); got != 204 {
		t.Errorf("status %d", got)
	}
	if _, err := Start(Options{Addr: addr}); err == nil || !strings.Contains(err.Error(), "listen on "+addr) {
		t.Errorf("second Start on a busy address = %v", err)
	}
}

// TestNewReportsRefusals: without ExpectBad, a refused request fails the test at its end.
func TestNewReportsRefusals(t *testing.T) {
	tb := &recordingTB{TB: t}
	s := New(tb, Options{Secret: secret})
	post(t, s.URL(), body(t, "evt_1", "4915123456789"), func(r *http.Request) { r.Header.Del(events.SignatureHeader) })
	tb.cleanup()
	if len(tb.errs) != 1 || !strings.Contains(tb.errs[0], "refused handoff.released evt_1: missing X-Gtc-Signature-256") {
		t.Errorf("errors %q", tb.errs)
	}
}

type recordingTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
