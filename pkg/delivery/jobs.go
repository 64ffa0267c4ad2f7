package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
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

// sendArgs is a gtc_send job: (re)send one recorded reply, usually at a scheduled time. At
// is the reply's next_attempt_at (Unix ms, 0 for a first send) the job was made for: the
// job claims the reply only while that is still its next attempt, so a duplicate job (from
// recovery, or a takeover) finds nothing to do instead of sending twice. Jobs are not made
// unique by River: a retry of a retry has the same outbound id, and uniqueness would drop it.
type sendArgs struct {
	OutboundID int64 `json:"outbound_id"`
	At         int64 `json:"at,omitempty"`
}

func (sendArgs) Kind() string { return "gtc_send" }

// enqueueTx runs inside the store's Ingest transaction.
func (s *Service) enqueueTx(ctx context.Context, tx *sql.Tx, contacts []store.ContactRef) error {
	params := make([]river.InsertManyParams, 0, len(contacts)/contactsPerJob+1)
	for c := range slices.Chunk(contacts, contactsPerJob) {
		params = append(params, river.InsertManyParams{Args: inboundArgs{Contacts: c}})
	}
	_, err := s.ins.InsertManyTx(ctx, tx, params)
	return err
}

type inboundWorker struct {
	river.WorkerDefaults[inboundArgs]
	s *Service
}

func (w *inboundWorker) Work(ctx context.Context, job *river.Job[inboundArgs]) error {
	return w.s.processContacts(ctx, job.Args.Contacts, fmt.Sprintf("%s:job-%d", w.s.instance, job.ID))
}

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	s *Service
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	s := w.s
	var at time.Time
	if job.Args.At != 0 {
		at = time.UnixMilli(job.Args.At)
	}
	// The job's id makes the claim its own: a retry of this job after a cancelled send
	// claims again; another job for the same reply does not.
	ok, err := s.st.ClaimOutbound(ctx, job.Args.OutboundID, at, fmt.Sprintf("%s:send-%d", s.instance, job.ID))
	if err != nil || !ok {
		return err
	}
	o, err := s.st.OutboundByID(ctx, job.Args.OutboundID)
	if err != nil {
		return err
	}
	if o.State != store.OutPending && o.State != store.OutRetrying {
		return nil
	}
	c, err := s.st.Contact(ctx, o.Tenant, o.Team, o.ContactKey)
	if err != nil {
		return err
	}
	f, retryAt := s.attempt(ctx, o, c.OptedOut, c)
	if ctx.Err() != nil && f.Result.State == store.OutRetrying && f.Result.Attempted {
		return ctx.Err() // cancelled mid-send: River retries this job
	}
	return s.finish(context.WithoutCancel(ctx), []store.Finish{f}, []retry{{o.ID, retryAt}})
}

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

// finish records send outcomes and, in the same transaction, inserts the jobs of the
// scheduled retries: a retrying reply always has its job.
func (s *Service) finish(ctx context.Context, fs []store.Finish, rs []retry) error {
	var params []river.InsertManyParams
	for _, r := range rs {
		if !r.at.IsZero() {
			params = append(params, s.sendParams(r.id, r.at))
		}
	}
	var inTx func(context.Context, *sql.Tx) error
	if len(params) > 0 {
		inTx = func(ctx context.Context, tx *sql.Tx) error {
			_, err := s.ins.InsertManyTx(ctx, tx, params)
			return err
		}
	}
	return s.st.FinishOutbounds(ctx, fs, inTx)
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
	if pc, ok := p.Sender.(Pacer); ok {
		if d := pc.Delay(msg.To); d > s.cfg.MaxInlineWait {
			s.m.sends.WithLabelValues("paced").Inc()
			next := now.Add(d)
			return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutRetrying, ErrorClass: "paced",
				NextAttemptAt: next}}, next
		}
	}
	start := time.Now()
	wamid, err := p.Sender.Send(ctx, &msg)
	s.m.sendSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		s.m.sends.WithLabelValues("ok").Inc()
		return store.Finish{ID: o.ID, Result: store.OutboundResult{State: store.OutSent, WAMID: wamid, Attempted: true}}, time.Time{}
	}
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
