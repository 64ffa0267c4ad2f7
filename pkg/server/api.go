package server

// The send API: POST /v1/messages sends a reply config (the same JSON a flow reply node's
// config takes) or starts a flow, GET /v1/messages/{id} reports one message's state. Both
// authenticate with the tenant/team's API key as a bearer token.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Sender records and sends messages (delivery.Service): the rows are committed before the
// send is attempted, and the returned rows carry the outcome.
type Sender interface {
	Send(ctx context.Context, tenant, team string, msgs []delivery.OutboundMessage) ([]*store.Outbound, error)
}

// API configures the send API. Tenants without an APIKey cannot use it.
type API struct {
	Sender Sender
	Store  *store.Store
	// Flows are the flows {"flow": NAME} may start; nil refuses flow starts.
	Flows *flow.Set
	// Now is the clock for the 24-hour window of flow templates; nil means time.Now.
	Now func() time.Time
}

// MaxAPIBody caps a send API request body.
const MaxAPIBody = 1 << 20

// IdempotencyHeader names the header whose value makes a POST safe to retry.
const IdempotencyHeader = "Idempotency-Key"

// apiEnvelope are the send API's own keys; the rest of the body is a reply config.
var apiEnvelope = []string{"to", "tenant", "team", "vars", "flow", "node"}

type apiRequest struct {
	To     string         `json:"to"`
	Tenant string         `json:"tenant"`
	Team   string         `json:"team"`
	Flow   string         `json:"flow"`
	Node   string         `json:"node"`
	Vars   map[string]any `json:"vars"`
}

type apiProblem struct {
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

type apiError struct {
	Error    string       `json:"error"`
	Path     string       `json:"path,omitempty"`
	Reason   string       `json:"reason,omitempty"`
	ID       string       `json:"id,omitempty"`
	Problems []apiProblem `json:"problems,omitempty"`
}

type apiMessage struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type apiAccepted struct {
	ID       string       `json:"id"`
	Status   string       `json:"status"`
	Messages []apiMessage `json:"messages"`
}

type apiStatus struct {
	ID           string     `json:"id"`
	Tenant       string     `json:"tenant"`
	Team         string     `json:"team"`
	To           string     `json:"to"`
	Type         string     `json:"type"`
	State        string     `json:"state"`
	WAMID        string     `json:"wamid,omitempty"`
	Status       string     `json:"status,omitempty"`
	StatusAt     *time.Time `json:"status_at,omitempty"`
	ErrorClass   string     `json:"error_class,omitempty"`
	ErrorCode    int        `json:"error_code,omitempty"`
	ErrorMessage string     `json:"error_message,omitempty"`
	Attempts     int        `json:"attempts"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// apiState serializes requests that share an Idempotency-Key; an entry lives while some
// request holds or waits for it.
type apiState struct {
	mu   sync.Mutex
	keys map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

func (a *apiState) lock(k string) func() {
	a.mu.Lock()
	if a.keys == nil {
		a.keys = map[string]*keyLock{}
	}
	l, ok := a.keys[k]
	if !ok {
		l = &keyLock{}
		a.keys[k] = l
	}
	l.users++
	a.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		a.mu.Lock()
		if l.users--; l.users == 0 {
			delete(a.keys, k)
		}
		a.mu.Unlock()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	writeJSONBody(w, code, marshal(v))
}

// marshal encodes v without escaping <, > and & (the answers are read by people too).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func writeJSONBody(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
	_, _ = io.WriteString(w, "\n")
}

func badRequest(w http.ResponseWriter, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	writeJSON(w, http.StatusBadRequest, apiError{Error: msg, Path: path, Problems: []apiProblem{{Path: path, Message: msg}}})
}

func sameKey(given []byte, want string) bool {
	a, b := sha256.Sum256(given), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// authorized returns the tenants whose API key the request's bearer token is; empty when
// the header is missing or matches none. Every key is compared, in constant time.
func (s *Server) authorized(r *http.Request) map[*Tenant]bool {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil
	}
	given := []byte(strings.TrimSpace(token))
	out := map[*Tenant]bool{}
	for _, t := range s.tenants {
		if !t.APIKey.IsZero() && t.APIKey.Raw() != "" && sameKey(given, t.APIKey.Raw()) {
			out[t] = true
		}
	}
	return out
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="gtc"`)
	writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong API key: send Authorization: Bearer <GTC_API_KEY from the bundle's secrets.env>"})
}

