// Package eventstest is a receiver of gtc's event webhooks for tests: an HTTP server that
// checks every POST strictly (signature, headers, body), records the events in order and can
// be scripted to fail or to answer slowly. New starts one for a Go test; Start starts one on
// a given address for a manual try; ScriptCmd is the "eventsink" command for .txtar scripts.
package eventstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/events"
)

// MaxBody is the largest body the sink reads.
const MaxBody = 1 << 20

// Options configure a Sink. The zero value works (unsigned events on a random port).
type Options struct {
	// Secret is events_secret: every POST must carry a good X-Gtc-Signature-256. When
	// empty, a POST must carry no signature.
	Secret string
	// Addr is the address to listen on ("127.0.0.1:0" when empty).
	Addr string
	// Path is the path events are POSTed to ("/events" when empty); others get 404.
	Path string
	// Out, when set, gets each accepted event's body as one line, as it arrives.
	Out io.Writer
	// ExpectBad says the test sends bad requests on purpose; otherwise New fails the test at
	// its end for every request the sink refused as malformed or badly signed.
	ExpectBad bool
}

// Received is one accepted POST.
type Received struct {
	Event  *events.Event
	Body   []byte
	Header http.Header
	At     time.Time
}

// Request is one request the sink answered, accepted or not.
type Request struct {
	Delivery, Type string // the X-Gtc-Delivery and X-Gtc-Event headers
	Status         int
	// Problem says why the sink refused the request as malformed ("" for an accepted
	// request or a scripted failure).
	Problem string
	// Scripted is true when the answer was a scripted failure (FailNext).
	Scripted bool
}

// Sink is a running event receiver.
type Sink struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
	done chan struct{}

	mu       sync.Mutex
	received []Received
	requests []Request
	bodies   map[string][]byte // by event id
	failN    int
	failCode int
	delay    time.Duration
	changed  chan struct{}
}

// New starts a sink for t and closes it when t ends; unless opts.ExpectBad, every refused
// request fails t then.
func New(t testing.TB, opts Options) *Sink {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("eventstest: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		if opts.ExpectBad {
			return
		}
		for _, r := range s.Requests() {
			if r.Problem != "" {
				t.Errorf("eventstest: refused %s %s: %s", r.Type, r.Delivery, r.Problem)
			}
		}
	})
	return s
}

