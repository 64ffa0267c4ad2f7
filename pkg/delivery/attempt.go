package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func (s *Service) refuse(o *store.Outbound, class string) store.Finish {
	s.m.sends.WithLabelValues(class).Inc()
	s.log.Info("reply not sent", "tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID, "class", class)
	return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutRefused, ErrorClass: class}}
}

// attempt makes one send of o (unless it must be refused) and returns the outcome to
// record and, for a retry, when.
func (s *Service) attempt(ctx context.Context, o *store.Outbound, optedOut bool, c *store.Contact) (store.Finish, time.Time) {
	p := s.provider(o.Tenant, o.Team)
	if p == nil {
		return s.refuse(o, ReasonNoProvider), time.Time{}
	}
	var msg whatsapp.Message
	if err := json.Unmarshal(o.Request, &msg); err != nil {
		return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutFailed, ErrorClass: "bad_request",
			ErrorMessage: "stored request cannot be decoded"}}, time.Time{}
	}
	now := s.now()
	if why := Refusal(c, optedOut, o.Origin, &msg, now); why != "" {
		return s.refuse(o, why), time.Time{}
	}
	why, grant, err := CheckLimit(ctx, s.st, p.LimitScope, p.MessagingLimit, c, &msg, now)
	if err != nil {
		// The ledger could not be read: try again later, as after a transient error.
		next := now.Add(s.cfg.Backoff(o.Attempts + 1))
		s.log.Warn("messaging limit not checked: send will be retried", "tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID, "err", err)
		return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutRetrying, ErrorClass: "transient",
			ErrorMessage: "messaging limit not checked: " + err.Error(), NextAttemptAt: next}}, next
	}
	if why != "" {
		return s.refuse(o, why), time.Time{}
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
	if pc, ok := p.Sender.(Pacer); ok {
		if d := pc.Delay(msg.To); d > s.cfg.MaxInlineWait {
			s.m.sends.WithLabelValues("paced").Inc()
			next := now.Add(d)
			return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutRetrying, ErrorClass: "paced",
				NextAttemptAt: next}}, next
		}
	}
	start := time.Now()
	var wamid string
	var contacts []whatsapp.SendContact
	if cs, ok := p.Sender.(ContactsSender); ok {
		wamid, contacts, err = cs.SendContacts(ctx, &msg)
	} else {
		wamid, err = p.Sender.Send(ctx, &msg)
	}
	s.m.sendSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		s.m.sends.WithLabelValues("ok").Inc()
		return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutSent, WAMID: wamid, Attempted: true},
			Aliases: AnswerAliases(contacts, o.ContactKey)}, time.Time{}
	}
	giveBack(err)
	info := s.cfg.Classify(err)
	s.m.sends.WithLabelValues(info.Class).Inc()
	log := s.log.With("tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID, "class", info.Class, "code", info.Code)
	attempt := o.Attempts + 1
	if (info.Transient || (info.RateLimited && o.RetryOnRateLimit)) && attempt < s.cfg.MaxAttempts {
		wait := s.cfg.Backoff(attempt)
		if info.Code == 131056 { // pair rate: 4^n s for this recipient only
			wait = max(wait, whatsapp.PairRateBackoff(attempt))
			if b, ok := p.Sender.(BackOffer); ok {
				b.BackOff(msg.To, wait)
			}
		}
		next := now.Add(wait)
		log.Info("send will be retried", "attempt", attempt, "at", next)
		return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutRetrying, ErrorClass: info.Class,
			ErrorCode: info.Code, ErrorMessage: info.Message, NextAttemptAt: next, Attempted: true}}, next
	}
	log.Warn("send failed", "attempt", attempt)
	return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutFailed, ErrorClass: info.Class,
		ErrorCode: info.Code, ErrorMessage: info.Message, Attempted: true},
		Unreachable: info.Unreachable}, time.Time{}
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