// apiTenant picks the request's tenant/team: the one named, else the only one served.
func (s *Server) apiTenant(w http.ResponseWriter, req *apiRequest, auth map[*Tenant]bool) (*Tenant, bool) {
	var t *Tenant
	switch {
	case req.Tenant != "" || req.Team != "":
		var ok bool
		if t, ok = s.tenants[req.Tenant+"/"+req.Team]; !ok {
			writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no enabled provider for tenant %q team %q", req.Tenant, req.Team), Path: "tenant"})
			return nil, false
		}
	case len(s.tenants) == 1:
		for _, only := range s.tenants {
			t = only
		}
	default:
		names := make([]string, 0, len(s.tenants))
		for k := range s.tenants {
			names = append(names, k)
		}
		sort.Strings(names)
		badRequest(w, "tenant", "this server serves several tenant/teams (%s): give tenant and team", strings.Join(names, ", "))
		return nil, false
	}
	if !auth[t] {
		unauthorized(w)
		return nil, false
	}
	return t, true
}

// postMessage handles POST /v1/messages.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	auth := s.authorized(r)
	if len(auth) == 0 {
		s.reqLog(r).Warn("send api: request without a valid API key refused", "status", http.StatusUnauthorized)
		unauthorized(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("body larger than %d bytes", MaxAPIBody)})
			return
		}
		badRequest(w, "", "read body: %v", err)
		return
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		badRequest(w, "", "the body must be a JSON object with to and a message (message, template, interactive, media, location, reaction, contacts) or a flow")
		return
	}
	var req apiRequest
	if err := json.Unmarshal(trimmed, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			badRequest(w, te.Field, "%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind()), te.Value)
			return
		}
		badRequest(w, "", "invalid JSON: %v", err)
		return
	}
	t, ok := s.apiTenant(w, &req, auth)
	if !ok {
		return
	}
	key := r.Header.Get(IdempotencyHeader)
	if len(key) > 255 {
		badRequest(w, IdempotencyHeader, "%s is longer than 255 characters", IdempotencyHeader)
		return
	}
	sum := sha256.Sum256(trimmed)
	hash := hex.EncodeToString(sum[:])
	if key != "" {
		defer s.apiLocks.lock(t.Tenant + "/" + t.Team + "/" + key)()
		prev, err := s.cfg.API.Store.IdempotentAnswer(r.Context(), t.Tenant, t.Team, key)
		if err == nil {
			if prev.RequestHash != "" && prev.RequestHash != hash {
				writeJSON(w, http.StatusUnprocessableEntity, apiError{Path: IdempotencyHeader,
					Error: IdempotencyHeader + " was first used with another request body: use a new key for a new message"})
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSONBody(w, prev.Status, prev.Body)
			return
		}
		if !errors.Is(err, store.ErrNotFound) {
			s.apiFail(w, r, "read idempotency key", err)
			return
		}
	}
	code, answer, ok := s.send(w, r, t, &req, trimmed)
	if !ok {
		return
	}
	out := marshal(answer)
	if key != "" {
		saved, err := s.cfg.API.Store.SaveIdempotent(context.WithoutCancel(r.Context()), t.Tenant, t.Team, key, hash, code, out)
		if err != nil {
			s.reqLog(r).Error("send api: save idempotency key", "tenant", t.Tenant, "team", t.Team, "err", err.Error())
		} else {
			code, out = saved.Status, saved.Body
		}
	}
	writeJSONBody(w, code, out)
}