// Start starts a sink on opts.Addr. Close stops it.
func Start(opts Options) (*Sink, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Path == "" {
		opts.Path = "/events"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s := &Sink{opts: opts, ln: ln, done: make(chan struct{}), bodies: map[string][]byte{}, changed: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the URL to set as events_url.
func (s *Sink) URL() string { return "http://" + s.ln.Addr().String() + s.opts.Path }

// Addr is the address the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the sink at once; requests in flight are cut.
func (s *Sink) Close() {
	_ = s.srv.Close()
	<-s.done
}

// FailNext makes the next n well-formed POSTs answer status (500 when 0) without
// recording their events.
func (s *Sink) FailNext(n, status int) {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// SetDelay makes every answer wait d after the event was checked and recorded: a sender
// that gives up sooner sees a timeout although the event arrived (its retry is then a
// duplicate, which the sink records as well).
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Received returns every accepted POST in arrival order, duplicates included.
func (s *Sink) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Events returns the distinct events accepted, in order of first arrival.
func (s *Sink) Events() []*events.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.distinct()
}

func (s *Sink) distinct() []*events.Event {
	seen := map[string]bool{}
	var out []*events.Event
	for _, r := range s.received {
		if !seen[r.Event.ID] {
			seen[r.Event.ID] = true
			out = append(out, r.Event)
		}
	}
	return out
}

// ByContact returns the distinct events' ids per contact key (events.Contact.Key), in order
// of first arrival.
func (s *Sink) ByContact() map[string][]string {
	m := map[string][]string{}
	for _, e := range s.Events() {
		k := e.Contact.Key()
		m[k] = append(m[k], e.ID)
	}
	return m
}

// Requests returns every request answered, in order.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Wait waits until n distinct events have arrived and returns them, or returns what came
// with an error when ctx ends first.
func (s *Sink) Wait(ctx context.Context, n int) ([]*events.Event, error) {
	for {
		s.mu.Lock()
		evs, ch := s.distinct(), s.changed
		s.mu.Unlock()
		if len(evs) >= n {
			return evs, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return evs, fmt.Errorf("eventstest: %d of %d events arrived: %w", len(evs), n, ctx.Err())
		}
	}
}

func (s *Sink) record(r Request, rec *Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
	if rec != nil {
		s.received = append(s.received, *rec)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// ServeHTTP checks and records one POST.
func (s *Sink) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := Request{Delivery: req.Header.Get(events.DeliveryHeader), Type: req.Header.Get(events.EventHeader)}
	refuse := func(status int, format string, args ...any) {
		r.Status, r.Problem = status, fmt.Sprintf(format, args...)
		s.record(r, nil)
		http.Error(w, r.Problem, status)
	}
	if req.URL.Path != s.opts.Path {
		refuse(http.StatusNotFound, "path %s: events go to %s", req.URL.Path, s.opts.Path)
		return
	}
	if req.Method != http.MethodPost {
		refuse(http.StatusMethodNotAllowed, "method %s: want POST", req.Method)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	if err != nil {
		refuse(http.StatusRequestEntityTooLarge, "read body: %v", err)
		return
	}
	if err := s.check(req.Header, body); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errSignature) {
			status = http.StatusUnauthorized
		}
		refuse(status, "%v", err)
		return
	}
	ev, err := events.Parse(body)
	if err != nil {
		refuse(http.StatusBadRequest, "%v", err)
		return
	}
	if ev.ID != r.Delivery || string(ev.Type) != r.Type {
		refuse(http.StatusBadRequest, "headers say %s %s, body says %s %s", r.Type, r.Delivery, ev.Type, ev.ID)
		return
	}
	s.mu.Lock()
	if prev, dup := s.bodies[ev.ID]; dup && !bytes.Equal(prev, body) {
		s.mu.Unlock()
		refuse(http.StatusBadRequest, "event %s sent again with another body: a retry must send the stored bytes", ev.ID)
		return
	}
	scripted := s.failN > 0
	code, delay := s.failCode, s.delay
	if scripted {
		s.failN--
	} else {
		s.bodies[ev.ID] = body
	}
	s.mu.Unlock()
	if scripted {
		r.Status, r.Scripted = code, true
		s.record(r, nil)
		http.Error(w, "scripted failure", code)
		return
	}
	r.Status = http.StatusNoContent
	s.record(r, &Received{Event: ev, Body: body, Header: req.Header.Clone(), At: time.Now()})
	if s.opts.Out != nil {
		s.mu.Lock()
		fmt.Fprintf(s.opts.Out, "%s\n", body)
		s.mu.Unlock()
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

var errSignature = errors.New("signature")

type sigError struct{ err error }

func (e sigError) Error() string        { return e.err.Error() }
func (e sigError) Is(target error) bool { return target == errSignature }

func (s *Sink) check(h http.Header, body []byte) error {
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q: want application/json", ct)
	}
	if ua := h.Get("User-Agent"); !strings.HasPrefix(ua, "gtc/") {
		return fmt.Errorf("User-Agent %q: want gtc/<version>", ua)
	}
	if h.Get(events.DeliveryHeader) == "" || h.Get(events.EventHeader) == "" {
		return fmt.Errorf("missing %s or %s header", events.DeliveryHeader, events.EventHeader)
	}
	sig := h.Values(events.SignatureHeader)
	if s.opts.Secret == "" {
		if len(sig) > 0 {
			return sigError{errors.New("signed, but the sink has no secret: start it with Options.Secret")}
		}
		return nil
	}
	if len(sig) > 1 {
		return sigError{fmt.Errorf("%d %s headers: want one", len(sig), events.SignatureHeader)}
	}
	if err := events.Verify(body, h.Get(events.SignatureHeader), s.opts.Secret); err != nil {
		return sigError{err}
	}
	return nil
}
