// Package graphfake is an in-process double of Meta's Graph API for the WhatsApp Business
// Cloud API, strict enough that a client passing against it is right about the real one.
//
// It serves, under any version prefix (/v18.0/, /v23.0/, ...):
//
//	POST /{phone_number_id}/messages           send, read receipt, typing indicator
//	POST /{phone_number_id}/media              multipart upload (messaging_product + file)
//	GET  /{media_id}                           media info (url, mime_type, sha256, file_size)
//	GET  /{business_account_id}/message_templates   cursor paging (limit, after, before)
//	GET  /{phone_number_id}?fields=...         phone number info (webhook_configuration too)
//	POST /{phone_number_id}                    webhook_configuration: the override callback URL
//
// and checks like Meta does: the bearer token (190), the phone number and account ids (100,
// subcode 33), every body strictly (unknown keys and bad JSON 100, missing fields 131008,
// bad values and the Cloud API limits 131009, unsupported types 131051, media 131053) and,
// when Options.Schema is set, against Meta's own Message schema (100); templates by name,
// language and status (132001, 132015, 132016) and parameter count and format (132000,
// 132012). Errors have Meta's shape with an fbtrace_id.
//
// Every call is recorded (Calls, Messages, Reads). Faults make it answer with any Graph error
// once, n times, for one recipient or always, synchronously or as a "failed" status
// webhook (Inject, FailNext, FailFor, FailAlways); Delay slows every answer, SlowAnswers
// answers late after accepting (a timeout whose send happened all the same). Accepted sends
// get unique, realistic wamid ids and, when Options.StatusWebhook is set, the sent,
// delivered and read status webhooks Meta would post, signed with X-Hub-Signature-256,
// echoing the send's biz_opaque_callback_data and carrying CBP or PMP pricing. The inbound
// builders (InboundText, InboundFlowReply, InboundUserIDChange, StandbyText, Handover,
// TemplateStatus, TemplateCategory, TemplateQuality) give every other webhook shape gtc
// reads, from a phone number, a business-scoped user id or both; PostWebhook posts one.
package graphfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultToken              = "graphfake-token"
	DefaultPhoneNumberID      = "106540352242922"
	DefaultBusinessAccountID  = "419561257915477"
	DefaultDisplayPhoneNumber = "15550783881"
	DefaultVerifiedName       = "Graphfake Test Business"
)

// Options configure a Server. The zero value works: every field has a default.
type Options struct {
	Token              string // the only bearer token accepted
	PhoneNumberID      string
	BusinessAccountID  string
	DisplayPhoneNumber string // digits, as in webhook metadata
	VerifiedName       string
	// Templates the account has; nil means DefaultTemplates(). An empty non-nil slice means none.
	Templates []Template
	// Schema, when set, validates every message body against Meta's Message schema (a
	// marketing_messages body against its MarketingMessageRequestPayload).
	Schema *metaschema.Validator
	// Clock gives the timestamps of status webhooks and calls; time.Now when nil.
	Clock func() time.Time
	// StatusWebhook, when its URL is set, receives status webhooks for accepted sends.
	StatusWebhook StatusWebhook
	// Limits, when set, enforce throughput (130429) and pair rate (131056) on Clock.
	Limits Limits
	// CheckMediaIDs refuses sends whose media id was not uploaded to this fake (code 100,
	// "... is not a valid whatsapp business account media attachment ID", as Meta answers).
	// Off by default so tests may send made-up ids.
	CheckMediaIDs bool
	// WaIDs maps a recipient's digits to the wa_id Graph resolves it to, for numbers whose
	// WhatsApp id differs from the number people type (Mexico: 525512345678 →
	// 5215512345678; Brazil: 5511987654321 → 551187654321). Others resolve to their digits.
	WaIDs map[string]string
	// MaxRecorded, when above 0, keeps only the last MaxRecorded calls, messages and reads
	// (for long runs such as load tests); Counts still counts all of them.
	MaxRecorded int
	// AppCallbackURL is the app's callback URL, reported as webhook_configuration.application
	// by GET /{phone}?fields=webhook_configuration; "" leaves it out.
	AppCallbackURL string
	// CallbackClient, when set, makes POST /{phone} verify an override callback URL with
	// Meta's GET handshake (hub.challenge echoed with the verify token) through it.
	CallbackClient *http.Client
	// EscalationPartner makes this app the business's escalation partner under Conversation
	// Routing: thread_control's take is allowed (else Graph refuses it with 2494191).
	EscalationPartner bool
	// MessagingLimit is the business portfolio's messaging limit the phone number reports
	// as whatsapp_business_manager_messaging_limit (default DefaultMessagingLimit).
	MessagingLimit string
}

