package delivery

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/events"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Event webhooks (issue 15). Each event is recorded in the event outbox in the transaction
// of the change it reports (store.Completion.Events, store.AddOutbox), only for a provider
// with EventsURL. The loop below delivers the outbox: the due head of each contact, claimed
// with a lease (events.Lease) so instances sharing a database deliver each event once per
// claim, retried on events' schedule for a day. At least once: an instance that dies
// mid-delivery leaves the row due again when the lease ends.

// eventsPerPoll bounds the events one poll of the outbox delivers.
const eventsPerPoll = 100

// eventsInParallel is how many contacts' events are delivered at once.
const eventsInParallel = 4

// eventsOn reports whether p makes event webhooks.
func eventsOn(p *Provider) bool { return p != nil && p.EventsURL != "" }

// outboxEvent turns ev into an outbox row: its id is the row's.
func outboxEvent(ev *events.Event) store.OutboxEvent {
	return store.OutboxEvent{Type: string(ev.Type), Body: func(id, _ int64) ([]byte, error) {
		ev.ID = events.SeqID(id)
		return ev.Marshal()
	}}
}

// statusEvents are the events of a status webhook: message.status, and send.failed for a
// failed one (the message id is filled in from the outbound row in the transaction).
func statusEvents(tenant, team string, st *whatsapp.Status, info ErrorInfo, now time.Time) []store.OutboxEvent {
	if st.RecipientID == "" && st.RecipientUserID == "" {
		return nil // no contact to name
	}
	c := events.StatusContact(st)
	h := events.Head{Time: now.UTC(), Tenant: tenant, Team: team, Contact: c}
	mk := func(typ events.Type, build func(msgID string) *events.Event) store.OutboxEvent {
		return store.OutboxEvent{Type: string(typ), WAMID: st.ID, ContactKey: c.Key(), Body: func(id, outbound int64) ([]byte, error) {
			msgID := ""
			if outbound > 0 {
				msgID = strconv.FormatInt(outbound, 10)
			}
			ev := build(msgID)
			if ev == nil {
				return nil, nil
			}
			ev.ID = events.SeqID(id)
			return ev.Marshal()
		}}
	}
	out := []store.OutboxEvent{mk(events.TypeMessageStatus, func(msgID string) *events.Event {
		return events.NewMessageStatus(h, events.FromStatus(st, msgID))
	})}
	if st.Status == "failed" {
		out = append(out, mk(events.TypeSendFailed, func(msgID string) *events.Event {
			if msgID == "" {
				return nil // not a message gtc sent
			}
			d := events.SendFailed{MessageID: msgID, WAMID: st.ID, ErrorClass: info.Class}
			if d.ErrorClass == "" {
				d.ErrorClass = "unknown"
			}
			if len(st.Errors) > 0 {
				d.ErrorCode, d.ErrorMessage = st.Errors[0].Code, st.Errors[0].Message
			}
			return events.NewSendFailed(h, d)
		}))
	}
	return out
}

func head(ref store.ContactRef, now time.Time) events.Head {
	return events.Head{Time: now.UTC(), Tenant: ref.Tenant, Team: ref.Team, Contact: events.ContactFromKey(ref.Key)}
}

// flowEvents are the events of one processed event: the message received, a handoff
// started or ended, a conversation ended. prev is the conversation waiting before it (nil
// when none; State flow.StateHuman while a person has the contact).
func flowEvents(ref store.ContactRef, m *whatsapp.InboundMessage, prev *flow.Conversation, comp *store.Completion, rel *releaseEvent, timeout bool, now time.Time) []store.OutboxEvent {
	var out []store.OutboxEvent
	h := head(ref, now)
	wasHuman, prevID := prev != nil && prev.State == flow.StateHuman, ""
	if prev != nil {
		prevID = prev.ID
	}
	if m != nil {
		state := events.StateBot
		if wasHuman {
			state = events.StateHandoff
		}
		mh := h
		mh.Contact = events.InboundContact(m)
		out = append(out, outboxEvent(events.NewMessageReceived(mh, events.FromInbound(m, state))))
	}
	u := comp.Conversation
	nowHuman := u != nil && u.Status == store.StatusHandoff
	if u == nil {
		nowHuman = wasHuman
	}
	switch {
	case !wasHuman && nowHuman:
		d := events.HandoffRequested{By: events.ByFlow, Queue: u.Queue, Note: u.Note, Flow: u.Flow, Node: u.Node}
		if !u.Deadline.IsZero() {
			d.TimeoutAt = events.At(u.Deadline)
		}
		out = append(out, outboxEvent(events.NewHandoffRequested(h, d)))
	case wasHuman && !nowHuman:
		d := events.HandoffReleased{By: events.ByOptOut, Queue: prev.Queue}
		switch {
		case rel != nil:
			d.By = byEvent(rel.By)
		case timeout:
			d.By = events.ByTimeout
		}
		switch {
		case rel != nil && rel.Node != "":
			d.Flow, d.Node = rel.Flow, rel.Node
		case u != nil && u.State != nil:
			d.Flow, d.Node = u.Flow, u.Node
		case u != nil && u.Ended != nil && u.Ended.Reason != string(flow.EndReleased) && u.Ended.Reason != EndOptedOut:
			d.Flow, d.Node = u.Ended.Flow, u.Ended.Node // resumed there and ended in the same step
		}
		out = append(out, outboxEvent(events.NewHandoffReleased(h, d)))
	}
	if u != nil && u.Ended != nil && u.Ended.Reason != EndHandedOff {
		out = append(out, outboxEvent(events.NewConversationEnded(h, events.ConversationEnded{
			ConversationID: conversationID(prevID, u), Flow: u.Ended.Flow, Node: u.Ended.Node, Reason: u.Ended.Reason})))
	}
	return out
}

