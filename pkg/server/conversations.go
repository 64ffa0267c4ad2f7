package server

// The conversations API: agents' tools list conversations, read a contact's history,
// reply (through the send API's own path), take a contact over from the bot, release it
// and add notes. Same bearer API key and tenant/team choice as the send API.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// History page sizes of GET /v1/conversations/{contact}/messages.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 200
)

// MaxNoteLength caps a note's text, in characters (WhatsApp's own text limit).
const MaxNoteLength = 4096

// maxCursor caps a before= cursor: cursors are short tokens the API itself handed out.
const maxCursor = 256

// Codes of the conversations API's errors (apiError.Code).
const (
	CodeContactNotFound  = "contact_not_found"
	CodeNotHandedOff     = "not_handed_off"
	CodeAlreadyHandedOff = "already_handed_off"
	CodeUnknownNode      = "unknown_node"
	CodeInvalid          = "invalid_request"
	// CodeThreadControl is Meta refusing to take or release a thread (Conversation Routing).
	CodeThreadControl = "thread_control"
)

// Conversation states a list may ask for.
var conversationStates = []string{"handoff", "bot", "all"}

// routeConversations adds the conversations API's routes to mux.
func (s *Server) routeConversations(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/conversations", s.listConversations)
	mux.HandleFunc("GET /v1/conversations/{contact}", s.getConversation)
	mux.HandleFunc("GET /v1/conversations/{contact}/messages", s.conversationHistory)
	mux.HandleFunc("POST /v1/conversations/{contact}/messages", s.conversationReply)
	mux.HandleFunc("POST /v1/conversations/{contact}/handoff", s.conversationHandoff)
	mux.HandleFunc("POST /v1/conversations/{contact}/release", s.conversationRelease)
	mux.HandleFunc("POST /v1/conversations/{contact}/notes", s.conversationNote)
}

// ParseContact reads a conversation's {contact}: a phone number in international form
// (+E.164, or its digits alone: 4915123456789, 004915123456789) or a business-scoped user
// id. It answers the contact as ConversationService takes it: E.164 with the +, or the
// BSUID as given (the service maps it to the store's key).
func ParseContact(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing contact: give a phone number in international form, like +4915123456789, or a BSUID")
	}
	if whatsapp.IsBSUID(s) {
		return s, nil
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.HasPrefix(s, "00") {
		// Digits alone are an international number: a + in a URL is easy to lose.
		s = "+" + s
	}
	n, err := whatsapp.NormalizeE164(s)
	if err != nil {
		return "", fmt.Errorf("%w (or give a BSUID, like US.13491208655302741918)", err)
	}
	return n, nil
}

// conversationQuery reads a request's query: only keys from allowed, each at most once.
func conversationQuery(r *http.Request, allowed ...string) (url.Values, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &apiError{Error: "invalid query string: " + err.Error(), Code: CodeInvalid}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return nil, &apiError{Error: "query: " + problem.UnknownKey(k, allowed), Path: k, Code: CodeInvalid}
		}
		if len(q[k]) > 1 {
			return nil, &apiError{Error: fmt.Sprintf("query: %s is given %d times: give it once", k, len(q[k])), Path: k, Code: CodeInvalid}
		}
	}
	return q, nil
}

// ParseHistoryQuery reads GET …/messages' before and limit (default DefaultHistoryLimit).
// A problem comes back as the name of the parameter at fault and what to do.
func ParseHistoryQuery(before, limit string) (string, int, string, error) {
	n := DefaultHistoryLimit
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 || v > MaxHistoryLimit {
			return "", 0, "limit", fmt.Errorf("limit must be a whole number from 1 to %d, not %q", MaxHistoryLimit, clip(limit))
		}
		n = v
	}
	if len(before) > maxCursor || !utf8.ValidString(before) || strings.ContainsFunc(before, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		return "", 0, "before", fmt.Errorf("before must be the cursor of a history item (its \"cursor\", or the page's \"before\"), not %q", clip(before))
	}
	return before, n, "", nil
}

// clip shortens outside input quoted in an error.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// conversationAuth answers 401 unless the request carries some tenant/team's API key.
func (s *Server) conversationAuth(w http.ResponseWriter, r *http.Request) (map[*Tenant]bool, bool) {
	auth := s.authorized(r)
	if len(auth) == 0 {
		s.reqLog(r).Warn("conversations api: request without a valid API key refused", "status", http.StatusUnauthorized)
		unauthorized(w)
		return nil, false
	}
	return auth, true
}

