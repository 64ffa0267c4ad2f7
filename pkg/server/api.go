package server

// The send API: POST /v1/messages sends a reply config (the same JSON a flow reply node's
// config takes, its text sent as written) or starts a flow (whose templates render with
// vars), GET /v1/messages/{id} reports one message's state. Both authenticate with the
// tenant/team's API key as a bearer token.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	// SendOnce records msgs, and key (when set) with them in one transaction, then sends
	// them; an error wrapping store.ErrKeyTaken means another request holds key and
	// nothing was recorded.
	SendOnce(ctx context.Context, tenant, team string, key *store.IdempotencyKey, msgs []delivery.OutboundMessage) ([]*store.Outbound, error)
	// StartFlow runs a flow for the contact and sends its replies the same way (req.Key
	// reserved with them).
	StartFlow(ctx context.Context, tenant, team string, req delivery.FlowStart) ([]*store.Outbound, error)
}

// API configures the send API. Tenants without an APIKey cannot use it.
type API struct {
	Sender Sender
	Store  *store.Store
	// Now is the clock reply configs render with; nil means time.Now.
	Now func() time.Time
	// KeyWait bounds how long a request waits for the answer of an earlier one with its
	// Idempotency-Key before answering 409 in_progress (default 10s).
	KeyWait time.Duration
}

// MaxAPIBody caps a send API request body.
const MaxAPIBody = 1 << 20

// IdempotencyHeader names the header whose value makes a POST safe to retry.
const IdempotencyHeader = "Idempotency-Key"

// postMessage handles POST /v1/messages.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	auth := s.authorized(r)
	if len(auth) == 0 {
		s.reqLog(r).Warn("send api: request without a valid API key refused", "status", http.StatusUnauthorized)
		unauthorized(w)
		return
	}
	req, body, ok := readSendBody(w, r)
	if !ok {
		return
	}
	t, ok := s.apiTenant(w, req, auth)
	if !ok {
		return
	}
	s.sendOnce(w, r, t, req, body, "")
}

// readSendBody reads and decodes a send API body (POST /v1/messages and a conversation
// reply); ok is false when an error answer was written already.
func readSendBody(w http.ResponseWriter, r *http.Request) (*apiRequest, []byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("body larger than %d bytes", MaxAPIBody)})
			return nil, nil, false
		}
		badRequest(w, "", "read body: %v", err)
		return nil, nil, false
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		badRequest(w, "", "the body must be a JSON object with to and a message (message, template, interactive, media, location, reaction, contacts) or a flow")
		return nil, nil, false
	}
	var req apiRequest
	if err := json.Unmarshal(trimmed, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			badRequest(w, te.Field, "%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind()), te.Value)
			return nil, nil, false
		}
		badRequest(w, "", "invalid JSON: %v", err)
		return nil, nil, false
	}
	return &req, trimmed, true
}

