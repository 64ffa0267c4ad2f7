package delivery

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const (
	leaseFor        = 5 * time.Minute
	eventsPerRound  = 32
	sendsInParallel = 8
)

// processContacts runs the flows for the pending messages of refs, each contact's in
// arrival order, and sends the replies. Contacts another job holds are skipped: the holder
// re-checks for pending events atomically with releasing (store.ReleaseContacts), so
// nothing is left behind.
func (s *Service) processContacts(ctx context.Context, refs []store.ContactRef, owner string) error {
	claimed, err := s.st.ClaimContacts(ctx, refs, owner, s.now().Add(leaseFor))
	if err != nil {
		return err
	}
	for len(claimed) > 0 {
		if err := s.processRound(ctx, claimed, owner); err != nil {
			return err
		}
		if claimed, err = s.st.ReleaseContacts(ctx, claimed, owner); err != nil {
			return err
		}
	}
	return nil
}

// plannedReply is a reply of a completion, with the refusal decided in event order.
type plannedReply struct {
	out    *store.Outbound
	refuse string // opted_out, window_closed, no_provider, or "" to send
}

type contactWork struct {
	ref     store.ContactRef
	p       *Provider
	cs      []*store.Completion
	msgIDs  []string
	replies [][]plannedReply // per completion
}

type retry struct {
	id int64
	at time.Time
}