// conversationID names the conversation that ended: the one before the step (prevID), or
// the one the step started and ended.
func conversationID(prevID string, u *store.ConversationUpdate) string {
	if prevID != "" {
		return prevID
	}
	if c, _ := decodeConversation(u.State); c != nil && c.ID != "" {
		return c.ID
	}
	return "-"
}

// byEvent maps a handoff's "by" (agent, api, inbox, flow…) to the event's.
func byEvent(by string) string {
	switch by {
	case events.ByAPI, events.ByInbox, events.ByFlow, events.ByTimeout, events.ByOptOut:
		return by
	}
	return events.ByInbox
}

// wakeEvents asks the delivery loop to look at the outbox now.
func (s *Service) wakeEvents() {
	select {
	case s.evWake <- struct{}{}:
	default:
	}
}

// eventLoop delivers the outbox until stop is closed.
func (s *Service) eventLoop(ctx context.Context) {
	defer close(s.evDone)
	poll := s.cfg.EventPoll
	t := time.NewTicker(poll)
	defer t.Stop()
	var pruned time.Time
	for {
		n, err := s.deliverEvents(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("event webhooks: read the outbox", "err", err)
		}
		if now := s.now(); now.Sub(pruned) >= time.Hour {
			// Delivered and given-up events hold message text: kept a day, for gtc doctor.
			pruned = now
			if _, err := s.st.PruneOutbox(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				s.log.Warn("event webhooks: prune the outbox", "err", err)
			}
		}
		if n > 0 && err == nil {
			// A delivered head lets its contact's next event through: look again now.
			select {
			case <-s.evStop:
				return
			default:
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.evStop:
			return
		case <-t.C:
		case <-s.evWake:
		}
	}
}

// deliverEvents delivers the due events once and says how many it claimed.
func (s *Service) deliverEvents(ctx context.Context) (int, error) {
	due, err := s.st.DueOutbox(ctx, s.now(), eventsPerPoll)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	claimed := 0
	sem := make(chan struct{}, eventsInParallel)
	var wg sync.WaitGroup
claims:
	for _, row := range due {
		select {
		case <-s.evStop:
			break claims // stopping: claim no more
		default:
		}
		var ok bool
		ok, err = s.st.ClaimOutbox(ctx, row.ID, s.now(), events.Lease)
		if err != nil {
			break
		}
		if !ok {
			continue
		}
		claimed++
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.deliverEvent(ctx, row)
		}()
	}
	wg.Wait()
	return claimed, err
}