// sendOnce sends req under its Idempotency-Key, if any: a retry with the same key and body
// gets the first answer again, on any instance sharing the database and across restarts.
// contact is the recipient a conversation reply names in its path ("" for POST
// /v1/messages, whose recipient is the body's to); it is part of what the key guards.
//
// The key is reserved in the transaction that records the request's messages, so two
// requests with one key never both record (and send) one. A request that finds the key
// reserved waits for the first one's answer (up to idempotencyWait, then 409 in progress);
// when the request that reserved it is gone (its instance died before answering), the
// recorded messages are the truth and their state is the answer.
func (s *Server) sendOnce(w http.ResponseWriter, r *http.Request, t *Tenant, req *apiRequest, body []byte, contact string) {
	key := r.Header.Get(IdempotencyHeader)
	if len(key) > 255 {
		badRequest(w, IdempotencyHeader, "%s is longer than 255 characters", IdempotencyHeader)
		return
	}
	if key == "" {
		if code, answer, ok, _ := s.send(w, r, t, req, body, contact, nil); ok {
			writeJSON(w, code, answer)
		}
		return
	}
	h := sha256.New()
	if contact != "" {
		// A reply's body has no recipient: the same key and body to another contact is
		// another request.
		h.Write([]byte("conversation:" + contact + "\n"))
	}
	h.Write(body)
	k := &store.IdempotencyKey{Tenant: t.Tenant, Team: t.Team, Key: key, RequestHash: hex.EncodeToString(h.Sum(nil))}
	st := s.cfg.API.Store
	wait := s.cfg.API.KeyWait
	if wait <= 0 {
		wait = idempotencyWait
	}
	give := time.Now().Add(wait)
	for {
		prev, err := st.IdempotentAnswer(r.Context(), t.Tenant, t.Team, key)
		if errors.Is(err, store.ErrNotFound) {
			code, answer, ok, taken := s.send(w, r, t, req, body, contact, k)
			if taken {
				continue // another request reserved the key meanwhile: its answer is ours
			}
			if ok {
				s.answerOnce(w, r, k, code, marshal(answer))
			}
			return
		}
		if err != nil {
			s.apiFail(w, r, "read idempotency key", err)
			return
		}
		if prev.RequestHash != "" && prev.RequestHash != k.RequestHash {
			writeJSON(w, http.StatusUnprocessableEntity, apiError{Path: IdempotencyHeader,
				Error: IdempotencyHeader + " was first used with another request body: use a new key for a new message"})
			return
		}
		if !prev.Reserved() {
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSONBody(w, prev.Status, prev.Body)
			return
		}
		rows, err := st.OutboundByIDs(r.Context(), prev.OutboundIDs)
		if err != nil {
			s.apiFail(w, r, "read idempotency key", err)
			return
		}
		if len(rows) > 0 && !slices.ContainsFunc(rows, delivery.InRequest) {
			// The request that reserved the key is gone without answering: its messages
			// went on without it (recovered, taken over), and their state is the answer.
			code, answer := accepted(rows)
			w.Header().Set("Idempotent-Replayed", "true")
			s.answerOnce(w, r, k, code, marshal(answer))
			return
		}
		if time.Now().After(give) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusConflict, apiError{Code: "in_progress", Path: IdempotencyHeader,
				Error: "a request with this " + IdempotencyHeader + " is still being sent: retry in a moment for its answer"})
			return
		}
		select {
		case <-time.After(idempotencyPoll):
		case <-r.Context().Done():
			return
		}
	}
}

// idempotencyWait is API.KeyWait's default; idempotencyPoll is how often a waiting request
// looks for the answer.
const (
	idempotencyWait = 10 * time.Second
	idempotencyPoll = 50 * time.Millisecond
)

// answerOnce saves code and out as k's answer unless one is saved already, and writes the
// saved one: the first answer wins.
func (s *Server) answerOnce(w http.ResponseWriter, r *http.Request, k *store.IdempotencyKey, code int, out []byte) {
	saved, err := s.cfg.API.Store.SaveIdempotent(context.WithoutCancel(r.Context()), k.Tenant, k.Team, k.Key, k.RequestHash, code, out)
	if err != nil {
		s.reqLog(r).Error("send api: save idempotency key", "tenant", k.Tenant, "team", k.Team, "err", err.Error())
	} else {
		code, out = saved.Status, saved.Body
	}
	writeJSONBody(w, code, out)
}

// send validates the request, starts its flow or renders its reply config through the
// delivery service, and returns the answer to give; ok is false when an error answer was
// written already. Status codes are decided by the service's error types.
// contact, when not "", is the recipient already resolved from a conversation's path. key,
// when set, is reserved with the recorded messages; taken reports that another request
// holds it (nothing was recorded, no answer written).
func (s *Server) send(w http.ResponseWriter, r *http.Request, t *Tenant, req *apiRequest, body []byte, contact string,
	key *store.IdempotencyKey) (code int, answer any, ok, taken bool) {
	to := contact
	if to == "" {
		if strings.TrimSpace(req.To) == "" {
			badRequest(w, "to", "missing to: the recipient's phone number in international format, like +4915123456789, or their business-scoped user id, like US.13491208655302741918")
			return 0, nil, false, false
		}
		var err error
		if to, err = whatsapp.NormalizeRecipient(req.To); err != nil {
			badRequest(w, "to", "to: %v", err)
			return 0, nil, false, false
		}
	}
	var err error
	ctx := r.Context()
	api := s.cfg.API
	var rows []*store.Outbound
	if req.Flow != "" {
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(body, &fields)
		for k := range fields {
			if !slices.Contains(apiEnvelope, k) {
				if slices.Contains(flow.ReplyKeys, k) {
					badRequest(w, k, "give either flow or a reply config (%s), not both", k)
				} else {
					badRequest(w, k, "%s", problem.UnknownKey(k, apiEnvelope))
				}
				return 0, nil, false, false
			}
		}
		rows, err = api.Sender.StartFlow(ctx, t.Tenant, t.Team, delivery.FlowStart{Flow: req.Flow, Node: req.Node, To: to,
			Vars: req.Vars, Origin: store.OriginAPI, Key: key})
	} else {
		// Text from the caller is sent as written: {{ }} renders only in a named flow.
		if req.Vars != nil {
			badRequest(w, "vars", "vars only apply when starting a flow (give flow): a reply config's text is sent as written, {{ }} included")
			return 0, nil, false, false
		}
		node, probs := flow.ParseLiteralReply("request body", body, apiEnvelope...)
		if node == nil {
			writeJSON(w, http.StatusBadRequest, invalidMessage(probs.Errors()))
			return 0, nil, false, false
		}
		now := time.Now
		if api.Now != nil {
			now = api.Now
		}
		m, rerr := delivery.RenderReply(node, delivery.RunContext{Tenant: t.Tenant, Team: t.Team, To: to, Now: now().Unix(), Vars: req.Vars})
		if rerr != nil {
			s.sendFailed(w, r, rerr)
			return 0, nil, false, false
		}
		m.To = to
		rows, err = api.Sender.SendOnce(ctx, t.Tenant, t.Team, key, []delivery.OutboundMessage{{Message: *m,
			RetryOnRateLimit: node.RetryOnRateLimit, Origin: store.OriginAPI}})
	}
	if errors.Is(err, store.ErrKeyTaken) {
		return 0, nil, false, true
	}
	var refused *delivery.RefusedError
	if errors.As(err, &refused) {
		code, answer := refusedAnswer(refused)
		return code, answer, true, false
	}
	if err == nil && len(rows) == 0 {
		err = errors.New("delivery recorded no message")
	}
	if err != nil {
		s.sendFailed(w, r, err)
		return 0, nil, false, false
	}
	code, answer = accepted(rows)
	return code, answer, true, false
}