// conversationTarget picks the request's tenant/team (a body's values win over the
// query's) and, withContact, reads its {contact}; ok is false when an answer was written
// already.
func (s *Server) conversationTarget(w http.ResponseWriter, r *http.Request, auth map[*Tenant]bool, tenant, team string, withContact bool) (*Tenant, string, bool) {
	if tenant == "" && team == "" {
		q := r.URL.Query()
		tenant, team = q.Get("tenant"), q.Get("team")
	}
	t, ok := s.apiTenant(w, &apiRequest{Tenant: tenant, Team: team}, auth)
	if !ok || !withContact {
		return t, "", ok
	}
	c, err := ParseContact(r.PathValue("contact"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "contact: " + err.Error(), Path: "contact", Code: CodeInvalid})
		return nil, "", false
	}
	return t, c, true
}

// conversationRead starts a GET: auth, the query (only keys from allowed), the tenant/team
// and, withContact, the contact.
func (s *Server) conversationRead(w http.ResponseWriter, r *http.Request, withContact bool, allowed ...string) (*Tenant, string, url.Values, bool) {
	auth, ok := s.conversationAuth(w, r)
	if !ok {
		return nil, "", nil, false
	}
	q, bad := conversationQuery(r, append(allowed, "tenant", "team")...)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return nil, "", nil, false
	}
	t, c, ok := s.conversationTarget(w, r, auth, "", "", withContact)
	return t, c, q, ok
}

// conversationFailed answers a ConversationService error by its type.
func (s *Server) conversationFailed(w http.ResponseWriter, r *http.Request, contact, what string, err error) {
	var notFound *delivery.NotFoundError
	var threadErr *delivery.ThreadControlError
	switch {
	case errors.As(err, &threadErr):
		writeJSON(w, http.StatusConflict, apiError{Error: threadErr.Error(), Code: CodeThreadControl, Reason: CodeThreadControl})
	case errors.Is(err, ErrContactNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("gtc has no conversation with %s: check the number, or the tenant and team", contact),
			Path: "contact", Code: CodeContactNotFound})
	case errors.Is(err, ErrNotHandedOff):
		writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("%s is not with a person: there is nothing to release (hand it off first)", contact),
			Code: CodeNotHandedOff})
	case errors.Is(err, ErrAlreadyHandedOff):
		writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("%s is already with a person: reply, add a note or release it", contact),
			Code: CodeAlreadyHandedOff})
	case errors.As(err, &notFound):
		writeJSON(w, http.StatusBadRequest, apiError{Error: forAPI(notFound.Error()), Path: "node", Code: CodeUnknownNode,
			Problems: []apiProblem{{Path: "node", Message: forAPI(notFound.Error())}}})
	case errors.Is(err, delivery.ErrUnknownProvider):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Path: "tenant"})
	case errors.Is(err, delivery.ErrStopped):
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "gtc is shutting down: retry later"})
	default:
		s.apiFail(w, r, what, err)
	}
}

// conversationJSON is a conversation as the API answers it: the service's fields and
// whether the 24-hour window is open now.
type conversationJSON struct {
	*ConversationDetail
	WindowOpen bool `json:"window_open"`
}

func (s *Server) conversationOut(d *ConversationDetail) conversationJSON {
	now := time.Now
	if s.cfg.API != nil && s.cfg.API.Now != nil {
		now = s.cfg.API.Now
	}
	open := d.WindowClosesAt != nil && now().Before(*d.WindowClosesAt)
	return conversationJSON{ConversationDetail: d, WindowOpen: open}
}

// listConversations handles GET /v1/conversations.
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	t, _, q, ok := s.conversationRead(w, r, false, "state", "queue")
	if !ok {
		return
	}
	f := ConversationFilter{State: q.Get("state"), Queue: q.Get("queue")}
	if f.State == "" {
		f.State = "handoff"
	}
	if !slices.Contains(conversationStates, f.State) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("state must be %s, not %q", strings.Join(conversationStates, ", "), clip(f.State)),
			Path: "state", Code: CodeInvalid})
		return
	}
	list, err := s.cfg.Conversations.ListConversations(r.Context(), t.Tenant, t.Team, f)
	if err != nil {
		s.conversationFailed(w, r, "", "list conversations", err)
		return
	}
	out := struct {
		Conversations []conversationJSON `json:"conversations"`
	}{Conversations: make([]conversationJSON, 0, len(list))}
	for i := range list {
		out.Conversations = append(out.Conversations, s.conversationOut(&ConversationDetail{ConversationSummary: list[i]}))
	}
	writeJSON(w, http.StatusOK, out)
}

