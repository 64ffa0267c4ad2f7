package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// OutboundMessage is a message to send on purpose (the send API), outside a flow run.
type OutboundMessage struct {
	Message          whatsapp.Message
	RetryOnRateLimit bool
	Flow, Node       string
	// Origin is recorded with the message; empty means store.OriginFlow for a flow's reply
	// and store.OriginSend otherwise.
	Origin string
}

// FlowStart asks for a flow started on purpose for one contact (gtc send --flow, the send
// API's {"flow": NAME}, gtc chat's /flow).
type FlowStart struct {
	Flow string
	Node string // empty: the flow's first node
	To   string // the recipient, E.164 or a user id
	Vars map[string]any
	// Origin is recorded with the replies; empty means store.OriginFlow.
	Origin string
}

// Send records msgs for tenant/team and sends them now, in order, under the same rules as
// flow replies: refused to opted-out contacts, free-form refused when the 24-hour window is
// closed, retried in the background when rate limited (RetryOnRateLimit) or transient. It
// returns the recorded messages with their outcome (Refused turns a refusal into an error).
func (s *Service) Send(ctx context.Context, tenant, team string, msgs []OutboundMessage) ([]*store.Outbound, error) {
	if s.stopping.Load() {
		return nil, ErrStopped
	}
	if s.provider(tenant, team) == nil {
		return nil, fmt.Errorf("send for %s/%s: %w", tenant, team, ErrUnknownProvider)
	}
	news := make([]store.NewOutbound, 0, len(msgs))
	for i, om := range msgs {
		m := om.Message
		if m.To == "" {
			return nil, fmt.Errorf("message %d: no recipient", i)
		}
		if m.MessagingProduct == "" {
			m.MessagingProduct = "whatsapp"
		}
		raw, err := json.Marshal(&m)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		origin := store.OriginSend
		if om.Flow != "" {
			origin = store.OriginFlow
		}
		if om.Origin != "" {
			origin = om.Origin
		}
		news = append(news, store.NewOutbound{ContactKey: ContactKeyOf(m.To), Recipient: m.To, Origin: origin,
			Flow: om.Flow, Node: om.Node, MessageType: m.Type, Request: raw, RetryOnRateLimit: om.RetryOnRateLimit,
			Sender: s.instance + ":api"})
	}
	ids, err := s.st.RecordOutbound(ctx, tenant, team, news)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Outbound, 0, len(ids))
	for _, id := range ids {
		o, err := s.st.OutboundByID(ctx, id)
		if err != nil {
			return nil, err
		}
		c, err := s.st.Contact(ctx, tenant, team, o.ContactKey)
		if err != nil {
			return nil, err
		}
		f, at := s.attempt(ctx, o, c.OptedOut, c)
		if err := s.finish(context.WithoutCancel(ctx), []store.Finish{f}, []retry{{o.ID, at}}); err != nil {
			return nil, err
		}
		if o, err = s.st.OutboundByID(ctx, id); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// StartFlow runs a flow on purpose for one contact (StartReplies, with the contact's last
// inbound time) and sends its replies (see Send). Errors are typed: ErrNoFlows,
// ErrUnknownProvider, and StartReplies' *NotFoundError, *RunError and *NoRepliesError.
func (s *Service) StartFlow(ctx context.Context, tenant, team string, req FlowStart) ([]*store.Outbound, error) {
	if s.cfg.Flows == nil {
		return nil, ErrNoFlows
	}
	if s.provider(tenant, team) == nil {
		return nil, fmt.Errorf("start flow for %s/%s: %w", tenant, team, ErrUnknownProvider)
	}
	c, err := s.st.Contact(ctx, tenant, team, ContactKeyOf(req.To))
	if err != nil {
		return nil, err
	}
	rc := RunContext{Tenant: tenant, Team: team, To: req.To, Now: s.now().Unix(), LastMessageTime: LastMessageTime(c), Vars: req.Vars}
	replies, err := StartReplies(s.cfg.Flows, req.Flow, req.Node, rc)
	if err != nil {
		return nil, err
	}
	msgs := make([]OutboundMessage, len(replies))
	for i, r := range replies {
		if r.Message.To == "" {
			r.Message.To = req.To
		}
		msgs[i] = OutboundMessage{Message: r.Message, RetryOnRateLimit: r.RetryOnRateLimit, Flow: r.Flow, Node: r.Node, Origin: req.Origin}
	}
	return s.Send(ctx, tenant, team, msgs)
}

// Refused returns a *RefusedError for the first refused row of a Send, or nil.
func Refused(rows []*store.Outbound) error {
	for _, o := range rows {
		if o.State == store.OutRefused {
			return &RefusedError{Reason: o.ErrorClass, ID: o.ID}
		}
	}
	return nil
}

// ContactKeyOf is the contact key for a recipient: the digits of a phone number ("+49 151…"
// → "49151…", the wa_id form webhooks use), or a business-scoped user id unchanged.
func ContactKeyOf(to string) string {
	t := strings.TrimSpace(to)
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
			return -1
		}
		return 'x'
	}, t)
	if digits != "" && !strings.Contains(digits, "x") {
		return digits
	}
	return t
}