// accepted is the answer for recorded rows: the refusal when one was refused, else 202
// with each message's id and state.
func accepted(rows []*store.Outbound) (int, any) {
	var refused *delivery.RefusedError
	if errors.As(delivery.Refused(rows), &refused) {
		return refusedAnswer(refused)
	}
	acc := apiAccepted{ID: idOf(rows[0]), Status: rows[0].State}
	for _, o := range rows {
		acc.Messages = append(acc.Messages, apiMessage{ID: idOf(o), Status: o.State})
	}
	return http.StatusAccepted, acc
}

// refusedAnswer answers a refusal: a conflict with the contact's state (409), except the
// messaging limit: the same request goes once the 24 hours roll, so it is "too many" for
// now (429).
func refusedAnswer(r *delivery.RefusedError) (int, apiError) {
	code := http.StatusConflict
	if r.Reason == delivery.ReasonMessagingLimit {
		code = http.StatusTooManyRequests
	}
	return code, apiError{Error: r.Error(), Code: r.Reason, Reason: r.Reason, ID: strconv.FormatInt(r.ID, 10)}
}

// sendFailed answers an error of the delivery service by its type.
func (s *Server) sendFailed(w http.ResponseWriter, r *http.Request, err error) {
	var (
		notFound *delivery.NotFoundError
		runErr   *delivery.RunError
		noReply  *delivery.NoRepliesError
		render   *delivery.RenderError
	)
	switch {
	case errors.Is(err, delivery.ErrStopped):
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "gtc is shutting down: retry later"})
	case errors.Is(err, delivery.ErrUnknownProvider):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Path: "tenant"})
	case errors.Is(err, delivery.ErrNoFlows):
		badRequest(w, "flow", "this server has no flows loaded")
	case errors.As(err, &notFound):
		badRequest(w, notFound.What, "%s", forAPI(notFound.Error()))
	case errors.As(err, &runErr):
		badRequest(w, "flow", "%s", forAPI(runErr.Error()))
	case errors.As(err, &noReply):
		badRequest(w, "node", "%s", noReply.Error())
	case errors.As(err, &render):
		msg := forAPI(render.Msg)
		badRequest(w, render.Path, "%s", msg)
	default:
		s.apiFail(w, r, "send", err)
	}
}

// invalidMessage is the answer to a reply config with problems: every problem, the most
// specific (one naming a key) leading.
func invalidMessage(errs []problem.Problem) apiError {
	ae := apiError{Error: "invalid message"}
	for _, p := range errs {
		ae.Problems = append(ae.Problems, apiProblem{Path: p.Path, Message: p.Msg})
	}
	if len(errs) > 0 {
		first := errs[0]
		for _, p := range errs {
			if p.Path != "" {
				first = p
				break
			}
		}
		ae.Error, ae.Path = first.Msg, first.Path
	}
	return ae
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