// processRound handles up to eventsPerRound pending messages of each contact with three
// commits in all: the flow results, the send outcomes, and (in ReleaseContacts) the leases.
func (s *Service) processRound(ctx context.Context, refs []store.ContactRef, owner string) error {
	contacts, err := s.st.ContactsFor(ctx, refs)
	if err != nil {
		return err
	}
	if err := s.sendHandovers(ctx, refs, contacts, owner); err != nil {
		return err
	}
	pending, err := s.st.PendingEventsFor(ctx, refs, eventsPerRound)
	if err != nil {
		return err
	}
	now := s.now()
	var works []*contactWork
	var all []*store.Completion
	for _, ref := range refs {
		evs := pending[ref]
		if len(evs) == 0 {
			continue
		}
		w := &contactWork{ref: ref, p: s.provider(ref.Tenant, ref.Team)}
		c := contacts[ref]
		optedOut := c.OptedOut
		for _, ev := range evs {
			comp, msgID, planned := s.plan(ctx, w.p, c, ev, &optedOut, now)
			w.cs = append(w.cs, comp)
			w.msgIDs = append(w.msgIDs, msgID)
			w.replies = append(w.replies, planned)
			all = append(all, comp)
		}
		works = append(works, w)
	}
	if len(all) == 0 {
		return nil
	}
	// The replies are this job's to send: if the instance dies before recording the
	// outcome, whoever reaps it resends them.
	for _, c := range all {
		for i := range c.Replies {
			c.Replies[i].Sender = owner
		}
	}
	if err := s.st.CompleteEvents(ctx, all); err != nil {
		return err
	}

	var mu sync.Mutex
	var finishes []store.Finish
	var retries []retry
	var wg sync.WaitGroup
	sem := make(chan struct{}, sendsInParallel)
	for _, w := range works {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fs, rs := s.sendContact(ctx, w, contacts[w.ref])
			mu.Lock()
			finishes, retries = append(finishes, fs...), append(retries, rs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Record what was sent even when the job is being cancelled: a lost record means a
	// duplicate send after restart.
	if err := s.finish(context.WithoutCancel(ctx), finishes, retries); err != nil {
		return err
	}
	for _, w := range works {
		for _, c := range w.cs {
			if c.Done {
				s.m.processSeconds.Observe(time.Since(c.Event.ReceivedAt).Seconds())
			}
		}
	}
	return nil
}

// sendHandovers sends, first, the replies a dead instance left to any of these contacts
// (store.TakeHandover), so they go before the replies to newer messages.
func (s *Service) sendHandovers(ctx context.Context, refs []store.ContactRef, contacts map[store.ContactRef]*store.Contact, owner string) error {
	var fs []store.Finish
	var rs []retry
	for _, ref := range refs {
		c := contacts[ref]
		if !c.Handover {
			continue
		}
		outs, err := s.st.TakeHandover(ctx, ref, owner)
		if err != nil {
			return err
		}
		for _, o := range outs {
			f, at := s.attempt(ctx, o, c.OptedOut, c)
			fs, rs = append(fs, f), append(rs, retry{o.ID, at})
		}
		c.Handover = false
	}
	if len(fs) == 0 {
		return nil
	}
	return s.finish(context.WithoutCancel(ctx), fs, rs)
}

// plan decides what one message leads to: an opt-out/opt-in with its confirmation, or the

// flow's replies, each already judged against opt-out (in event order) and the window.
func (s *Service) plan(ctx context.Context, p *Provider, c *store.Contact, sev *store.StoredEvent, optedOut *bool, now time.Time) (*store.Completion, string, []plannedReply) {
	comp := &store.Completion{Event: sev}
	var ev whatsapp.Event
	if err := json.Unmarshal(sev.Raw, &ev); err != nil || ev.Message == nil {
		s.log.Error("stored event cannot be decoded, skipped", "tenant", sev.Tenant, "team", sev.Team, "seq", sev.Seq)
		return comp, "", nil
	}
	m := ev.Message
	log := s.log.With("tenant", sev.Tenant, "team", sev.Team, "message_id", m.ID)
	if p == nil {
		log.Warn("no provider for this tenant/team: message recorded, no flow run")
		return comp, m.ID, nil
	}
	to := m.ContactKey()
	if m.From != "" {
		to = "+" + m.From
	}
	var planned []plannedReply
	add := func(origin, flow, node string, msg whatsapp.Message, retryRL bool) {
		if msg.To == "" {
			msg.To = to
		}
		if msg.MessagingProduct == "" {
			msg.MessagingProduct = "whatsapp"
		}
		raw, err := json.Marshal(&msg)
		if err != nil {
			log.Error("reply cannot be encoded, dropped", "flow", flow, "node", node, "err", err)
			return
		}
		nb := store.NewOutbound{ContactKey: sev.ContactKey, Recipient: msg.To, Origin: origin, Flow: flow, Node: node,
			MessageType: msg.Type, Request: raw, RetryOnRateLimit: retryRL}
		comp.Replies = append(comp.Replies, nb)
		o := &store.Outbound{Tenant: sev.Tenant, Team: sev.Team, ContactKey: sev.ContactKey, Recipient: msg.To,
			InboundSeq: sev.Seq, Origin: origin, Flow: flow, Node: node, MessageType: msg.Type, Request: raw,
			RetryOnRateLimit: retryRL, State: store.OutPending}
		planned = append(planned, plannedReply{out: o, refuse: Refusal(c, *optedOut, origin, &msg, now)})
	}
	text := func(body string) whatsapp.Message {
		return whatsapp.Message{RecipientType: "individual", Type: "text", Text: &whatsapp.Text{Body: body}}
	}
	switch {
	case m.Type == "text" && matchKeyword(m.Text, p.OptOutKeywords, defaultOptOut):
		comp.Opt = &store.OptChange{OptedOut: true, At: now}
		*optedOut = true
		add(store.OriginOptOut, "", "", text(s.cfg.OptOutConfirmation), false)
		log.Info("contact opted out")
	case m.Type == "text" && matchKeyword(m.Text, p.OptInKeywords, defaultOptIn):
		comp.Opt = &store.OptChange{OptedOut: false, At: now}
		*optedOut = false
		add(store.OriginOptOut, "", "", text(s.cfg.OptInConfirmation), false)
		log.Info("contact opted in")
	default:
		rc := RunContext{Tenant: sev.Tenant, Team: sev.Team, To: to, ReplyTo: m.ID, Now: now.Unix(),
			LastMessageTime: LastMessageTime(c)}
		out, err := s.cfg.Runner.Handle(ctx, m, rc)
		if err != nil {
			// A flow error is deterministic: running it again gives the same result.
			s.m.flowErrors.Inc()
			log.Error("flow failed, message recorded without replies", "err", err)
		}
		for _, r := range out {
			add(store.OriginFlow, r.Flow, r.Node, r.Message, r.RetryOnRateLimit)
		}
	}
	return comp, m.ID, planned
}

// sendContact marks the contact's messages read and sends its replies in order.
func (s *Service) sendContact(ctx context.Context, w *contactWork, c *store.Contact) ([]store.Finish, []retry) {
	var fs []store.Finish
	var rs []retry
	for i, comp := range w.cs {
		if !comp.Done {
			continue
		}
		if w.p != nil && w.p.MarkRead && w.msgIDs[i] != "" {
			if err := w.p.Sender.MarkRead(ctx, w.msgIDs[i]); err != nil {
				s.log.Warn("mark read failed", "tenant", w.ref.Tenant, "team", w.ref.Team, "message_id", w.msgIDs[i],
					"class", s.cfg.Classify(err).Class)
			}
		}
		for j, pr := range w.replies[i] {
			pr.out.ID = comp.IDs[j]
			if pr.refuse != "" {
				fs = append(fs, s.refuse(pr.out, pr.refuse))
				continue
			}
			f, at := s.attempt(ctx, pr.out, false, c)
			if ctx.Err() != nil && f.Result.State != store.OutSent {
				return fs, rs // cancelled: left pending, resent by recovery on the next start
			}
			fs = append(fs, f)
			rs = append(rs, retry{pr.out.ID, at})
		}
	}
	return fs, rs
}
