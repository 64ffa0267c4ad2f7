package delivery

import (
	"context"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// The rules every path shares (webhook jobs, the send API, gtc send, the composer, gtc chat,
// gtc flow run): the engine is called here and nowhere else, and the refusal rule exists
// once. See docs/design.md.

// Reasons a message is refused; recorded as the outbound row's error class.
const (
	ReasonOptedOut     = "opted_out"
	ReasonWindowClosed = "window_closed"
	ReasonNoProvider   = "no_provider"
	// ReasonMessagingLimit: a template that would open a business-initiated conversation
	// beyond the messaging limit of its scope (the business portfolio, or the number).
	ReasonMessagingLimit = "messaging_limit"
	// ReasonTemplateNotSendable is a template Meta paused, disabled or rejected (or that
	// is pending, in appeal, archived or being deleted), as gtc last saw it.
	ReasonTemplateNotSendable = "template_not_sendable"
)

// Refusal says why msg must not be sent to contact c at now, or "" when it may go: nothing
// to an opted-out contact (except the opt-out/opt-in confirmation, origin
// store.OriginOptOut), and only templates outside the 24-hour window. optedOut is the
// contact's opt-out as of this message (a job decides it in event order).
func Refusal(c *store.Contact, optedOut bool, origin string, msg *whatsapp.Message, now time.Time) string {
	switch {
	case optedOut && origin != store.OriginOptOut:
		return ReasonOptedOut
	case !msg.IsTemplate() && !c.WindowOpen(now):
		return ReasonWindowClosed
	}
	return ""
}

// notSendable are the template statuses Meta refuses sends of. APPROVED and the events
// that leave a template approved (FLAGGED, REINSTATED, UNARCHIVED, LOCKED, UNLOCKED) are
// sendable; a status gtc does not know is left to Graph to judge.
var notSendable = map[string]bool{"PAUSED": true, "DISABLED": true, "REJECTED": true, "PENDING": true,
	"IN_APPEAL": true, "PENDING_DELETION": true, "DELETED": true, "ARCHIVED": true}

// TemplateRefusal says why a template whose last seen state is t must not be sent, or nil
// when it may go (nil t: gtc never heard of it, Graph judges). The one rule behind flow
// replies, the send API, gtc send and the composer.
func TemplateRefusal(t *store.TemplateState) *TemplateRefusedError {
	if t == nil || !notSendable[strings.ToUpper(t.Status)] {
		return nil
	}
	return &TemplateRefusedError{Name: t.Name, Language: t.Language, Status: strings.ToUpper(t.Status), Reason: t.Reason,
		Since: t.StatusAt, Source: t.StatusSource}
}

// TemplateSeen merges what the store recorded about a template with Graph's template list
// read now (live nil when the list has no such template or could not be read): the list,
// being newer, decides the status; the webhook keeps its date and reason when both say the
// same; quality and category fall back on whichever knows them.
func TemplateSeen(recorded *store.TemplateState, live *whatsapp.TemplateInfo, now time.Time) *store.TemplateState {
	if live == nil {
		return recorded
	}
	t := &store.TemplateState{Name: live.Name, Language: live.Language, ID: live.ID, Status: strings.ToUpper(live.Status),
		StatusAt: now, StatusSource: store.TemplateSourceGraph, Category: strings.ToUpper(live.Category), CategoryAt: now,
		Quality: strings.ToUpper(live.Quality()), QualityAt: now}
	if r := live.RejectedReason; r != "" && !strings.EqualFold(r, "NONE") {
		t.Reason = r
	}
	if recorded == nil {
		return t
	}
	t.Tenant, t.Team, t.WABAID = recorded.Tenant, recorded.Team, recorded.WABAID
	if strings.EqualFold(recorded.Status, t.Status) {
		t.StatusAt, t.StatusSource = recorded.StatusAt, recorded.StatusSource
		if t.Reason == "" {
			t.Reason = recorded.Reason
		}
	}
	if t.Category == "" {
		t.Category, t.CategoryAt = recorded.Category, recorded.CategoryAt
	}
	if t.Quality == "" {
		t.Quality, t.QualityAt = recorded.Quality, recorded.QualityAt
	}
	return t
}

// AnswersThread reports whether gtc may answer a contact whose thread control is t at now:
// not while another responder has the thread (a control_taken, a standby copy), until it
// goes idle 24 hours after that was last seen, as Meta's routing makes it. A thread passed
// to gtc, taken or released by it, or never routed, is answered.
func AnswersThread(t *store.Thread, now time.Time) bool {
	return t == nil || t.Owner != store.ThreadOther || now.Sub(t.At) >= ThreadIdleAfter
}

// ThreadIdleAfter is how long after its last activity a thread another responder had goes
// back to routing (Meta's thread lifecycle).
const ThreadIdleAfter = 24 * time.Hour

// OpensConversation reports whether msg, sent to c at now, opens a business-initiated
// conversation, which Meta's messaging limit counts: a template outside the contact's
// 24-hour window (inside it, any message is a free reply).
func OpensConversation(c *store.Contact, msg *whatsapp.Message, now time.Time) bool {
	return msg.IsTemplate() && (c == nil || !c.WindowOpen(now))
}

// Limiter books business-initiated conversations against a messaging limit: the store
// (store.OpenConversation).
type Limiter interface {
	OpenConversation(ctx context.Context, scope, contactKey string, limit int, now time.Time) (store.LimitGrant, error)
}

// CheckLimit is the messaging-limit part of the refusal rule, applied to a send Refusal
// let through: a message that opens a business-initiated conversation (OpensConversation)
// books its recipient in scope; one the scope has no room for is refused with
// ReasonMessagingLimit. The grant is what was booked (give it back with
// store.UndoConversation when Graph refuses the send). No scope means no limit.
func CheckLimit(ctx context.Context, l Limiter, scope string, limit int, c *store.Contact, msg *whatsapp.Message, now time.Time) (string, store.LimitGrant, error) {
	if scope == "" || limit <= 0 || !OpensConversation(c, msg, now) {
		return "", store.LimitGrant{}, nil
	}
	g, err := l.OpenConversation(ctx, scope, LimitKey(c, msg), limit, now)
	if err != nil {
		return "", g, err
	}
	if !g.OK {
		return ReasonMessagingLimit, g, nil
	}
	return "", g, nil
}

// LimitKey is the recipient as the messaging limit counts it: the contact's key (one per
// person whatever number of the portfolio writes to them).
func LimitKey(c *store.Contact, msg *whatsapp.Message) string {
	if c != nil && c.Key != "" {
		return c.Key
	}
	return ContactKeyOf(msg.To)
}

// LastMessageTime is a flow's last_message_time (Unix seconds, 0 for none): for a run by an
// inbound message ev, the time of the contact's previous inbound message (ingest records
// it with the message: 0 for a first message); otherwise (a start, a timeout, a call's
// result; ev nil or not a message) the contact's last inbound time.
func LastMessageTime(c *store.Contact, ev *store.StoredEvent) int64 {
	var at time.Time
	switch {
	case ev != nil && ev.Kind == store.KindMessage:
		at = ev.PrevInboundAt
	case c != nil:
		at = c.LastInboundAt
	}
	if at.IsZero() {
		return 0
	}
	return at.Unix()
}

// Step runs one input of a contact's conversation (cur nil: none waits): the one place the
// flow engine runs. Webhook jobs, timeouts, explicit starts, gtc chat and gtc flow run all
// come through here.
func Step(set *flow.Set, cur *flow.Conversation, in flow.Input, rc RunContext) (flow.Outcome, error) {
	return set.Step(cur, in, rc.flowContext())
}

// HandleInbound runs the flow whose trigger wins for an inbound message, without a stored
// conversation (one step; a question it asks is not remembered). No matching trigger is
// (nil, nil).
func HandleInbound(set *flow.Set, ev flow.Event, rc RunContext) ([]Reply, error) {
	out, err := Step(set, nil, flow.MessageInput(ev), rc)
	if err != nil {
		return nil, err
	}
	return replies(out.Replies), nil
}

// StartReplies runs flowName from nodeID (its first node when empty) without an inbound
// message and without a stored conversation, rc.Vars filling its templates. Errors are
// typed: *NotFoundError for a missing flow or node, *RunError when the run fails,
// *NoRepliesError when it sends nothing.
func StartReplies(set *flow.Set, flowName, nodeID string, rc RunContext) ([]Reply, error) {
	out, err := Step(set, nil, flow.StartInput(flowName, nodeID, nil), rc)
	if err != nil {
		return nil, startError(set, flowName, nodeID, err)
	}
	if len(out.Replies) == 0 {
		return nil, &NoRepliesError{Flow: flowName}
	}
	return replies(out.Replies), nil
}

// startError types the error of a start of flowName at nodeID.
func startError(set *flow.Set, flowName, nodeID string, err error) error {
	f, ok := set.Flow(flowName)
	switch {
	case !ok:
		return &NotFoundError{What: "flow", Flow: flowName, Err: err}
	case nodeID != "" && !hasNode(f, nodeID):
		return &NotFoundError{What: "node", Flow: flowName, Node: nodeID, Err: err}
	}
	return &RunError{Flow: flowName, Err: err}
}

func hasNode(f *flow.Flow, id string) bool {
	_, ok := f.Node(id)
	return ok
}

// RenderReply renders a reply config given outside a flow (the send API's body) for rc.
func RenderReply(node *flow.Node, rc RunContext) (*whatsapp.Message, error) {
	m, err := node.Render(flow.NewEnv(nil, rc.flowContext()))
	if err != nil {
		return nil, newRenderError(err)
	}
	return m, nil
}

func (rc RunContext) flowContext() flow.Context {
	return flow.Context{Tenant: rc.Tenant, Team: rc.Team, To: rc.To, ReplyTo: rc.ReplyTo, Now: rc.Now,
		LastMessageTime: rc.LastMessageTime, Vars: rc.Vars, User: rc.User, ConversationTimeout: rc.ConversationTimeout,
		Secret: rc.Secret, Settings: flow.SettingsFromVars(rc.Vars)}
}

func replies(out []flow.Reply) []Reply {
	rs := make([]Reply, len(out))
	for i, r := range out {
		rs[i] = Reply{Flow: r.Flow, Node: r.Node, Message: r.Message, RetryOnRateLimit: r.RetryOnRateLimit}
	}
	return rs
}