// DefaultMessagingLimit is the portfolio messaging limit a fake reports: 2,000 users in 24
// hours, the tier a business reaches by its first scaling path.
const DefaultMessagingLimit = "TIER_2K"

// Counts are the totals since the start (or Reset), whatever MaxRecorded keeps.
type Counts struct {
	Calls, Messages, Reads int
}

// Call is one recorded request.
type Call struct {
	Method   string
	Path     string // without the version prefix, e.g. "/106540352242922/messages"
	Version  string // e.g. "v18.0"
	Query    string
	Endpoint string      // one of the Endpoint* constants
	Header   http.Header // Authorization's value is replaced by "Bearer [redacted]"
	Body     []byte      // the raw request body (multipart bodies are kept too)
	// Message is the decoded body of a send (Endpoint messages), nil otherwise or when the
	// body did not decode.
	Message *whatsapp.Message
	// Status and Response are what the fake answered.
	Status   int
	Response []byte
	// MessageID is the wamid given to an accepted send.
	MessageID string
	// ErrorCode is the Graph error code answered, 0 on success.
	ErrorCode int
	At        time.Time
}

// Read is one accepted read receipt (with or without a typing indicator).
type Read struct {
	MessageID string
	Typing    bool
}

// Server is a running fake. Use URL as the client's base URL (no version: the client adds
// it). Close it when done; New registers nothing with a test by itself.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:34567.
	URL string

	opts    Options
	clock   func() time.Time
	schema  *metaschema.Validator
	srv     *httptest.Server
	handler http.Handler

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every recorded call
	calls    []Call
	messages []whatsapp.Message
	reads    []Read
	counts   Counts
	faults   []*Fault
	delay    time.Duration
	// answerDelay holds answers back after the call was processed (SlowAnswers).
	answerDelay time.Duration
	templates   []Template
	override    string            // the phone number's override callback URL
	threads     map[string]string // thread owner per user (ThreadApp when absent)
	media       map[string]*mediaObject
	seq         int

	hooks   *hookQueue
	limiter *limiter

	closeOnce sync.Once
	closed    chan struct{}
}

// New starts a fake on a random local port.
func New(opts Options) *Server {
	s := newServer(opts)
	s.srv = httptest.NewServer(s.handler)
	s.URL = s.srv.URL
	return s
}

// NewUnstarted builds a fake without a listener, for serving Handler() elsewhere. Set URL
// before media info is requested (media urls point at it).
func NewUnstarted(opts Options) *Server {
	return newServer(opts)
}

func newServer(opts Options) *Server {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&opts.Token, DefaultToken)
	def(&opts.PhoneNumberID, DefaultPhoneNumberID)
	def(&opts.BusinessAccountID, DefaultBusinessAccountID)
	def(&opts.DisplayPhoneNumber, DefaultDisplayPhoneNumber)
	def(&opts.VerifiedName, DefaultVerifiedName)
	def(&opts.MessagingLimit, DefaultMessagingLimit)
	if opts.Templates == nil {
		opts.Templates = DefaultTemplates()
	}
	s := &Server{
		opts:      opts,
		clock:     opts.Clock,
		schema:    opts.Schema,
		changed:   make(chan struct{}),
		templates: append([]Template(nil), opts.Templates...),
		media:     map[string]*mediaObject{},
		closed:    make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.limiter = newLimiter(opts.Limits)
	s.hooks = newHookQueue(s, opts.StatusWebhook)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// Handler is the fake as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Options returns the options in effect (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// Close stops the listener and the status webhook sender; pending webhooks are dropped.
// It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.srv != nil {
			s.srv.CloseClientConnections()
			s.srv.Close()
		}
		s.hooks.close()
	})
}

// Calls returns every recorded call, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// Messages returns the accepted sends, in arrival order.
func (s *Server) Messages() []whatsapp.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]whatsapp.Message(nil), s.messages...)
}

