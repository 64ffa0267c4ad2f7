package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ConversationService is what the conversations API (/v1/conversations) reads and changes.
// pkg/app adapts pkg/delivery to it; replies go through the send API's Sender like any send.
type ConversationService interface {
	// ListConversations lists a tenant/team's conversations, longest waiting first.
	ListConversations(ctx context.Context, tenant, team string, f ConversationFilter) ([]ConversationSummary, error)
	// GetConversation answers one contact's state; ErrContactNotFound when gtc never saw it.
	GetConversation(ctx context.Context, tenant, team, contact string) (*ConversationDetail, error)
	// ConversationMessages pages a contact's history, both directions and notes, newest
	// page first (before "" = the newest); items are oldest first within a page.
	ConversationMessages(ctx context.Context, tenant, team, contact, before string, limit int) (HistoryPage, error)
	// Handoff takes the contact over from the bot (ErrAlreadyHandedOff when it is with a person).
	Handoff(ctx context.Context, tenant, team, contact string, req HandoffRequest) error
	// Release hands the contact back to the bot, resuming at req.Node ("" = the conversation
	// ends and the next message goes to the triggers); with req.ReleaseThread it also gives
	// the thread back to Meta's routing. ErrNotHandedOff when it is not with a person; an
	// unknown node is a *delivery.NotFoundError; Graph's refusal a *delivery.ThreadControlError.
	Release(ctx context.Context, tenant, team, contact string, req ReleaseRequest) error
	// AddNote adds an internal note (never sent) to the contact's history.
	AddNote(ctx context.Context, tenant, team, contact, author, text string) error
}

// Errors a ConversationService returns (wrapped); the API maps them to status codes.
var (
	ErrContactNotFound  = errors.New("contact not found")
	ErrNotHandedOff     = errors.New("the contact is not with a person")
	ErrAlreadyHandedOff = errors.New("the contact is already with a person")
)

// ConversationFilter narrows ListConversations.
type ConversationFilter struct {
	State string // "handoff" (with a person), "bot" (a flow waits), "all"; "" = "handoff"
	Queue string // "" = every queue
}

// ConversationSummary is one contact's conversation as agents see it in a list.
type ConversationSummary struct {
	Contact        string     `json:"contact"` // E.164 with + (or a BSUID)
	Name           string     `json:"name,omitempty"`
	State          string     `json:"state"` // "handoff", "bot" (a flow is waiting) or "none"
	Flow           string     `json:"flow,omitempty"`
	Node           string     `json:"node,omitempty"`
	Queue          string     `json:"queue,omitempty"`
	Note           string     `json:"note,omitempty"`
	WaitingSince   *time.Time `json:"waiting_since,omitempty"` // handoff start, or since the flow waits
	Unread         int        `json:"unread"`
	WindowClosesAt *time.Time `json:"window_closes_at,omitempty"` // last inbound + 24h; nil if the customer never wrote
	OptedOut       bool       `json:"opted_out"`
}

// ConversationDetail is one contact's conversation with its user.* values.
type ConversationDetail struct {
	ConversationSummary
	Deadline *time.Time     `json:"deadline,omitempty"` // when a waiting question or a handoff times out
	User     map[string]any `json:"user,omitempty"`
}

// HistoryItem is one message or note of a contact's history.
type HistoryItem struct {
	ID         string          `json:"id"`     // stable: gtc's outbound id, the inbound wamid, or "note-N"
	Cursor     string          `json:"cursor"` // pass as before= to page past this item
	At         time.Time       `json:"at"`
	Dir        string          `json:"dir"`          // "in", "out" or "note"
	By         string          `json:"by,omitempty"` // "bot", "api", an agent's name
	Kind       string          `json:"kind"`         // text, interactive, template, image, …, note
	Text       string          `json:"text,omitempty"`
	Message    json.RawMessage `json:"message,omitempty"` // in: the inbound message; out: the Cloud API request
	Status     string          `json:"status,omitempty"`  // out: queued, sent, delivered, read, failed
	ErrorClass string          `json:"error_class,omitempty"`
	ErrorCode  int             `json:"error_code,omitempty"`
}

// HistoryPage is one page of history and the cursor of the page before it.
type HistoryPage struct {
	Items  []HistoryItem `json:"items"`
	Before string        `json:"before,omitempty"` // "" when this is the oldest page
}

// ReleaseRequest is the body of POST /v1/conversations/{contact}/release.
type ReleaseRequest struct {
	Node string `json:"node,omitempty"`
	By   string `json:"by,omitempty"`
	// ReleaseThread releases the thread under Conversation Routing (Meta's thread control
	// API), so entry-point routing picks the responder of the contact's next message.
	ReleaseThread bool `json:"release_thread,omitempty"`
}

// HandoffRequest is the body of POST /v1/conversations/{contact}/handoff.
type HandoffRequest struct {
	Queue string `json:"queue,omitempty"`
	Note  string `json:"note,omitempty"`
	By    string `json:"by,omitempty"`
}
