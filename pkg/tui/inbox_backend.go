package tui

import (
	"context"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// InboxBackend is what `gtc inbox` reads and writes: the conversations handed off to people,
// through the same service as `gtc serve` (see docs in /work/notes/inbox.md). Contacts are
// keys as the store has them: E.164 with + for a phone number, or a business-scoped user id.
type InboxBackend interface {
	// List returns the open handoffs matching f, the longest waiting first.
	List(ctx context.Context, f InboxFilter) ([]InboxConversation, error)
	// History returns up to limit messages of contact, oldest first: the newest ones when
	// before is "", else those older than the message whose Cursor is before. Both
	// directions, notes included.
	History(ctx context.Context, contact, before string, limit int) ([]InboxMessage, error)
	// MarkRead sets the contact's unread count to 0 (an agent has the conversation open).
	MarkRead(ctx context.Context, contact string) error
	// Reply queues an agent's message to contact through delivery (pacing, retry, status).
	// A refused reply returns an *InboxRefusal (opted out, window closed, not handed off).
	Reply(ctx context.Context, contact string, r InboxReply) error
	// Templates lists the approved templates (see TemplateFromInfo).
	Templates(ctx context.Context) ([]Template, error)
	// Note adds an internal note to the conversation; it is never sent.
	Note(ctx context.Context, contact, text string) error
	// Release hands contact back to the bot: at node, or with node "" the conversation
	// ends and the next message goes to the triggers.
	Release(ctx context.Context, contact, node string) error
	// Nodes lists the nodes an agent may release a conversation to.
	Nodes() []string
}

// InboxFilter narrows List.
type InboxFilter struct {
	Queue string // "" for every queue
}

// InboxConversation is one open handoff.
type InboxConversation struct {
	Contact string // E.164 with +, or a business-scoped user id
	Name    string // the profile name, if known
	Queue   string // the handoff node's queue
	Note    string // the handoff node's note for the agent, rendered
	Since   time.Time
	Unread  int // the customer's messages since an agent last read the conversation
	// WindowClosesAt is when the 24-hour customer service window closes (the customer's last
	// message plus 24h); zero when the customer never wrote.
	WindowClosesAt time.Time
	OptedOut       bool
}

// Inbox message directions.
const (
	InboxIn   = "in"   // from the customer
	InboxOut  = "out"  // to the customer, from the bot or an agent
	InboxNote = "note" // an agent's internal note
)

// InboxMessage is one entry of a conversation's history.
type InboxMessage struct {
	ID     string // the wamid, or the store's id for a note or an unsent message
	Cursor string // History's before for the page older than this message
	At     time.Time
	Dir    string // InboxIn, InboxOut or InboxNote
	// By is who wrote an outbound message or a note: "bot", or the agent's name ("agent" when
	// unknown).
	By  string
	In  *whatsapp.InboundMessage // Dir in
	Out *whatsapp.Message        // Dir out, as sent
	// Text is a note's text.
	Text string
	// Status is an outbound message's latest status: queued, sent, delivered, read, failed.
	Status string
	// Failure is why an outbound message failed (Status failed).
	Failure *InboxFailure
}

// InboxFailure is why a message failed.
type InboxFailure struct {
	Class whatsapp.ErrorClass
	Code  int
	Title string
}

// InboxReply is an agent's reply: Text, or Template (with its parameters filled in).
type InboxReply struct {
	Text     string
	Template *whatsapp.Template
}

// Message is the reply as a Cloud API message to to.
func (r InboxReply) Message(to string) *whatsapp.Message {
	m := &whatsapp.Message{MessagingProduct: whatsapp.MessagingProduct, RecipientType: whatsapp.RecipientIndividual, To: to}
	if r.Template != nil {
		m.Type, m.Template = whatsapp.TypeTemplate, r.Template
		return m
	}
	m.Type, m.Text = whatsapp.TypeText, &whatsapp.Text{Body: r.Text}
	return m
}

// Refusal codes of an InboxRefusal.
const (
	RefusedOptedOut     = "opted_out"      // the contact sent STOP
	RefusedWindowClosed = "window_closed"  // free-form outside the 24-hour window: send a template
	RefusedNotHandedOff = "not_handed_off" // the conversation is with the bot (released or timed out)
)

// InboxRefusal is a reply the backend refused before sending; Reason says why and what to
// do, for the agent.
type InboxRefusal struct {
	Code   string
	Reason string
}

func (e *InboxRefusal) Error() string { return e.Reason }

// InboxConversationJSON is a conversation as `gtc inbox --json` prints it.
type InboxConversationJSON struct {
	Contact           string     `json:"contact"`
	Name              string     `json:"name,omitempty"`
	Queue             string     `json:"queue,omitempty"`
	Note              string     `json:"note,omitempty"`
	WaitingSince      *time.Time `json:"waiting_since,omitempty"`
	WaitingSeconds    int64      `json:"waiting_seconds"`
	Unread            int        `json:"unread"`
	WindowOpen        bool       `json:"window_open"`
	WindowClosesAt    *time.Time `json:"window_closes_at,omitempty"`
	WindowLeftSeconds int64      `json:"window_left_seconds"`
	OptedOut          bool       `json:"opted_out,omitempty"`
}

// InboxJSON turns conversations into their --json form at now (never nil, so an empty
// inbox prints []).
func InboxJSON(convs []InboxConversation, now time.Time) []InboxConversationJSON {
	out := make([]InboxConversationJSON, 0, len(convs))
	for _, c := range convs {
		j := InboxConversationJSON{Contact: c.Contact, Name: c.Name, Queue: c.Queue, Note: c.Note,
			Unread: c.Unread, OptedOut: c.OptedOut}
		if !c.Since.IsZero() {
			since := c.Since.UTC()
			j.WaitingSince, j.WaitingSeconds = &since, max(int64(now.Sub(c.Since)/time.Second), 0)
		}
		if !c.WindowClosesAt.IsZero() {
			at := c.WindowClosesAt.UTC()
			j.WindowClosesAt = &at
			if left := c.WindowClosesAt.Sub(now); left > 0 {
				j.WindowOpen, j.WindowLeftSeconds = true, int64(left/time.Second)
			}
		}
		out = append(out, j)
	}
	return out
}

// windowOpen reports whether a free-form reply can go to c at now.
func (c InboxConversation) windowOpen(now time.Time) bool {
	return !c.WindowClosesAt.IsZero() && now.Before(c.WindowClosesAt)
}