// Reads returns the accepted read receipts and typing indicators.
func (s *Server) Reads() []Read {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Read(nil), s.reads...)
}

// Reset forgets recorded calls, messages, reads and faults (not templates or media).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.messages, s.reads, s.faults = nil, nil, nil, nil
	s.counts = Counts{}
}

// Counts returns how many calls, accepted sends and reads arrived.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// keep appends v to list, dropping the oldest entries beyond max (0 = keep all).
func keep[T any](list []T, v T, max int) []T {
	list = append(list, v)
	if max > 0 && len(list) > max {
		list = append(list[:0:0], list[len(list)-max:]...)
	}
	return list
}

// Inject adds a fault. Faults are matched in the order they were added; the first that
// matches a call answers it.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := f
	s.faults = append(s.faults, &fc)
}

// FailNext makes the next n sends fail with code (Meta's usual HTTP status for it).
func (s *Server) FailNext(n, code int) { s.Inject(Fault{Code: code, Times: n}) }

// FailFor makes every send to recipient fail with code.
func (s *Server) FailFor(recipient string, code int) { s.Inject(Fault{Code: code, To: recipient}) }

// FailAlways makes every send fail with code until ClearFaults.
func (s *Server) FailAlways(code int) { s.Inject(Fault{Code: code}) }

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Delay makes every following answer wait d (0 turns it off). A delayed answer ends early
// when the client gives up or the server closes.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetTemplates replaces the account's templates.
func (s *Server) SetTemplates(ts []Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates = append([]Template(nil), ts...)
}

// WaitForMessages blocks until at least n sends were accepted and returns them, or returns
// ctx's error with the count so far.
func (s *Server) WaitForMessages(ctx context.Context, n int) ([]whatsapp.Message, error) {
	for {
		s.mu.Lock()
		got, ch := s.counts.Messages, s.changed
		if got >= n {
			out := append([]whatsapp.Message(nil), s.messages...)
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("graphfake: %d of %d messages arrived: %w", got, n, ctx.Err())
		case <-s.closed:
			return nil, fmt.Errorf("graphfake: closed after %d of %d messages", got, n)
		}
	}
}

// WaitForCalls blocks until at least n calls (of any endpoint) were recorded.
func (s *Server) WaitForCalls(ctx context.Context, n int) ([]Call, error) {
	for {
		s.mu.Lock()
		got, ch := s.counts.Calls, s.changed
		if got >= n {
			out := append([]Call(nil), s.calls...)
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("graphfake: %d of %d calls arrived: %w", got, n, ctx.Err())
		case <-s.closed:
			return nil, fmt.Errorf("graphfake: closed after %d of %d calls", got, n)
		}
	}
}

// TB is the part of testing.TB the Expect helpers use (so the package, which gtc chat and
// gtc serve --fake-graph also use, does not import testing).
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// ExpectMessages fails t at the end of the test unless exactly n sends were accepted by
// then (an expected send that never came, or one too many). It lists what did arrive.
func (s *Server) ExpectMessages(t TB, n int) {
	t.Helper()
	t.Cleanup(func() {
		t.Helper()
		got := s.Messages()
		if total := s.Counts().Messages; total == n {
			return
		} else if total != len(got) {
			t.Errorf("graphfake: want %d accepted sends, got %d", n, total)
			return
		}
		var b strings.Builder
		for i, m := range got {
			fmt.Fprintf(&b, "\n  %d: to %s type %s", i+1, m.To, m.Type)
		}
		t.Errorf("graphfake: want %d accepted sends, got %d%s", n, len(got), b.String())
	})
}

// ExpectCalls fails t at the end of the test unless exactly n calls to endpoint ("" for
// any) were made.
func (s *Server) ExpectCalls(t TB, endpoint string, n int) {
	t.Helper()
	t.Cleanup(func() {
		t.Helper()
		got := 0
		for _, c := range s.Calls() {
			if endpoint == "" || c.Endpoint == endpoint {
				got++
			}
		}
		if endpoint == "" {
			got = s.Counts().Calls
		}
		if got != n {
			t.Errorf("graphfake: want %d calls to %q, got %d", n, endpoint, got)
		}
	})
}

