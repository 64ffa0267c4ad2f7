package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// What one attempt at a reply came to (outcome.kind).
const (
	sendDone    = iota // sent, failed or refused: the row is final
	sendRetry          // a request failed clearly (nothing went out): retried at next
	sendPaced          // no request: the pacer holds the recipient until next
	sendUnclear        // a request may have gone out: ambiguous, settled by its status webhook
	sendLost           // not taken: another sender has the row, or it is no longer open
)

// outcome is the result of one attempt: the record to make (fin) and, for a retry or a
// pacing wait, when the row is due again.
type outcome struct {
	kind int
	fin  store.Finish
	next time.Time
}

func (s *Service) refuse(o *store.Outbound, class, owner string) store.Finish {
	s.m.sends.WithLabelValues(class).Inc()
	s.log.Info("reply not sent", "tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID, "class", class)
	return store.Finish{ID: o.ID, Owner: owner, Result: store.OutboundResult{State: store.OutRefused, ErrorClass: class}}
}

// attempt makes one send of o for owner, unless it must be refused (optedOut as judged by
// the caller, in event order) or wait for the pacer.
// Before the request it marks the row sending with its attempt number, in one commit with
// carry (the owner's outcomes not yet recorded, emptied here), so that a crash from then on
// leaves the row ambiguous, never pending: a send is repeated only after its reconciliation
// window without a status. The request carries a whatsapp.Callback (id, attempt, the row's
// creation time), which Meta echoes
// in the status webhooks that settle an ambiguous row. The outcome is returned for the
// caller to record (with its next mark, or at the end); an error is the store's.
func (s *Service) attempt(ctx context.Context, o *store.Outbound, optedOut bool, c *store.Contact, owner string, carry *[]store.Finish) (outcome, error) {
	p := s.provider(o.Tenant, o.Team)
	if p == nil {
		return outcome{kind: sendDone, fin: s.refuse(o, ReasonNoProvider, owner)}, nil
	}
	var msg whatsapp.Message
	if err := json.Unmarshal(o.Request, &msg); err != nil {
		return outcome{kind: sendDone, fin: store.Finish{ID: o.ID, Owner: owner, Result: store.OutboundResult{State: store.OutFailed,
			ErrorClass: "bad_request", ErrorMessage: "stored request cannot be decoded"}}}, nil
	}
	now := s.now()
	if why := Refusal(c, optedOut, o.Origin, &msg, now); why != "" {
		return outcome{kind: sendDone, fin: s.refuse(o, why, owner)}, nil
	}
	if tr := s.checkTemplate(ctx, p, &msg); tr != nil {
		f := s.refuse(o, ReasonTemplateNotSendable, owner)
		f.Result.ErrorMessage = strings.ReplaceAll(tr.Error(), "\n  ", "; ")
		return outcome{kind: sendDone, fin: f}, nil
	}
	// The pacer first: a reply that waits books no place in the messaging limit until the
	// attempt that sends it (booked and then refused by Graph at a later attempt, the place
	// would not be given back).
	if pc, ok := p.Sender.(Pacer); ok {
		if d := pc.Delay(msg.To); d > s.cfg.MaxInlineWait {
			s.m.sends.WithLabelValues("paced").Inc()
			next := now.Add(d)
			return outcome{kind: sendPaced, next: next, fin: store.Finish{ID: o.ID, Owner: owner, Result: store.OutboundResult{
				State: store.OutRetrying, ErrorClass: "paced", NextAttemptAt: next}}}, nil
		}
	}
	why, grant, err := CheckLimit(ctx, s.st, p.LimitScope, p.MessagingLimit, c, &msg, now)
	if err != nil {
		// The ledger could not be read: try again later, as after a transient error.
		next := now.Add(s.cfg.Backoff(o.Attempts+1, 0))
		s.log.Warn("messaging limit not checked: send will be retried", "tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID, "err", err)
		return outcome{kind: sendRetry, next: next, fin: store.Finish{ID: o.ID, Owner: owner, Result: store.OutboundResult{
			State: store.OutRetrying, ErrorClass: "transient", ErrorMessage: "messaging limit not checked: " + err.Error(),
			NextAttemptAt: next}}}, nil
	}
	if why != "" {
		return outcome{kind: sendDone, fin: s.refuse(o, why, owner)}, nil
	}
	// Graph's answer that it did not take the message (a 4xx) gives the booked place back;
	// a timeout or a 5xx keeps it (the message may have gone).
	giveBack := func(err error) {
		var ge *whatsapp.GraphError
		if grant.New && errors.As(err, &ge) && ge.Err == nil && ge.HTTPStatus >= 400 && ge.HTTPStatus < 500 {
			if uerr := s.st.UndoConversation(context.WithoutCancel(ctx), p.LimitScope, LimitKey(c, &msg), grant); uerr != nil {
				s.log.Warn("messaging limit: place not given back", "err", uerr)
			}
		}
	}
	start := store.Start{ID: o.ID, Owner: owner}
	if o.State == store.OutAmbiguous {
		start.UnclearBefore = now.Add(-s.window(p) + time.Millisecond)
	}
	st, err := s.commitSends(ctx, *carry, &start)
	if err != nil {
		return outcome{}, err
	}
	*carry = (*carry)[:0]
	if st.Attempt == 0 {
		return outcome{kind: sendLost}, nil
	}
	attempt := st.Attempt
	msg.BizOpaqueCallbackData = whatsapp.Callback{OutboundID: o.ID, Attempt: attempt, Created: o.CreatedAt.UnixMilli()}.String()
	fin := store.Finish{ID: o.ID, Owner: owner, Attempt: attempt}
	sent := time.Now()
	var wamid string
	var contacts []whatsapp.SendContact
	if cs, ok := p.Sender.(ContactsSender); ok {
		wamid, contacts, err = cs.SendContacts(ctx, &msg)
	} else {
		wamid, err = p.Sender.Send(ctx, &msg)
	}
	s.m.sendSeconds.Observe(time.Since(sent).Seconds())
	now = s.now()
	log := s.log.With("tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID, "attempt", attempt)
	switch {
	case err == nil:
		s.m.sends.WithLabelValues("ok").Inc()
		fin.Result = store.OutboundResult{State: store.OutSent, WAMID: wamid}
		fin.Aliases = AnswerAliases(contacts, o.ContactKey)
		return outcome{kind: sendDone, fin: fin}, nil
	case whatsapp.Unclear(err):
		// The request may have been carried out: sending it again now could send it twice.
		// Its status webhook settles it; without one, it goes again after the window.
		s.m.sends.WithLabelValues("unclear").Inc()
		log.Warn("send outcome unclear: waiting for its status webhook", "window", s.window(p), "err", err)
		fin.Result = store.OutboundResult{State: store.OutAmbiguous, ErrorClass: "unclear", ErrorMessage: err.Error(), NextAttemptAt: now}
		return outcome{kind: sendUnclear, fin: fin, next: now.Add(s.window(p))}, nil
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// Given up before the request was written (shutdown, the job's timeout): nothing
		// went out, the row is due again at once.
		fin.Result = store.OutboundResult{State: store.OutRetrying, ErrorClass: "cancelled", NextAttemptAt: now}
		return outcome{kind: sendRetry, fin: fin, next: now}, nil
	}
	giveBack(err)
	info := s.cfg.Classify(err)
	s.m.sends.WithLabelValues(info.Class).Inc()
	log = log.With("class", info.Class, "code", info.Code)
	if (info.Transient || (info.RateLimited && o.RetryOnRateLimit)) && attempt < s.cfg.MaxAttempts {
		wait := s.cfg.Backoff(attempt, info.Code)
		if info.Code == whatsapp.CodePairRate {
			if b, ok := p.Sender.(BackOffer); ok {
				b.BackOff(msg.To, wait) // this recipient only
			}
		}
		next := now.Add(wait)
		log.Info("send will be retried", "at", next)
		fin.Result = store.OutboundResult{State: store.OutRetrying, ErrorClass: info.Class, ErrorCode: info.Code,
			ErrorMessage: info.Message, NextAttemptAt: next}
		return outcome{kind: sendRetry, fin: fin, next: next}, nil
	}
	log.Warn("send failed")
	fin.Result = store.OutboundResult{State: store.OutFailed, ErrorClass: info.Class, ErrorCode: info.Code, ErrorMessage: info.Message}
	fin.Unreachable = info.Unreachable
	return outcome{kind: sendDone, fin: fin}, nil
}

// window is p's reconciliation window: how long an ambiguous send waits for its status.
func (s *Service) window(p *Provider) time.Duration {
	if p != nil && p.ReconcileWindow > 0 {
		return p.ReconcileWindow
	}
	return s.cfg.ReconcileWindow
}

// AnswerAliases are the aliases a send's answer names: the wa_id and business-scoped user id
// Graph resolved the recipient to, then the recipient as it was sent (a number as typed);
// nil when they name nothing but the contact's key (the usual send, nothing to learn).
func AnswerAliases(contacts []whatsapp.SendContact, key string) []store.Alias {
	var out []store.Alias
	for _, c := range contacts {
		if c.WaID != "" {
			out = append(out, store.Alias{Value: c.WaID, Kind: store.AliasWaID})
		}
		if c.UserID != "" {
			out = append(out, store.Alias{Value: c.UserID, Kind: store.AliasBSUID})
		}
	}
	if len(out) == 0 {
		return nil
	}
	for _, c := range contacts {
		if k := ContactKeyOf(c.Input); k != "" {
			out = append(out, store.Alias{Value: k, Kind: store.AliasKindOf(k)})
			if out[len(out)-1].Kind == store.AliasWaID {
				out[len(out)-1].Kind = store.AliasPhone
			}
		}
	}
	for _, a := range out {
		if a.Value != key {
			return out
		}
	}
	return nil
}
