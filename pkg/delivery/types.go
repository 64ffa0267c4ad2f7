package delivery

import (
	"context"
	"time"

	"github.com/greentic/gtc/pkg/calls"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Sender sends to the Cloud API for one phone number (whatsapp.Client in production).
type Sender interface {
	// Send makes one attempt and returns the wamid Graph assigned.
	Send(ctx context.Context, m *whatsapp.Message) (wamid string, err error)
	// MarkRead marks an inbound message read.
	MarkRead(ctx context.Context, wamid string) error
}

// ContactsSender is implemented by Senders that give Graph's answer's contacts: the
// recipient as sent and the wa_id or business-scoped user id Graph resolved it to. gtc
// records them as aliases of the recipient's contact, so an opt-out under one holds for all.
type ContactsSender interface {
	SendContacts(ctx context.Context, m *whatsapp.Message) (wamid string, contacts []whatsapp.SendContact, err error)
}

// Pacer is implemented by Senders that pace sends (whatsapp.Pacer): Delay is how long a
// send to recipient would wait now. A send that would wait longer than
// Config.MaxInlineWait is scheduled as a job instead of holding a worker.
type Pacer interface {
	Delay(recipient string) time.Duration
}

// BackOffer is implemented by Senders whose pacer can hold one recipient back (after
// 131056, the pair rate limit).
type BackOffer interface {
	BackOff(recipient string, d time.Duration)
}

// Provider is one tenant/team's WhatsApp number as delivery needs it.
type Provider struct {
	Tenant, Team  string
	PhoneNumberID string
	// OptOutKeywords and OptInKeywords are compared with an inbound text case- and
	// space-insensitively; empty means STOP, UNSUBSCRIBE and START, SUBSCRIBE.
	OptOutKeywords, OptInKeywords []string
	// MarkRead marks every inbound message read.
	MarkRead bool
	// MarketingMessages marks marketing-category templates (Message.Marketing) so the
	// Sender sends them through the Marketing Messages API; the category comes from what
	// the store recorded, else from the Sender's template list (TemplateLister).
	MarketingMessages bool
	// ConversationTimeout applies to asks without a timeout (0: 1h).
	ConversationTimeout time.Duration
	// ReconcileWindow is how long a send whose outcome is unclear waits for its status
	// webhook before it is sent again (0: Config.ReconcileWindow).
	ReconcileWindow time.Duration
	Sender          Sender
	// Calls runs the http and ai calls of this number's flows (nil: every call fails with
	// "calls are not configured"). Its OnSlow is replaced per call (typing indicator).
	Calls *calls.Runner
	// Secret looks up secrets.NAME for http and ai nodes (nil: none is set).
	Secret func(name string) (string, bool)
	// Settings are the bundle settings flows read as vars.settings.NAME
	// (bundle.Provider.FlowSettings), given to every conversation when it starts.
	Settings map[string]string
	// EventsURL receives this number's event webhooks ("": none are made); EventsSecret,
	// when set, gives the key they are signed with, read at each delivery (nil: unsigned).
	EventsURL    string
	EventsSecret func() (string, error)
	// LimitScope is the messaging-limit counter this number draws on ("portfolio:<id>",
	// shared by the numbers of a business portfolio, or "phone:<phone_number_id>"), and
	// MessagingLimit its business-initiated conversations per 24 hours; "" or 0: no limit.
	LimitScope     string
	MessagingLimit int
}

// ThreadController is implemented by Senders that take or release a thread under
// Conversation Routing (whatsapp.Client's ThreadControl).
type ThreadController interface {
	ThreadControl(ctx context.Context, action, user, metadata string) error
}

// TemplateLister is implemented by Senders that read the business account's templates
// (whatsapp.Client): their categories decide which go through the Marketing Messages API.
type TemplateLister interface {
	ListTemplates(ctx context.Context) ([]whatsapp.TemplateInfo, error)
}

// Typer is implemented by Senders that can show the typing indicator: mark an inbound
// message read with typing_indicator (the indicator goes when a reply is sent, or after 25
// seconds).
type Typer interface {
	Typing(ctx context.Context, wamid string) error
}

// RunContext is what a flow run knows about its surroundings.
type RunContext struct {
	Tenant, Team string
	To           string // the contact, as a recipient ("+<wa_id>" or the user id)
	ReplyTo      string // the inbound message id
	Now          int64  // Unix seconds
	// LastMessageTime is the contact's last inbound time (Unix seconds) before this
	// message, 0 when this is the first.
	LastMessageTime int64
	// Vars fill the templates of a flow started on purpose.
	Vars map[string]any
	// User is the contact's user.* values.
	User map[string]any
	// ConversationTimeout applies to asks without a timeout (0: the engine's default, 1h).
	ConversationTimeout time.Duration
	// Secret looks up secrets.NAME for http and ai nodes (nil: every secret is missing).
	Secret func(name string) (string, bool)
}

// Reply is one message a flow decided to send.
type Reply struct {
	Flow, Node       string
	Message          whatsapp.Message
	RetryOnRateLimit bool
}

// FlowRunner decides the replies to an inbound message (flow.Set in production). No matching
// flow is (nil, nil).
type FlowRunner interface {
	Handle(ctx context.Context, m *whatsapp.InboundMessage, rc RunContext) ([]Reply, error)
}

// ErrorInfo is how a send error is handled.
type ErrorInfo struct {
	Class   string // rate_limited, transient, window_closed, unreachable, bad_request, auth, …
	Code    int
	Message string // safe to log: no token, no body
	// Transient errors are retried with backoff; RateLimited ones only when the reply asks
	// for it (retry_on_rate_limit).
	Transient, RateLimited bool
	// Unreachable is recorded on the contact (131026 and friends), never retried.
	Unreachable bool
}