// getConversation handles GET /v1/conversations/{contact}.
func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	t, c, _, ok := s.conversationRead(w, r, true)
	if !ok {
		return
	}
	d, err := s.cfg.Conversations.GetConversation(r.Context(), t.Tenant, t.Team, c)
	if err == nil && d == nil {
		err = ErrContactNotFound
	}
	if err != nil {
		s.conversationFailed(w, r, c, "read conversation", err)
		return
	}
	writeJSON(w, http.StatusOK, s.conversationOut(d))
}

// conversationHistory handles GET /v1/conversations/{contact}/messages.
func (s *Server) conversationHistory(w http.ResponseWriter, r *http.Request) {
	t, c, q, ok := s.conversationRead(w, r, true, "before", "limit")
	if !ok {
		return
	}
	before, limit, field, err := ParseHistoryQuery(q.Get("before"), q.Get("limit"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error(), Path: field, Code: CodeInvalid})
		return
	}
	page, err := s.cfg.Conversations.ConversationMessages(r.Context(), t.Tenant, t.Team, c, before, limit)
	if err != nil {
		s.conversationFailed(w, r, c, "read history", err)
		return
	}
	if page.Items == nil {
		page.Items = []HistoryItem{}
	}
	writeJSON(w, http.StatusOK, page)
}

// conversationReply handles POST /v1/conversations/{contact}/messages: the send API's
// body without to (or with the same contact), sent through the send API's own path.
func (s *Server) conversationReply(w http.ResponseWriter, r *http.Request) {
	auth, ok := s.conversationAuth(w, r)
	if !ok {
		return
	}
	if _, bad := conversationQuery(r, "tenant", "team"); bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	req, body, ok := readSendBody(w, r)
	if !ok {
		return
	}
	t, c, ok := s.conversationTarget(w, r, auth, req.Tenant, req.Team, true)
	if !ok {
		return
	}
	if req.Flow != "" || req.Node != "" {
		k := "flow"
		if req.Flow == "" {
			k = "node"
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: "a reply sends one message; to hand the contact back to a flow use POST /v1/conversations/{contact}/release with a node",
			Path: k, Code: CodeInvalid})
		return
	}
	if strings.TrimSpace(req.To) != "" {
		if to, err := ParseContact(req.To); err != nil || to != c {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("to names another contact than the path (%s): leave to out of a reply", c),
				Path: "to", Code: CodeInvalid})
			return
		}
	}
	s.sendOnce(w, r, t, req, body, c)
}

// conversationBody decodes an optional JSON object body strictly into v: unknown keys are
// refused with the nearest known one. ok is false when an answer was written already.
func conversationBody(w http.ResponseWriter, r *http.Request, v any, known []string) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("body larger than %d bytes", MaxAPIBody)})
			return false
		}
		badRequest(w, "", "read body: %v", err)
		return false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return true
	}
	if !json.Valid(raw) || raw[0] != '{' {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "the body must be a JSON object with " + strings.Join(known, ", "), Code: CodeInvalid})
		return false
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			writeJSON(w, http.StatusBadRequest, apiError{Error: problem.UnknownKey(k, known), Path: k, Code: CodeInvalid})
			return false
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind()), te.Value),
				Path: te.Field, Code: CodeInvalid})
			return false
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid JSON: " + err.Error(), Code: CodeInvalid})
		return false
	}
	return true
}

// defaultBy is who the API records as an agent when the request names none.
const defaultBy = "api"

// conversationChanged answers a successful handoff or release with the conversation as it
// is now (or only its contact and state when it cannot be read back).
func (s *Server) conversationChanged(w http.ResponseWriter, r *http.Request, t *Tenant, c, state string) {
	d, err := s.cfg.Conversations.GetConversation(r.Context(), t.Tenant, t.Team, c)
	if err == nil && d == nil {
		err = ErrContactNotFound
	}
	if err != nil {
		s.reqLog(r).Warn("conversations api: read the conversation back", "err", err.Error())
		d = &ConversationDetail{ConversationSummary: ConversationSummary{Contact: c, State: state}}
	}
	writeJSON(w, http.StatusOK, s.conversationOut(d))
}

