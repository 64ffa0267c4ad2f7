package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Thread control actions of Conversation Routing (POST /{phone_number_id}/thread_control).
// take is allowed to the business's escalation partner only; release gives the thread
// back to entry-point routing and makes no messaging_handovers webhook; pass hands it to
// the escalation partner (or, with target_role ai_agent, to Meta's business agent).
const (
	ThreadTake    = "take"
	ThreadRelease = "release"
	ThreadPass    = "pass"
)

// MaxThreadMetadata is the longest metadata string the thread control API forwards.
const MaxThreadMetadata = 2000

// ThreadControlRequest is the body of POST /{phone_number_id}/thread_control.
type ThreadControlRequest struct {
	MessagingProduct string `json:"messaging_product"`
	Action           string `json:"action"`
	// To is the user's phone number; Recipient their business-scoped user id (one of the two).
	To        string `json:"to,omitempty"`
	Recipient string `json:"recipient,omitempty"`
	// Metadata reaches the new owner in its messaging_handovers webhook (take, pass).
	Metadata string `json:"metadata,omitempty"`
}

// NewThreadControl builds a thread control request for user (E.164 with or without +, or
// a BSUID), checking it as Meta does.
func NewThreadControl(action, user, metadata string) (*ThreadControlRequest, error) {
	r := &ThreadControlRequest{MessagingProduct: "whatsapp", Action: action, Metadata: metadata}
	switch action {
	case ThreadTake, ThreadRelease, ThreadPass:
	default:
		return nil, fmt.Errorf("thread control action %q: use take, release or pass", action)
	}
	switch {
	case user == "":
		return nil, fmt.Errorf("thread control: no user: give a phone number or a BSUID")
	case IsBSUID(user):
		r.Recipient = user
	default:
		r.To = strings.TrimPrefix(user, "+")
	}
	if n := utf8.RuneCountInString(metadata); n > MaxThreadMetadata {
		return nil, fmt.Errorf("thread control metadata is %d characters: Meta forwards at most %d", n, MaxThreadMetadata)
	}
	return r, nil
}

// ThreadControl takes or releases (or passes) the thread with user under Conversation
// Routing. A refusal comes back as a *GraphError (take by an app that is not the
// escalation partner, release of a thread the app does not own).
func (c *Client) ThreadControl(ctx context.Context, action, user, metadata string) error {
	tr, err := NewThreadControl(action, user, metadata)
	if err != nil {
		return err
	}
	body, err := json.Marshal(tr)
	if err != nil {
		return fmt.Errorf("encode thread control: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.url(c.cfg.PhoneNumberID, "thread_control"), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	var ans struct {
		MessagingProduct string `json:"messaging_product"`
	}
	if err := c.do(req, &ans); err != nil {
		return fmt.Errorf("thread control %s: %w", action, err)
	}
	return nil
}
