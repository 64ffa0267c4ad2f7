package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// recorder writes what gtc send sent into the bundle's state database (origin "send"), so
// gtc messages and gtc doctor show it and status webhooks received by gtc serve land on it
// (they match by wamid; statuses that came first are applied when the wamid is recorded).
// A message is recorded after its call, never before: a pending row is work that a gtc serve
// starting on a SQLite database takes over, so recording first could send it twice.
type recorder struct {
	st     *store.Store
	tenant string
	team   string
	sender string
	// booked is the messaging-limit place booked for msg (see limit), given back by
	// record when Graph refuses the send.
	booked struct {
		msg   *whatsapp.Message
		scope string
		key   string
		grant store.LimitGrant
	}
}

// openRecorder opens the state database ($GTC_DATABASE_URL, else serve.database) when it
// exists; nil when the bundle has none (gtc send never creates one).
func openRecorder(ctx context.Context, b *bundle.Bundle, p *bundle.Provider) (*recorder, error) {
	st, err := cmdutil.OpenState(ctx, b)
	if errors.Is(err, cmdutil.ErrNoState) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &recorder{st: st, tenant: p.Tenant, team: p.Team, sender: fmt.Sprintf("cli:%s:%d", host, os.Getpid())}, nil
}

// limit applies the messaging limit to m before it is sent (delivery.CheckLimit, the rule
// gtc serve applies): a template that would open a business-initiated conversation beyond
// the limit of the number's portfolio (or the number) is refused. Nothing without a
// database: the limit is counted there.
func (r *recorder) limit(ctx context.Context, p *bundle.Provider, contact *store.Contact, m *whatsapp.Message, now time.Time) error {
	if r == nil {
		return nil
	}
	scope, limit := p.MessagingLimitScope()
	why, g, err := delivery.CheckLimit(ctx, r.st, scope, limit, contact, m, now)
	if err != nil {
		return fmt.Errorf("check the messaging limit: %w", err)
	}
	if why != "" {
		who, setting := "phone number "+p.PhoneNumberID, "messaging_limit"
		if p.Portfolio.ID != "" {
			who, setting = "business portfolio "+p.Portfolio.ID, "portfolio.messaging_limit"
		}
		return &Refusal{Reason: why, Msg: fmt.Sprintf("%s not sent: the messaging limit of %s is reached (%d of %d business-initiated conversations in the last 24 hours) and this template would open a new one; wait for the 24 hours to roll (gtc doctor shows the headroom), or raise the limit with Meta and set %s to it",
			m.To, who, g.Used, g.Limit, setting)}
	}
	r.booked.msg, r.booked.scope, r.booked.key, r.booked.grant = m, scope, delivery.LimitKey(contact, m), g
	return nil
}

// peek is limit without keeping the place: the composer checks at the preview, which the
// user may still cancel, and counts the conversation when the message went (count).
func (r *recorder) peek(ctx context.Context, p *bundle.Provider, contact *store.Contact, m *whatsapp.Message, now time.Time) error {
	if err := r.limit(ctx, p, contact, m, now); err != nil || r == nil {
		return err
	}
	b := r.booked
	r.booked.msg = nil
	if !b.grant.New {
		return nil
	}
	return r.st.UndoConversation(ctx, b.scope, b.key, b.grant)
}

// count books the conversation a sent message opened, without a limit: the composer's
// message passed peek before it went.
func (r *recorder) count(ctx context.Context, p *bundle.Provider, m *whatsapp.Message, now time.Time) error {
	if r == nil {
		return nil
	}
	c, err := r.st.Contact(ctx, r.tenant, r.team, delivery.ContactKeyOf(m.To))
	if err != nil || !delivery.OpensConversation(c, m, now) {
		return err
	}
	scope, _ := p.MessagingLimitScope()
	_, err = r.st.OpenConversation(ctx, scope, delivery.LimitKey(c, m), 0, now)
	return err
}

// giveBack returns the place booked for m when Graph answered that it did not take it.
func (r *recorder) giveBack(ctx context.Context, m *whatsapp.Message, sendErr error) error {
	var ge *whatsapp.GraphError
	if r.booked.msg != m || !r.booked.grant.New || !errors.As(sendErr, &ge) || ge.Err != nil || ge.HTTPStatus < 400 || ge.HTTPStatus >= 500 {
		return nil
	}
	r.booked.msg = nil
	return r.st.UndoConversation(ctx, r.booked.scope, r.booked.key, r.booked.grant)
}

func (r *recorder) Close() {
	if r != nil {
		r.st.Close()
	}
}

// record records m and the outcome of its send: sent with its wamid, or failed with the
// error's class and code. Nothing without a database.
func (r *recorder) record(ctx context.Context, m *whatsapp.Message, res *whatsapp.SendResult, sendErr error) error {
	if r == nil {
		return nil
	}
	// The send happened (or failed) whatever the caller does now: record it even when
	// the command was cancelled meanwhile.
	ctx = context.WithoutCancel(ctx)
	if err := r.giveBack(ctx, m, sendErr); err != nil {
		return fmt.Errorf("give the messaging limit's place back: %w", err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	// The row is the identity's whichever name the message went to.
	c, err := delivery.ResolveContact(ctx, r.st, r.tenant, r.team, m.RecipientKey())
	if err != nil {
		return fmt.Errorf("record the message in the state database: %w", err)
	}
	// Its sender marks the row as this process's for the moment between the two writes.
	ids, err := r.st.RecordOutbound(ctx, r.tenant, r.team, []store.NewOutbound{{ContactKey: c.Key,
		Recipient: m.RecipientKey(), Origin: store.OriginSend, MessageType: m.Type, Request: raw, Sender: r.sender}})
	if err != nil {
		return fmt.Errorf("record the message in the state database: %w", err)
	}
	f := store.Finish{ID: ids[0], Result: store.OutboundResult{State: store.OutSent, Attempted: true}}
	switch {
	case sendErr != nil:
		f.Result.State = store.OutFailed
		f.Result.ErrorClass = string(whatsapp.ClassOf(sendErr))
		if whatsapp.Unclear(sendErr) {
			// It may have gone: not sent again (SendWithRetry), recorded as failed with
			// the reason, never resent by gtc serve.
			f.Result.ErrorClass = "unclear"
		}
		f.Result.ErrorCode = whatsapp.CodeOf(sendErr)
		f.Result.ErrorMessage = sendErr.Error()
	case res != nil:
		f.Result.WAMID = res.MessageID
		// Graph's answer names the wa_id the number resolved to: an alias of the contact.
		f.Aliases = delivery.AnswerAliases(res.Contacts, c.Key)
	}
	if err := r.st.FinishOutbounds(ctx, []store.Finish{f}, nil); err != nil {
		return fmt.Errorf("record the send in the state database: %w", err)
	}
	return nil
}