var versionRe = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)(/.*)?$`)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: r.Method, Query: redactQuery(r.URL.Query()), Header: redactHeader(r.Header), At: s.clock()}
	// The answer is buffered and written only after the call is recorded, so a client that
	// has its answer always finds its call in Calls().
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	defer func() {
		s.record(call, rec)
		s.answerWait(r.Context())
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.buf.Bytes())
	}()

	if s.wait(r.Context()) != nil {
		call.Endpoint = EndpointUnknown
		rec.WriteHeader(http.StatusServiceUnavailable)
		return
	}

	// media downloads live outside the versioned Graph paths, like lookaside.fbsbx.com.
	if strings.HasPrefix(r.URL.Path, downloadPrefix) {
		call.Path = r.URL.Path
		call.Endpoint = EndpointDownload
		s.serveDownload(rec, r, &call)
		return
	}
	m := versionRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		call.Path = r.URL.Path
		call.Endpoint = EndpointUnknown
		s.fault(rec, &call, Fault{Code: 2500, Type: "OAuthException",
			Message: "Unknown path components: " + r.URL.Path + " (want /vNN.N/...)"})
		return
	}
	call.Version, call.Path = m[1], m[2]
	parts := strings.Split(strings.Trim(call.Path, "/"), "/")
	call.Endpoint = classify(r.Method, parts, s.opts)

	if f, ok := s.checkToken(r); !ok {
		s.fault(rec, &call, f)
		return
	}

	switch {
	case len(parts) == 2 && parts[1] == "messages":
		if r.Method != http.MethodPost {
			s.fault(rec, &call, unsupported(r.Method, parts[0]))
			return
		}
		if parts[0] != s.opts.PhoneNumberID {
			s.fault(rec, &call, unsupported(r.Method, parts[0]))
			return
		}
		s.serveMessages(rec, r, &call)
	case len(parts) == 2 && parts[1] == "marketing_messages":
		if r.Method != http.MethodPost || parts[0] != s.opts.PhoneNumberID {
			s.fault(rec, &call, unsupported(r.Method, parts[0]))
			return
		}
		s.serveMessages(rec, r, &call)
	case len(parts) == 2 && parts[1] == "media":
		if r.Method != http.MethodPost || parts[0] != s.opts.PhoneNumberID {
			s.fault(rec, &call, unsupported(r.Method, parts[0]))
			return
		}
		s.serveUpload(rec, r, &call)
	case len(parts) == 2 && parts[1] == "thread_control":
		if r.Method != http.MethodPost || parts[0] != s.opts.PhoneNumberID {
			s.fault(rec, &call, unsupported(r.Method, parts[0]))
			return
		}
		s.serveThreadControl(rec, r, &call)
	case len(parts) == 2 && parts[1] == "message_templates":
		if r.Method != http.MethodGet || parts[0] != s.opts.BusinessAccountID {
			s.fault(rec, &call, unsupported(r.Method, parts[0]))
			return
		}
		s.serveTemplates(rec, r, &call)
	case len(parts) == 1 && parts[0] == s.opts.PhoneNumberID && r.Method == http.MethodGet:
		s.servePhone(rec, r, &call)
	case len(parts) == 1 && parts[0] == s.opts.PhoneNumberID && r.Method == http.MethodPost:
		s.servePhoneSettings(rec, r, &call)
	case len(parts) == 1 && r.Method == http.MethodGet && s.hasMedia(parts[0]):
		s.serveMediaInfo(rec, r, &call, parts[0])
	case len(parts) == 1 && parts[0] != "":
		s.fault(rec, &call, unsupported(r.Method, parts[0]))
	default:
		s.fault(rec, &call, Fault{Code: 2500, Type: "OAuthException",
			Message: "Unknown path components: " + call.Path})
	}
}

func classify(method string, parts []string, o Options) string {
	switch {
	case len(parts) == 2 && parts[1] == "messages":
		return EndpointMessages // refined to read once the body is known
	case len(parts) == 2 && parts[1] == "marketing_messages":
		return EndpointMarketing
	case len(parts) == 2 && parts[1] == "media":
		return EndpointMedia
	case len(parts) == 2 && parts[1] == "thread_control":
		return EndpointThreadControl
	case len(parts) == 2 && parts[1] == "message_templates":
		return EndpointTemplates
	case len(parts) == 1 && parts[0] == o.PhoneNumberID && method == http.MethodPost:
		return EndpointPhoneSettings
	case len(parts) == 1 && parts[0] == o.PhoneNumberID:
		return EndpointPhone
	case len(parts) == 1 && method == http.MethodGet:
		return EndpointMediaInfo
	}
	return EndpointUnknown
}

// unsupported is Meta's answer for an id that does not exist or is not this token's.
func unsupported(method, id string) Fault {
	verb := strings.ToLower(method)
	return Fault{Code: 100, Subcode: 33, Type: "GraphMethodException", HTTPStatus: http.StatusBadRequest,
		Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api", verb, id)}
}

func (s *Server) checkToken(r *http.Request) (Fault, bool) {
	auth := r.Header.Get("Authorization")
	tok := ""
	switch {
	case auth != "":
		var ok bool
		tok, ok = strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return Fault{Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"}, false
		}
	case r.URL.Query().Get("access_token") != "":
		tok = r.URL.Query().Get("access_token")
	default:
		return Fault{Code: 190, Message: "An access token is required to request this resource."}, false
	}
	if tok != s.opts.Token {
		return Fault{Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"}, false
	}
	return Fault{}, true
}

// SlowAnswers makes every following call be processed at once (a send is accepted,
// recorded and gets its status webhooks) but answered only after d, or never when the
// client gives up first: a Graph slower than the client's timeout, whose send happened all
// the same, so a client that retries on the timeout sends twice (0 turns it off). Delay, by
// contrast, waits before processing, and a call abandoned meanwhile does nothing.
func (s *Server) SlowAnswers(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answerDelay = d
}

// answerWait applies SlowAnswers.
func (s *Server) answerWait(ctx context.Context) {
	s.mu.Lock()
	d := s.answerDelay
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closed:
	}
}

// wait applies the configured delay.
func (s *Server) wait(ctx context.Context) error {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return context.Canceled
	}
}

// takeFault returns the first injected fault matching a call, using up one of its Times.
func (s *Server) takeFault(endpoint, to string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		ep := f.Endpoint
		if ep == "" {
			ep = EndpointMessages
		}
		if ep != "*" && ep != endpoint {
			continue
		}
		if f.To != "" && digits(f.To) != digits(to) {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return out, true
	}
	return Fault{}, false
}

func (s *Server) fault(rec *recorder, call *Call, f Fault) {
	call.ErrorCode = f.Code
	rec.body = writeFault(rec, f)
}

func (s *Server) ok(rec *recorder, v any) {
	b, _ := json.Marshal(v)
	rec.body = b
	writeJSON(rec, http.StatusOK, b)
}

func (s *Server) record(call Call, rec *recorder) {
	call.Status = rec.status
	call.Response = rec.body
	s.mu.Lock()
	s.calls = keep(s.calls, call, s.opts.MaxRecorded)
	s.counts.Calls++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// recorder buffers an answer. body is what Call.Response records (JSON answers only).
type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) { r.status = code }

func (r *recorder) Write(b []byte) (int, error) { return r.buf.Write(b) }

func redactHeader(h http.Header) http.Header {
	out := h.Clone()
	if out.Get("Authorization") != "" {
		out.Set("Authorization", "Bearer [redacted]")
	}
	return out
}

func redactQuery(q url.Values) string {
	if q.Has("access_token") {
		q.Set("access_token", "[redacted]")
	}
	return q.Encode()
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// newWAMID returns a unique id shaped like Meta's: "wamid." + base64 of a small protobuf
// holding the recipient's number and a random 16-byte hex id ("wamid.HBgL..." for an
// 11-digit number).
func (s *Server) newWAMID(to string) string {
	d := digits(to)
	if len(d) > 20 {
		d = d[:20]
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	// the sequence number makes ids unique per server; the random part makes them unique
	// across servers, as with Meta's.
	hex := strings.ToUpper(fmt.Sprintf("%08X%X", seq, rnd))
	raw := []byte{0x1c, 0x18, byte(len(d))}
	raw = append(raw, d...)
	raw = append(raw, 0x15, 0x02, 0x00, 0x11, 0x18, byte(len(hex)))
	raw = append(raw, hex...)
	raw = append(raw, 0x00)
	return "wamid." + base64.StdEncoding.EncodeToString(raw)
}
