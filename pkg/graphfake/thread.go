package graphfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// EndpointThreadControl is POST /{phone}/thread_control (Conversation Routing).
const EndpointThreadControl = "thread_control"

// Thread owners as the fake tracks them per user.
const (
	ThreadApp   = "app"   // this app controls the thread (the default: its messages came here)
	ThreadOther = "other" // another responder (another app, Meta's business agent) controls it
	ThreadIdle  = "idle"  // released: entry-point routing decides at the user's next message
)

// CodeThreadNotPermitted is Graph's error code for a thread control action the app may not
// make (take when it is not the escalation partner, release or pass of a thread it does not
// control).
const CodeThreadNotPermitted = 2494191

// ThreadOwner says who controls the thread with user (a wa_id or BSUID) as the fake knows
// it: ThreadApp unless a standby copy, a handover or a thread control call said otherwise.
func (s *Server) ThreadOwner(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.threads[user]; ok {
		return o
	}
	return ThreadApp
}

// SetThreadOwner sets who controls the thread with user, as Meta's routing would.
func (s *Server) SetThreadOwner(user, owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.threads == nil {
		s.threads = map[string]string{}
	}
	s.threads[user] = owner
}

var digitsRe = regexp.MustCompile(`^[0-9]{6,15}$`)

// serveThreadControl is POST /{phone}/thread_control as Meta documents it: messaging_product
// whatsapp, action take|release|pass, the user in to (digits) or recipient (a BSUID), not
// both, metadata at most 2000 characters, control_pass only with pass. take is refused
// unless Options.EscalationPartner; release and pass need the thread. The answer is
// {"messaging_product":"whatsapp"}.
func (s *Server) serveThreadControl(rec *recorder, r *http.Request, call *Call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.fault(rec, call, Fault{Code: 100, Message: "Invalid parameter", Details: "cannot read the body"})
		return
	}
	call.Body = body
	var req struct {
		MessagingProduct string `json:"messaging_product"`
		Action           string `json:"action"`
		To               string `json:"to"`
		Recipient        string `json:"recipient"`
		Metadata         string `json:"metadata"`
		ControlPass      *struct {
			TargetRole string `json:"target_role"`
		} `json:"control_pass"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fault(rec, call, jsonFault(err))
		return
	}
	if f, ok := s.takeFault(EndpointThreadControl, ""); ok {
		s.fault(rec, call, f)
		return
	}
	user := req.To
	switch {
	case req.MessagingProduct != "whatsapp":
		s.fault(rec, call, badParam(100, "messaging_product", `must be "whatsapp"`))
		return
	case req.Action != whatsapp.ThreadTake && req.Action != whatsapp.ThreadRelease && req.Action != whatsapp.ThreadPass:
		s.fault(rec, call, badParam(100, "action", "must be one of take, release, pass"))
		return
	case req.To != "" && req.Recipient != "":
		s.fault(rec, call, badParam(100, "to", "give to or recipient, not both"))
		return
	case req.To == "" && req.Recipient == "":
		s.fault(rec, call, badParam(100, "to", "is required (or recipient, a business-scoped user id)"))
		return
	case req.To != "" && !digitsRe.MatchString(req.To):
		s.fault(rec, call, badParam(100, "to", "must be the user's phone number, digits only"))
		return
	case req.Recipient != "" && !whatsapp.IsBSUID(req.Recipient):
		s.fault(rec, call, badParam(100, "recipient", "must be a business-scoped user id"))
		return
	case utf8.RuneCountInString(req.Metadata) > whatsapp.MaxThreadMetadata:
		s.fault(rec, call, badParam(100, "metadata", fmt.Sprintf("must be at most %d characters", whatsapp.MaxThreadMetadata)))
		return
	case req.ControlPass != nil && req.Action != whatsapp.ThreadPass:
		s.fault(rec, call, badParam(100, "control_pass", "is only valid with action pass"))
		return
	case req.ControlPass != nil && req.ControlPass.TargetRole != "ai_agent":
		s.fault(rec, call, badParam(100, "control_pass.target_role", `must be "ai_agent"`))
		return
	}
	if user == "" {
		user = req.Recipient
	}
	owner := s.ThreadOwner(user)
	switch req.Action {
	case whatsapp.ThreadTake:
		if !s.opts.EscalationPartner {
			s.fault(rec, call, Fault{Code: CodeThreadNotPermitted, HTTPStatus: http.StatusBadRequest,
				Message: "(#2494191) Take thread control is not permitted: only the escalation partner may take a thread"})
			return
		}
		s.SetThreadOwner(user, ThreadApp)
	case whatsapp.ThreadRelease, whatsapp.ThreadPass:
		if owner != ThreadApp {
			s.fault(rec, call, Fault{Code: CodeThreadNotPermitted, HTTPStatus: http.StatusBadRequest,
				Message: fmt.Sprintf("(#2494191) %s is not permitted: this app does not control the thread", req.Action)})
			return
		}
		if req.Action == whatsapp.ThreadRelease {
			s.SetThreadOwner(user, ThreadIdle)
		} else {
			s.SetThreadOwner(user, ThreadOther)
		}
	}
	s.ok(rec, map[string]string{"messaging_product": "whatsapp"})
}
