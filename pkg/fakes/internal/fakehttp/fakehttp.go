// Package fakehttp holds what the HTTP doubles of pkg/fakes share: a listener on a random or
// given address, scripted faults and header redaction.
package fakehttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Start serves h on addr ("" or "127.0.0.1:0": a random local port).
func Start(addr string, h http.Handler) (*httptest.Server, error) {
	if addr == "" {
		return httptest.NewServer(h), nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	return s, nil
}

// Fault is a scripted misbehaviour for the next requests.
type Fault struct {
	// Times is how many requests get it (0: one; -1: every request until Reset).
	Times int
	// Delay holds the answer back (a client with a shorter timeout sees a timeout).
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Status, when not 0, is answered instead of the real answer, with Body (a JSON error
	// when "") and, when set, a Retry-After header.
	Status     int
	Body       string
	RetryAfter string
}

// Faults is a queue of faults, safe for concurrent use.
type Faults struct {
	mu   sync.Mutex
	list []*Fault
}

// Add queues f behind the faults already queued.
func (q *Faults) Add(f Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	q.list = append(q.list, &f)
}

// Next takes the fault for the next request (nil: none).
func (q *Faults) Next() *Fault {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.list) == 0 {
		return nil
	}
	f := q.list[0]
	out := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			q.list = q.list[1:]
		}
	}
	return &out
}

// Reset drops every queued fault.
func (q *Faults) Reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.list = nil
}

// Sleep waits d unless the request or the server (done) ends first; it reports whether the
// whole wait passed.
func Sleep(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-done:
	}
	return false
}

// Drop closes the request's connection without an answer.
func Drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, not a polite close
	}
	conn.Close()
}

// Redacted copies h with the value of Authorization (and any *-Key or *Token header) hidden.
func Redacted(h http.Header) http.Header {
	out := h.Clone()
	for k := range out {
		lk := strings.ToLower(k)
		if lk == "authorization" || lk == "proxy-authorization" || lk == "cookie" ||
			(strings.HasSuffix(lk, "-key") && lk != "idempotency-key") || strings.HasSuffix(lk, "token") {
			if lk == "authorization" && strings.HasPrefix(out.Get(k), "Bearer ") {
				out.Set(k, "Bearer [redacted]")
			} else {
				out.Set(k, "[redacted]")
			}
		}
	}
	return out
}

// Serve answers one request of a double the way every double does: it holds the answer back
// for delay plus the next fault's delay (giving up when the client leaves or done closes),
// drops the connection for a Drop fault, else writes answer's status, body and headers as
// JSON. record gets the status once, before anything is written (0: no answer was given).
func Serve(w http.ResponseWriter, r *http.Request, done <-chan struct{}, delay time.Duration, faults *Faults,
	answer func(f *Fault) (int, []byte, http.Header), record func(status int)) {
	f := faults.Next()
	if f != nil {
		delay += f.Delay
	}
	if !Sleep(r.Context(), done, delay) {
		record(0)
		return
	}
	if f != nil && f.Drop {
		record(0)
		Drop(w)
		return
	}
	status, body, hdr := answer(f)
	record(status)
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
