package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/flow"
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
	// Key, when set, is the send API request's Idempotency-Key, reserved with the
	// replies (see SendOnce).
	Key *store.IdempotencyKey
}

// requestSender ends the sender of the messages a caller's request (the send API, a
// start) records and sends itself: "<instance>:api" until the request has the outcome.
const requestSender = ":api"

// InRequest reports whether o is still being sent by the request that recorded it: its
// outcome is not recorded, and its instance has not been taken for dead nor restarted
// (which hand such messages to jobs).
func InRequest(o *store.Outbound) bool { return strings.HasSuffix(o.Sender, requestSender) }

// Send records msgs for tenant/team and sends them now, in order, under the same rules as
// flow replies: refused to opted-out contacts, free-form refused when the 24-hour window is
// closed, retried in the background when rate limited (RetryOnRateLimit) or transient. It
// returns the recorded messages with their outcome (Refused turns a refusal into an error).
func (s *Service) Send(ctx context.Context, tenant, team string, msgs []OutboundMessage) ([]*store.Outbound, error) {
	return s.SendOnce(ctx, tenant, team, nil, msgs)
}

// SendOnce is Send under a send API request's Idempotency-Key: key (nil: none) is reserved
// in the transaction that records msgs. When another request holds it, nothing is
// recorded or sent and the error wraps store.ErrKeyTaken.
func (s *Service) SendOnce(ctx context.Context, tenant, team string, key *store.IdempotencyKey, msgs []OutboundMessage) ([]*store.Outbound, error) {
	if s.stopping.Load() {
		return nil, ErrStopped
	}
	if s.provider(tenant, team) == nil {
		return nil, fmt.Errorf("send for %s/%s: %w", tenant, team, ErrUnknownProvider)
	}
	news := make([]store.NewOutbound, 0, len(msgs))
	for i, om := range msgs {
		m := om.Message
		if m.RecipientKey() == "" {
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
		c, err := s.Contact(ctx, tenant, team, m.RecipientKey())
		if err != nil {
			return nil, err
		}
		news = append(news, store.NewOutbound{ContactKey: c.Key, Recipient: m.RecipientKey(), Origin: origin,
			Flow: om.Flow, Node: om.Node, MessageType: m.Type, Request: raw, RetryOnRateLimit: om.RetryOnRateLimit,
			Sender: s.instance + requestSender})
	}
	ids, err := s.st.RecordOutboundOnce(ctx, tenant, team, key, news)
	if err != nil {
		return nil, err
	}
	return s.sendRecorded(ctx, tenant, team, ids)
}

// sendRecorded sends the recorded rows ids now, in order, and returns them with their
// outcome.
func (s *Service) sendRecorded(ctx context.Context, tenant, team string, ids []int64) ([]*store.Outbound, error) {
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
		var carry []store.Finish
		oc, err := s.attempt(ctx, o, c.OptedOut, c, s.instance+requestSender, &carry)
		if err != nil {
			return nil, err
		}
		if oc.kind != sendLost {
			if err := s.record(ctx, []store.Finish{oc.fin}); err != nil {
				return nil, err
			}
		}
		if o, err = s.st.OutboundByID(ctx, id); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// StartFlow starts a flow on purpose for one contact and sends its replies (see Send): the
// contact's conversation (a waiting one is replaced) then waits for the answers like any
// other. It leases the contact, so it runs in order with the contact's messages, and
// records the replies together with the conversation. Errors are typed: ErrNoFlows,
// ErrUnknownProvider, *NotFoundError, *RunError and *NoRepliesError.
func (s *Service) StartFlow(ctx context.Context, tenant, team string, req FlowStart) ([]*store.Outbound, error) {
	if s.cfg.Flows == nil {
		return nil, ErrNoFlows
	}
	if s.stopping.Load() {
		return nil, ErrStopped
	}
	p := s.provider(tenant, team)
	if p == nil {
		return nil, fmt.Errorf("start flow for %s/%s: %w", tenant, team, ErrUnknownProvider)
	}
	c, err := s.Contact(ctx, tenant, team, req.To)
	if err != nil {
		return nil, err
	}
	ref := store.ContactRef{Tenant: tenant, Team: team, Key: c.Key}
	owner := fmt.Sprintf("%s:start-%d", s.instance, s.starts.Add(1))
	if err := s.leaseForStart(ctx, ref, owner); err != nil {
		return nil, err
	}
	ids, err := s.recordStart(ctx, p, ref, req)
	if rerr := s.releaseAfterStart(context.WithoutCancel(ctx), ref, owner); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return s.sendRecorded(ctx, tenant, team, ids)
}

// startLeaseWait bounds how long StartFlow waits for a job that holds the contact.
const startLeaseWait = 30 * time.Second

// leaseForStart takes the contact's lease, waiting while a job holds it.
func (s *Service) leaseForStart(ctx context.Context, ref store.ContactRef, owner string) error {
	if err := s.st.EnsureContact(ctx, ref); err != nil {
		return err
	}
	give := time.Now().Add(startLeaseWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		ok, err := s.st.ClaimContact(ctx, ref, owner, s.now().Add(leaseFor))
		if err != nil || ok {
			return err
		}
		if time.Now().After(give) {
			return fmt.Errorf("start flow: contact %s is busy (its messages are being processed): try again", ref.Key)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// releaseAfterStart gives the lease back; messages that arrived meanwhile get a job (their
// own found the contact leased).
func (s *Service) releaseAfterStart(ctx context.Context, ref store.ContactRef, owner string) error {
	more, err := s.st.ReleaseContact(ctx, ref, owner)
	if err != nil || !more {
		return err
	}
	if _, err := s.st.ClaimContact(ctx, ref, owner, time.Time{}); err != nil {
		return err
	}
	// Expired at once (until zero), so the job's claim succeeds.
	_, err = s.ins.Insert(ctx, inboundArgs{Contacts: []store.ContactRef{ref}}, nil)
	return err
}

// recordStart runs the start's step under the lease and records its replies with the
// conversation it leaves (and the conversation's timeout job).
func (s *Service) recordStart(ctx context.Context, p *Provider, ref store.ContactRef, req FlowStart) ([]int64, error) {
	c, err := s.st.Contact(ctx, ref.Tenant, ref.Team, ref.Key)
	if err != nil {
		return nil, err
	}
	sc, err := s.st.ConversationOf(ctx, ref)
	if err != nil {
		return nil, err
	}
	log := s.log.With("tenant", ref.Tenant, "team", ref.Team)
	cs := newConvState(ref, sc, log)
	rc := RunContext{Tenant: ref.Tenant, Team: ref.Team, To: req.To, Now: s.now().Unix(), LastMessageTime: LastMessageTime(c, nil),
		Vars: flowVars(p, req.Vars), ConversationTimeout: p.ConversationTimeout, Secret: placeholderSecrets(p.Secret)}
	res, err := s.step(s.cfg.Flows, cs, flow.StartInput(req.Flow, req.Node, req.Vars), rc, log)
	if err != nil {
		return nil, startError(s.cfg.Flows, req.Flow, req.Node, err)
	}
	if len(res.replies) == 0 && len(res.calls) == 0 {
		return nil, &NoRepliesError{Flow: req.Flow}
	}
	origin := req.Origin
	if origin == "" {
		origin = store.OriginFlow
	}
	news := make([]store.NewOutbound, 0, len(res.replies))
	for i, r := range res.replies {
		m := r.Message
		if m.To == "" {
			m.To = req.To
		}
		if m.MessagingProduct == "" {
			m.MessagingProduct = "whatsapp"
		}
		raw, err := json.Marshal(&m)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		news = append(news, store.NewOutbound{ContactKey: ref.Key, Recipient: m.To, Origin: origin, Flow: r.Flow, Node: r.Node,
			MessageType: m.Type, Request: raw, RetryOnRateLimit: r.RetryOnRateLimit, Sender: s.instance + requestSender})
	}
	return s.st.RecordStartOnce(ctx, ref, news, res.update, s.insertJobs(res.timeouts, res.calls), req.Key)
}

// Refused returns a *RefusedError for the first refused row of a Send, or nil.
func Refused(rows []*store.Outbound) error {
	for _, o := range rows {
		if o.State == store.OutRefused {
			return &RefusedError{Reason: o.ErrorClass, ID: o.ID, Msg: o.ErrorMessage}
		}
	}
	return nil
}

// ResolveContact is the one place a recipient (a phone number in any form gtc accepts, a
// wa_id, a business-scoped user id) becomes a contact: the identity one of its aliases names
// (store.ContactByAlias), trying the number as given, then its country variants
// (whatsapp.NumberVariants: an opt-out recorded under the wa_id 5215512345678 holds for
// +52 55 1234 5678). Opt-out, the 24-hour window, the conversation and a handoff are the
// identity's. An unknown recipient comes back with Known false and Key ContactKeyOf(to).
// Every send path comes through here: the send API and starts (Service.Contact), handoffs
// and notes, gtc send, the composer, gtc chat and gtc flow run.
func ResolveContact(ctx context.Context, st *store.Store, tenant, team, to string) (*store.Contact, error) {
	key := ContactKeyOf(to)
	if key == "" {
		return nil, fmt.Errorf("no recipient")
	}
	return st.ContactByAlias(ctx, tenant, team, append([]string{key}, whatsapp.NumberVariants(key)...)...)
}

// Contact is ResolveContact on the service's store.
func (s *Service) Contact(ctx context.Context, tenant, team, to string) (*store.Contact, error) {
	return ResolveContact(ctx, s.st, tenant, team, to)
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