// send validates and records the request's messages, and returns the answer to give; ok is
// false when an error answer was written already.
func (s *Server) send(w http.ResponseWriter, r *http.Request, t *Tenant, req *apiRequest, body []byte) (int, any, bool) {
	if strings.TrimSpace(req.To) == "" {
		badRequest(w, "to", "missing to: the recipient's phone number in international format, like +4915123456789")
		return 0, nil, false
	}
	to, err := whatsapp.NormalizeE164(req.To)
	if err != nil {
		badRequest(w, "to", "to: %v", err)
		return 0, nil, false
	}
	ctx := r.Context()
	api := s.cfg.API
	now := time.Now
	if api.Now != nil {
		now = api.Now
	}
	fc := flow.Context{Tenant: t.Tenant, Team: t.Team, To: to, Now: now().Unix(), Vars: req.Vars}
	var msgs []delivery.OutboundMessage
	if req.Flow != "" {
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(body, &fields)
		for k := range fields {
			if !contains(apiEnvelope, k) {
				if contains(flow.ReplyKeys, k) {
					badRequest(w, k, "give either flow or a reply config (%s), not both", k)
				} else {
					badRequest(w, k, "%s", problem.UnknownKey(k, apiEnvelope))
				}
				return 0, nil, false
			}
		}
		if api.Flows == nil {
			badRequest(w, "flow", "this server has no flows loaded")
			return 0, nil, false
		}
		c, err := api.Store.Contact(ctx, t.Tenant, t.Team, delivery.ContactKeyOf(to))
		if err != nil {
			s.apiFail(w, r, "read contact", err)
			return 0, nil, false
		}
		if !c.LastInboundAt.IsZero() {
			fc.LastMessageTime = c.LastInboundAt.Unix()
		}
		replies, err := api.Flows.Start(req.Flow, req.Node, fc)
		if err != nil {
			path := "flow"
			if req.Node != "" && strings.Contains(err.Error(), "no node") {
				path = "node"
			}
			badRequest(w, path, "%s", forAPI(err.Error()))
			return 0, nil, false
		}
		if len(replies) == 0 {
			badRequest(w, "node", "flow %s sends nothing from this node", req.Flow)
			return 0, nil, false
		}
		for _, rp := range replies {
			m := rp.Message
			if m.To == "" {
				m.To = to
			}
			msgs = append(msgs, delivery.OutboundMessage{Message: m, RetryOnRateLimit: rp.RetryOnRateLimit, Flow: rp.Flow, Node: rp.Node,
				Origin: store.OriginAPI})
		}
	} else {
		node, probs := flow.ParseReply("request body", body, apiEnvelope...)
		if node == nil {
			errs := probs.Errors()
			ae := apiError{Error: "invalid message"}
			for _, p := range errs {
				ae.Problems = append(ae.Problems, apiProblem{Path: p.Path, Message: p.Msg})
			}
			if len(errs) > 0 {
				// The most specific problem leads: one naming a key over one about the whole body.
				first := errs[0]
				for _, p := range errs {
					if p.Path != "" {
						first = p
						break
					}
				}
				ae.Error, ae.Path = first.Msg, first.Path
			}
			writeJSON(w, http.StatusBadRequest, ae)
			return 0, nil, false
		}
		m, err := node.Render(flow.NewEnv(nil, fc))
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "node request: ")
			msg = forAPI(msg)
			path := msg
			if i := strings.IndexAny(msg, ": "); i > 0 {
				path = msg[:i]
			}
			badRequest(w, path, "%s", msg)
			return 0, nil, false
		}
		m.To = to
		msgs = append(msgs, delivery.OutboundMessage{Message: *m, RetryOnRateLimit: node.RetryOnRateLimit, Origin: store.OriginAPI})
	}
	rows, err := api.Sender.Send(ctx, t.Tenant, t.Team, msgs)
	if err != nil {
		if errors.Is(err, delivery.ErrStopped) {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "gtc is shutting down: retry later"})
			return 0, nil, false
		}
		if errors.Is(err, delivery.ErrUnknownProvider) {
			writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Path: "tenant"})
			return 0, nil, false
		}
		s.apiFail(w, r, "send", err)
		return 0, nil, false
	}
	for _, o := range rows {
		if o.State == store.OutRefused {
			return http.StatusConflict, apiError{Error: refusalMessage(o.ErrorClass), Reason: o.ErrorClass, ID: idOf(o)}, true
		}
	}
	acc := apiAccepted{ID: idOf(rows[0]), Status: rows[0].State}
	for _, o := range rows {
		acc.Messages = append(acc.Messages, apiMessage{ID: idOf(o), Status: o.State})
	}
	return http.StatusAccepted, acc, true
}

// jsonKind names a Go kind as the JSON value it decodes from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + k.String()
}

// forAPI words a flow error for the API's caller, who gives variables in vars.
func forAPI(msg string) string {
	return strings.ReplaceAll(msg, "pass it with --var or in the start's variables", "give it in vars")
}

func refusalMessage(class string) string {
	switch class {
	case "opted_out":
		return "the contact opted out: gtc sends nothing to them until they opt in again"
	case "window_closed":
		return "the 24-hour customer service window is closed: send an approved template instead"
	}
	return "gtc refused to send this message: " + class
}

// getMessage handles GET /v1/messages/{id}.
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	auth := s.authorized(r)
	if len(auth) == 0 {
		s.reqLog(r).Warn("send api: request without a valid API key refused", "status", http.StatusUnauthorized)
		unauthorized(w)
		return
	}
	notFound := func() {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no message %q", r.PathValue("id")), Path: "id"})
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		notFound()
		return
	}
	o, err := s.cfg.API.Store.OutboundByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		s.apiFail(w, r, "read message", err)
		return
	}
	if t, ok := s.tenants[o.Tenant+"/"+o.Team]; !ok || !auth[t] {
		notFound()
		return
	}
	st := apiStatus{ID: idOf(o), Tenant: o.Tenant, Team: o.Team, To: o.Recipient, Type: o.MessageType, State: o.State,
		WAMID: o.WAMID, ErrorClass: o.ErrorClass, ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage, Attempts: o.Attempts,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
	if o.WAMID != "" {
		sts, err := s.cfg.API.Store.Statuses(r.Context(), o.WAMID)
		if err != nil {
			s.apiFail(w, r, "read statuses", err)
			return
		}
		if n := len(sts); n > 0 {
			last := sts[n-1]
			at := last.At.UTC()
			st.Status, st.StatusAt = last.Status, &at
			if last.ErrorClass != "" {
				st.ErrorClass, st.ErrorCode = last.ErrorClass, last.ErrorCode
			}
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.reqLog(r).Error("send api: "+what, "err", err.Error())
	writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error: " + what + "; retry later"})
}

func idOf(o *store.Outbound) string { return strconv.FormatInt(o.ID, 10) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