// conversationHandoff handles POST /v1/conversations/{contact}/handoff.
func (s *Server) conversationHandoff(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Queue  string `json:"queue"`
		Note   string `json:"note"`
		By     string `json:"by"`
		Tenant string `json:"tenant"`
		Team   string `json:"team"`
	}
	t, c, ok := s.conversationWrite(w, r, &body, &body.Tenant, &body.Team, "queue", "note", "by", "tenant", "team")
	if !ok {
		return
	}
	req := HandoffRequest{Queue: body.Queue, Note: body.Note, By: body.By}
	if strings.TrimSpace(req.By) == "" {
		req.By = defaultBy
	}
	if err := s.cfg.Conversations.Handoff(r.Context(), t.Tenant, t.Team, c, req); err != nil {
		s.conversationFailed(w, r, c, "hand off", err)
		return
	}
	s.conversationChanged(w, r, t, c, "handoff")
}

// conversationRelease handles POST /v1/conversations/{contact}/release.
func (s *Server) conversationRelease(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Node          string `json:"node"`
		By            string `json:"by"`
		ReleaseThread bool   `json:"release_thread"`
		Tenant        string `json:"tenant"`
		Team          string `json:"team"`
	}
	t, c, ok := s.conversationWrite(w, r, &body, &body.Tenant, &body.Team, "node", "by", "release_thread", "tenant", "team")
	if !ok {
		return
	}
	by := body.By
	if strings.TrimSpace(by) == "" {
		by = defaultBy
	}
	req := ReleaseRequest{Node: strings.TrimSpace(body.Node), By: by, ReleaseThread: body.ReleaseThread}
	if req.ReleaseThread && req.Node != "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "release_thread gives the thread back to Meta's routing, so the bot cannot resume at a node: give node or release_thread, not both",
			Path: "release_thread", Code: CodeInvalid})
		return
	}
	if err := s.cfg.Conversations.Release(r.Context(), t.Tenant, t.Team, c, req); err != nil {
		s.conversationFailed(w, r, c, "release", err)
		return
	}
	s.conversationChanged(w, r, t, c, "none")
}

// conversationNote handles POST /v1/conversations/{contact}/notes.
func (s *Server) conversationNote(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text   string `json:"text"`
		Author string `json:"author"`
		Tenant string `json:"tenant"`
		Team   string `json:"team"`
	}
	t, c, ok := s.conversationWrite(w, r, &body, &body.Tenant, &body.Team, "text", "author", "tenant", "team")
	if !ok {
		return
	}
	if strings.TrimSpace(body.Text) == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: `missing text: the note, e.g. {"text": "called back, waiting for the invoice"}`, Path: "text", Code: CodeInvalid})
		return
	}
	if n := utf8.RuneCountInString(body.Text); n > MaxNoteLength {
		writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("text is %d characters: a note takes at most %d", n, MaxNoteLength), Path: "text", Code: CodeInvalid})
		return
	}
	author := body.Author
	if strings.TrimSpace(author) == "" {
		author = defaultBy
	}
	if err := s.cfg.Conversations.AddNote(r.Context(), t.Tenant, t.Team, c, author, body.Text); err != nil {
		s.conversationFailed(w, r, c, "add note", err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Contact string `json:"contact"`
		Author  string `json:"author"`
		Text    string `json:"text"`
	}{c, author, body.Text})
}

// conversationWrite starts a POST with an optional JSON body: auth, the body (its tenant
// and team win over the query's), the tenant/team and the contact.
func (s *Server) conversationWrite(w http.ResponseWriter, r *http.Request, v any, tenant, team *string, known ...string) (*Tenant, string, bool) {
	auth, ok := s.conversationAuth(w, r)
	if !ok {
		return nil, "", false
	}
	if _, bad := conversationQuery(r, "tenant", "team"); bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return nil, "", false
	}
	if !conversationBody(w, r, v, known) {
		return nil, "", false
	}
	return s.conversationTarget(w, r, auth, *tenant, *team, true)
}
