package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// inboundArgs is a gtc_inbound job: process the pending messages of a few contacts.
type inboundArgs struct {
	Contacts []store.ContactRef `json:"contacts"`
}

func (inboundArgs) Kind() string { return "gtc_inbound" }

// sendArgs is a gtc_send job: (re)send one recorded reply, usually at a scheduled time.
type sendArgs struct {
	OutboundID int64 `json:"outbound_id"`
}

func (sendArgs) Kind() string { return "gtc_send" }

// InsertOpts makes a reply's send job unique, so recovery never doubles a scheduled retry.
func (sendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// enqueueTx runs inside the store's Ingest transaction.
func (s *Service) enqueueTx(ctx context.Context, tx *sql.Tx, contacts []store.ContactRef) error {
	params := make([]river.InsertManyParams, 0, len(contacts)/contactsPerJob+1)
	for c := range chunk(contacts, contactsPerJob) {
		params = append(params, river.InsertManyParams{Args: inboundArgs{Contacts: c}})
	}
	_, err := s.river.InsertManyTx(ctx, tx, params)
	return err
}

type inboundWorker struct {
	river.WorkerDefaults[inboundArgs]
	s *Service
}

func (w *inboundWorker) Work(ctx context.Context, job *river.Job[inboundArgs]) error {
	owner := fmt.Sprintf("job-%d", job.ID)
	for _, ref := range job.Args.Contacts {
		if err := w.s.processContact(ctx, ref, owner); err != nil {
			return err
		}
	}
	return nil
}

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	s *Service
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	o, err := w.s.st.OutboundByID(ctx, job.Args.OutboundID)
	if err != nil {
		return err
	}
	if o.State != store.OutPending && o.State != store.OutRetrying {
		return nil
	}
	return w.s.send(ctx, o)
}

const leaseFor = 5 * time.Minute

// processContact runs the flows for the contact's pending messages in arrival order. When
// another job holds the contact it returns at once: the holder re-checks for pending events
// atomically with releasing (store.ReleaseContact), so nothing is left behind.
func (s *Service) processContact(ctx context.Context, ref store.ContactRef, owner string) error {
	ok, err := s.st.ClaimContact(ctx, ref, owner, s.now().Add(leaseFor))
	if err != nil || !ok {
		return err
	}
	for {
		evs, err := s.st.PendingEvents(ctx, ref, 32)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := s.handleEvent(ctx, ev); err != nil {
				return err
			}
		}
		if len(evs) > 0 {
			continue
		}
		more, err := s.st.ReleaseContact(ctx, ref, owner)
		if err != nil || !more {
			return err
		}
	}
}

// handleEvent runs the flow for one message exactly once and sends its replies.
func (s *Service) handleEvent(ctx context.Context, sev *store.StoredEvent) error {
	var ev whatsapp.Event
	if err := json.Unmarshal(sev.Raw, &ev); err != nil || ev.Message == nil {
		s.log.Error("stored event cannot be decoded, skipped", "tenant", sev.Tenant, "team", sev.Team, "seq", sev.Seq)
		_, _, err := s.st.CompleteEvent(ctx, sev, nil, nil)
		return err
	}
	m := ev.Message
	log := s.log.With("tenant", sev.Tenant, "team", sev.Team, "message_id", m.ID)
	p := s.provider(sev.Tenant, sev.Team)
	if p == nil {
		log.Warn("no provider for this tenant/team: message recorded, no flow run")
		_, _, err := s.st.CompleteEvent(ctx, sev, nil, nil)
		return err
	}
	contact, err := s.st.Contact(ctx, sev.Tenant, sev.Team, sev.ContactKey)
	if err != nil {
		return err
	}
	to := m.ContactKey()
	if m.From != "" {
		to = "+" + m.From
	}
	now := s.now()

	var opt *store.OptChange
	var replies []store.NewOutbound
	text := func(origin, body string) store.NewOutbound {
		msg := whatsapp.Message{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: "text",
			Text: &whatsapp.Text{Body: body}}
		raw, _ := json.Marshal(&msg)
		return store.NewOutbound{ContactKey: sev.ContactKey, Recipient: to, Origin: origin, MessageType: "text", Request: raw}
	}
	switch {
	case m.Type == "text" && matchKeyword(m.Text, p.OptOutKeywords, defaultOptOut):
		opt = &store.OptChange{OptedOut: true, At: now}
		replies = append(replies, text(store.OriginOptOut, s.cfg.OptOutConfirmation))
		log.Info("contact opted out")
	case m.Type == "text" && matchKeyword(m.Text, p.OptInKeywords, defaultOptIn):
		opt = &store.OptChange{OptedOut: false, At: now}
		replies = append(replies, text(store.OriginOptOut, s.cfg.OptInConfirmation))
		log.Info("contact opted in")
	default:
		rc := RunContext{Tenant: sev.Tenant, Team: sev.Team, To: to, ReplyTo: m.ID, Now: now.Unix(),
			LastMessageTime: contact.LastInboundAt.Unix()}
		if contact.LastInboundAt.IsZero() {
			rc.LastMessageTime = 0
		}
		out, err := s.cfg.Flows.Handle(ctx, m, rc)
		if err != nil {
			// A flow error is deterministic: running it again gives the same result.
			s.m.flowErrors.Inc()
			log.Error("flow failed, message recorded without replies", "err", err)
		}
		for _, r := range out {
			msg := r.Message
			if msg.To == "" {
				msg.To = to
			}
			if msg.MessagingProduct == "" {
				msg.MessagingProduct = "whatsapp"
			}
			raw, err := json.Marshal(&msg)
			if err != nil {
				log.Error("flow reply cannot be encoded, dropped", "flow", r.Flow, "node", r.Node, "err", err)
				continue
			}
			replies = append(replies, store.NewOutbound{ContactKey: sev.ContactKey, Recipient: msg.To, Origin: store.OriginFlow,
				Flow: r.Flow, Node: r.Node, MessageType: msg.Type, Request: raw, RetryOnRateLimit: r.RetryOnRateLimit})
		}
	}
	ids, done, err := s.st.CompleteEvent(ctx, sev, opt, replies)
	if err != nil || !done {
		return err
	}
	if p.MarkRead {
		if err := p.Sender.MarkRead(ctx, m.ID); err != nil {
			log.Warn("mark read failed", "class", s.cfg.Classify(err).Class)
		}
	}
	for _, id := range ids {
		o, err := s.st.OutboundByID(ctx, id)
		if err != nil {
			return err
		}
		if err := s.send(ctx, o); err != nil {
			return err
		}
	}
	s.m.processSeconds.Observe(time.Since(sev.ReceivedAt).Seconds())
	return nil
}

