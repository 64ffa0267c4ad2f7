// Package orderapi is an in-process double of a shop's order API, for the starter "Check
// Status" conversation in tests and `gtc chat`:
//
//	GET {prefix}/{id}   200 {"id", "status", ...} for a scripted order, 404 for any other
//
// It is strict about what gtc must send: a GET without a body, an Idempotency-Key of the form
// gtc-<conversation>-<step>, a User-Agent gtc/<version>, and, when Options.Token is set,
// Authorization: Bearer <token>; anything else gets a 400 (401 for the token) whose JSON
// error says what was wrong, and the request is recorded with that Problem. Faults (Fail)
// answer a status n times, hold answers back or drop the connection.
package orderapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/fakes/internal/fakehttp"
)

// DefaultPrefix is the path under which orders are served.
const DefaultPrefix = "/orders"

// Fault is a scripted misbehaviour (see Server.Fail).
type Fault = fakehttp.Fault

// Order is one order the API knows.
type Order struct {
	ID     string
	Status string
	// Fields are more keys of the answer (items, total, eta, ...).
	Fields map[string]any
}

// MarshalJSON writes {"id", "status", ...Fields}.
func (o Order) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range o.Fields {
		m[k] = v
	}
	m["id"], m["status"] = o.ID, o.Status
	return json.Marshal(m)
}

// DefaultOrders are the orders a Server knows when Options.Orders is nil.
func DefaultOrders() []Order {
	return []Order{
		{ID: "12345", Status: "shipped", Fields: map[string]any{"carrier": "DHL", "eta": "2026-12-03", "items": 2, "total": "59.90 EUR"}},
		{ID: "10001", Status: "processing", Fields: map[string]any{"eta": "2026-12-05", "items": 1, "total": "19.00 EUR"}},
		{ID: "10002", Status: "delivered", Fields: map[string]any{"delivered_at": "2026-11-28", "items": 3, "total": "102.50 EUR"}},
		{ID: "10003", Status: "cancelled", Fields: map[string]any{"items": 1, "total": "9.99 EUR"}},
	}
}

// Options configure a Server; the zero value works.
type Options struct {
	// Orders the API knows; nil means DefaultOrders(), an empty non-nil slice none.
	Orders []Order
	// Token, when set, is the only bearer token accepted.
	Token string
	// Prefix is where orders live (DefaultPrefix when "").
	Prefix string
	// Delay holds back every answer.
	Delay time.Duration
}

// Request is one recorded request.
type Request struct {
	Method, Path, Query string
	Header              http.Header // Authorization and other credentials redacted
	IdempotencyKey      string
	UserAgent           string
	OrderID             string
	// Status is what the fake answered (0: the connection was dropped or the client left).
	Status int
	// Problem says why the request was refused ("" when it was fine).
	Problem string
	At      time.Time
}

// Server is a running double. OrdersURL is the value for order_api_url.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:34567.
	URL string

	opts   Options
	srv    *httptest.Server
	faults fakehttp.Faults
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	orders   map[string]Order
	requests []Request
	delay    time.Duration
}

var keyRe = regexp.MustCompile(`^gtc-[A-Za-z0-9_.:-]+-[0-9]+$`)

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
	if opts.Orders == nil {
		opts.Orders = DefaultOrders()
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	opts.Prefix = "/" + strings.Trim(opts.Prefix, "/")
	s := &Server{opts: opts, orders: map[string]Order{}, delay: opts.Delay, closed: make(chan struct{})}
	for _, o := range opts.Orders {
		s.orders[o.ID] = o
	}
	return s
}

// OrdersURL is URL + prefix: the order_api_url setting for this double.
func (s *Server) OrdersURL() string { return s.URL + s.opts.Prefix }

// SetOrder adds or replaces an order.
func (s *Server) SetOrder(o Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders[o.ID] = o
}

// RemoveOrder forgets an order (then it answers 404).
func (s *Server) RemoveOrder(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.orders, id)
}

// Orders lists the known order ids, sorted.
func (s *Server) Orders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.orders {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Fail queues a fault for the next requests: Fail(Fault{Status: 500, Times: 2}) answers 500
// twice, Fail(Fault{Drop: true}) drops one connection, Fail(Fault{Delay: time.Second}) holds
// one answer back.
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

// Reset forgets the recorded requests and queued faults (not the orders).
func (s *Server) Reset() {
	s.faults.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
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

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: fakehttp.Redacted(r.Header),
		IdempotencyKey: r.Header.Get("Idempotency-Key"), UserAgent: r.Header.Get("User-Agent"), At: time.Now()}
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	fakehttp.Serve(w, r, s.closed, delay, &s.faults,
		func(f *Fault) (int, []byte, http.Header) { return s.answer(r, &req, f) },
		func(status int) { req.Status = status; s.record(req) })
}

func (s *Server) answer(r *http.Request, req *Request, f *Fault) (int, []byte, http.Header) {
	refuse := func(status int, problem string) (int, []byte, http.Header) {
		req.Problem = problem
		b, _ := json.Marshal(map[string]string{"error": problem})
		return status, b, nil
	}
	switch {
	case req.IdempotencyKey == "":
		return refuse(http.StatusBadRequest, "missing Idempotency-Key header")
	case !keyRe.MatchString(req.IdempotencyKey):
		return refuse(http.StatusBadRequest, "Idempotency-Key is not gtc-<conversation>-<step>: "+req.IdempotencyKey)
	case !strings.HasPrefix(req.UserAgent, "gtc/"):
		return refuse(http.StatusBadRequest, "User-Agent is not gtc/<version>: "+req.UserAgent)
	}
	if s.opts.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		return refuse(http.StatusUnauthorized, "missing or wrong bearer token")
	}
	if r.Method != http.MethodGet {
		st, b, _ := refuse(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use GET")
		return st, b, http.Header{"Allow": {http.MethodGet}}
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1)); n > 0 {
		return refuse(http.StatusBadRequest, "a GET must not have a body")
	}
	id, ok := strings.CutPrefix(r.URL.Path, s.opts.Prefix+"/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return refuse(http.StatusNotFound, "no such path: orders are at "+s.opts.Prefix+"/{id}")
	}
	req.OrderID = id
	if f != nil && f.Status != 0 {
		body := []byte(f.Body)
		if f.Body == "" {
			body, _ = json.Marshal(map[string]string{"error": http.StatusText(f.Status)})
		}
		var h http.Header
		if f.RetryAfter != "" {
			h = http.Header{"Retry-After": {f.RetryAfter}}
		}
		return f.Status, body, h
	}
	s.mu.Lock()
	o, found := s.orders[id]
	s.mu.Unlock()
	if !found {
		b, _ := json.Marshal(map[string]string{"error": "order not found", "id": id})
		return http.StatusNotFound, b, nil
	}
	b, _ := json.Marshal(o)
	return http.StatusOK, b, nil
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}