func (s *Service) deliverEvent(ctx context.Context, row *store.OutboxRow) {
	id, typ := events.SeqID(row.ID), events.Type(row.Type)
	log := s.log.With("tenant", row.Tenant, "team", row.Team, "event", id, "type", typ)
	p := s.provider(row.Tenant, row.Team)
	record := func(a store.OutboxAttempt) {
		if err := s.st.FinishOutbox(context.WithoutCancel(ctx), row.ID, a); err != nil {
			log.Error("event webhook: record the attempt", "err", err)
		}
	}
	if !eventsOn(p) {
		log.Warn("event webhook given up: events_url removed")
		s.evMetrics.GaveUp(typ)
		record(store.OutboxAttempt{GaveUp: true, Error: "events_url removed"})
		return
	}
	target := events.Target{URL: p.EventsURL}
	var res events.Result
	if p.EventsSecret != nil {
		sec, err := p.EventsSecret()
		if err != nil {
			res = events.Result{Outcome: events.Failed, Err: err}
		}
		target.Secret = sec
	}
	if res.Outcome == "" {
		res = s.evDeliverer.Deliver(ctx, target, id, typ, row.Body)
	}
	if res.Outcome == events.Delivered {
		log.Debug("event webhook delivered", "result", res)
		record(store.OutboxAttempt{Delivered: true, Status: res.Status})
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the lease ends and the next start (or another instance) retries
	}
	now := s.now()
	msg := "failed"
	if res.Err != nil {
		msg = res.Err.Error()
	}
	next, ok := s.cfg.EventSchedule.Next(row.Attempts+1, row.CreatedAt, now)
	if ok && res.RetryAfter > 0 {
		if ra := now.Add(res.RetryAfter); ra.After(next) {
			next = ra
		}
		if last := row.CreatedAt.Add(s.cfg.EventSchedule.GiveUpAfter); next.After(last) {
			next = last
		}
	}
	if !ok {
		log.Warn("event webhook given up", "result", res, "attempts", row.Attempts+1)
		s.evMetrics.GaveUp(typ)
		record(store.OutboxAttempt{GaveUp: true, Status: res.Status, Error: msg})
		return
	}
	log.Warn("event webhook failed, retried later", "result", res, "attempts", row.Attempts+1, "next", next)
	record(store.OutboxAttempt{NextAt: next, Status: res.Status, Error: msg})
}

// startEvents starts the delivery loop.
func (s *Service) startEvents() {
	ctx, cancel := context.WithCancel(context.Background())
	s.evCancel, s.evStop, s.evDone = cancel, make(chan struct{}), make(chan struct{})
	go s.eventLoop(ctx)
}

// eventsGrace is how long Stop lets the event deliveries under way finish.
const eventsGrace = 2 * time.Second

// stopEvents stops the delivery loop: the deliveries under way get eventsGrace (bounded by
// ctx) to finish, then are cancelled; their rows stay leased and go out again later (at
// once on the next start on SQLite, after events.Lease on PostgreSQL).
func (s *Service) stopEvents(ctx context.Context) error {
	if s.evCancel == nil {
		return nil
	}
	close(s.evStop)
	defer s.evCancel()
	grace := time.NewTimer(eventsGrace)
	defer grace.Stop()
	select {
	case <-s.evDone:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	s.evCancel()
	select {
	case <-s.evDone:
		return nil
	case <-time.After(time.Second):
		return errors.New("event webhooks: the delivery loop did not stop")
	}
}

// EventBacklog is the event outbox's backlog for metrics and gtc doctor.
func (s *Service) EventBacklog(ctx context.Context) (events.Backlog, error) {
	b, err := s.st.EventBacklog(ctx)
	return events.Backlog{Pending: b.Pending, Failing: b.Failing, Oldest: b.Oldest}, err
}

func firstCode(st *whatsapp.Status) int {
	if len(st.Errors) > 0 {
		return st.Errors[0].Code
	}
	return 0
}

type contactEvent struct {
	ref store.ContactRef
	ev  store.OutboxEvent
}

// sendFailedEvents are the send.failed events of the finishes that fail a message for good
// (refused before sending, or failed), for providers with events_url.
func (s *Service) sendFailedEvents(ctx context.Context, fs []store.Finish) []contactEvent {
	var out []contactEvent
	for _, f := range fs {
		r := f.Result
		if r.State != store.OutFailed && r.State != store.OutRefused {
			continue
		}
		o, err := s.st.OutboundByID(ctx, f.ID)
		if err != nil || o == nil || !eventsOn(s.provider(o.Tenant, o.Team)) {
			continue
		}
		ref := store.ContactRef{Tenant: o.Tenant, Team: o.Team, Key: o.ContactKey}
		attempts := o.Attempts
		if r.Attempted {
			attempts++
		}
		class := r.ErrorClass
		if class == "" {
			class = "unknown"
		}
		d := events.SendFailed{MessageID: strconv.FormatInt(o.ID, 10), WAMID: r.WAMID, Kind: o.MessageType,
			ErrorClass: class, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage, Attempts: attempts}
		out = append(out, contactEvent{ref, outboxEvent(events.NewSendFailed(head(ref, s.now()), d))})
	}
	return out
}