// send makes one attempt for a recorded reply and records the outcome: sent, refused
// (opted out, window closed), failed (not retryable) or retrying (a gtc_send job scheduled
// with backoff). It returns an error only when the database fails.
func (s *Service) send(ctx context.Context, o *store.Outbound) error {
	log := s.log.With("tenant", o.Tenant, "team", o.Team, "outbound_id", o.ID)
	refuse := func(class string) error {
		s.m.sends.WithLabelValues(class).Inc()
		log.Info("reply not sent", "class", class)
		return s.st.FinishOutbound(ctx, o.ID, store.OutboundResult{State: store.OutRefused, ErrorClass: class})
	}
	p := s.provider(o.Tenant, o.Team)
	if p == nil {
		return refuse("no_provider")
	}
	contact, err := s.st.Contact(ctx, o.Tenant, o.Team, o.ContactKey)
	if err != nil {
		return err
	}
	if contact.OptedOut && o.Origin != store.OriginOptOut {
		return refuse("opted_out")
	}
	var msg whatsapp.Message
	if err := json.Unmarshal(o.Request, &msg); err != nil {
		return s.st.FinishOutbound(ctx, o.ID, store.OutboundResult{State: store.OutFailed, ErrorClass: "bad_request",
			ErrorMessage: "stored request cannot be decoded"})
	}
	now := s.now()
	if !msg.IsTemplate() && !contact.WindowOpen(now) {
		return refuse("window_closed")
	}
	start := time.Now()
	wamid, err := p.Sender.Send(ctx, &msg)
	s.m.sendSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		s.m.sends.WithLabelValues("ok").Inc()
		return s.st.FinishOutbound(ctx, o.ID, store.OutboundResult{State: store.OutSent, WAMID: wamid, Attempted: true})
	}
	if ctx.Err() != nil {
		// Shutting down or the job timed out: leave the row open; it is resent by recovery
		// or by River's retry of this job.
		return ctx.Err()
	}
	info := s.cfg.Classify(err)
	s.m.sends.WithLabelValues(info.Class).Inc()
	attempt := o.Attempts + 1
	retry := info.Transient || (info.RateLimited && o.RetryOnRateLimit)
	if retry && attempt < s.cfg.MaxAttempts {
		next := now.Add(s.cfg.Backoff(attempt))
		log.Info("send will be retried", "class", info.Class, "code", info.Code, "attempt", attempt, "at", next)
		if err := s.st.FinishOutbound(ctx, o.ID, store.OutboundResult{State: store.OutRetrying, ErrorClass: info.Class,
			ErrorCode: info.Code, ErrorMessage: info.Message, NextAttemptAt: next, Attempted: true}); err != nil {
			return err
		}
		// If this insert is lost to a crash, recovery schedules the retrying row again.
		// River schedules on the wall clock; Config.Now may be a test clock.
		_, err := s.river.Insert(ctx, sendArgs{OutboundID: o.ID}, &river.InsertOpts{ScheduledAt: time.Now().Add(next.Sub(now))})
		return err
	}
	log.Warn("send failed", "class", info.Class, "code", info.Code, "attempt", attempt)
	if err := s.st.FinishOutbound(ctx, o.ID, store.OutboundResult{State: store.OutFailed, ErrorClass: info.Class,
		ErrorCode: info.Code, ErrorMessage: info.Message, Attempted: true}); err != nil {
		return err
	}
	if info.Unreachable {
		return s.st.SetUnreachable(ctx, store.ContactRef{Tenant: o.Tenant, Team: o.Team, Key: o.ContactKey}, info.Code, now)
	}
	return nil
}
