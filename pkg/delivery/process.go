package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/flow"
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
		s.ackFirst(ctx)
		if claimed, err = s.processRound(ctx, claimed, owner); err != nil {
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
	conv    *convState // nil without a flow set (a test's FlowRunner)
	cs      []*store.Completion
	msgIDs  []string
	replies [][]plannedReply // per completion
}

// processRound handles up to eventsPerRound pending messages of each contact: one commit
// for the flow results, one per send (its mark, with the outcome of the contact's previous
// send; concurrent sends share commits), and one for the last outcomes with the release of
// the leases (store.FinishAndRelease). It returns the contacts that still have pending events: they
// stay claimed for another round.
func (s *Service) processRound(ctx context.Context, refs []store.ContactRef, owner string) ([]store.ContactRef, error) {
	contacts, err := s.st.ContactsFor(ctx, refs)
	if err != nil {
		return nil, err
	}
	if err := s.sendTakenOver(ctx, refs, contacts, owner); err != nil {
		return nil, err
	}
	pending, err := s.st.PendingEventsFor(ctx, refs, eventsPerRound)
	if err != nil {
		return nil, err
	}
	var with []store.ContactRef
	for _, ref := range refs {
		if len(pending[ref]) > 0 {
			with = append(with, ref)
		}
	}
	var convs map[store.ContactRef]*store.Conversation
	if _, ok := s.cfg.Runner.(setRunner); ok {
		if convs, err = s.st.ConversationsFor(ctx, with); err != nil {
			return nil, err
		}
	}
	threads, err := s.st.ThreadsFor(ctx, with)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var works []*contactWork
	var all []*store.Completion
	timeouts := map[*store.Completion][]timeoutArgs{}
	callJobs := map[*store.Completion][]callArgs{}
	for _, ref := range refs {
		evs := pending[ref]
		if len(evs) == 0 {
			continue
		}
		w := &contactWork{ref: ref, p: s.provider(ref.Tenant, ref.Team)}
		if convs != nil {
			w.conv = newConvState(ref, convs[ref], s.log.With("tenant", ref.Tenant, "team", ref.Team))
			if w.conv.calling() {
				// The result the conversation waits for goes before the messages that waited
				// for it (they arrived after the call was made), also when more messages
				// than a round reads are queued before it.
				if !slices.ContainsFunc(evs, func(e *store.StoredEvent) bool { return e.Kind == store.KindResult }) {
					res, err := s.st.PendingEventsOfKind(ctx, ref, store.KindResult, 4)
					if err != nil {
						return nil, err
					}
					evs = append(res, evs...)
				}
				evs = resultsFirst(evs)
			}
		}
		c := contacts[ref]
		opt := optState{out: c.OptedOut, at: c.OptedOutAt}
		held := false
		for _, ev := range evs {
			if held && ev.Kind == store.KindMessage {
				continue // behind a message that waits for a call's result: keeps its order
			}
			pl := s.plan(ctx, w.p, c, w.conv, threads[ref], ev, &opt, now)
			if pl.held {
				held = true
				continue
			}
			comp := pl.comp
			w.cs = append(w.cs, comp)
			w.msgIDs = append(w.msgIDs, pl.msgID)
			w.replies = append(w.replies, pl.planned)
			all = append(all, comp)
			if len(pl.timeouts) > 0 {
				timeouts[comp] = pl.timeouts
			}
			if len(pl.calls) > 0 {
				callJobs[comp] = pl.calls
			}
		}
		if len(w.cs) > 0 {
			works = append(works, w)
		}
	}
	if len(all) == 0 {
		return s.st.ReleaseContacts(ctx, refs, owner)
	}
	// The replies are this job's to send: if the instance dies before recording the
	// outcome, whoever reaps it resends them.
	for _, c := range all {
		for i := range c.Replies {
			c.Replies[i].Sender = owner
		}
	}
	// A waiting conversation's timeout job commits with it, and only when its event was
	// processed here.
	// A calling conversation's call job likewise (a call is made only when its step is
	// recorded).
	var inTx func(context.Context, *sql.Tx) error
	if len(timeouts) > 0 || len(callJobs) > 0 {
		inTx = func(ctx context.Context, tx *sql.Tx) error {
			var ts []timeoutArgs
			var cjs []callArgs
			for _, c := range all {
				if c.Done {
					ts = append(ts, timeouts[c]...)
					cjs = append(cjs, callJobs[c]...)
				}
			}
			// A contact's later step supersedes its earlier ones: only the last waiting
			// state needs its job (and River refuses the same unique job twice in a batch).
			ts = lastPerContact(ts)
			if f := s.insertJobs(ts, cjs); f != nil {
				return f(ctx, tx)
			}
			return nil
		}
	}
	if err := s.st.CompleteEventsTx(ctx, all, inTx); err != nil {
		return nil, err
	}
	for _, c := range all {
		if c.Done && len(c.Events) > 0 {
			s.wakeEvents()
			break
		}
	}

	var mu sync.Mutex
	var errs []error
	var finishes []store.Finish
	var wg sync.WaitGroup
	sem := make(chan struct{}, sendsInParallel)
	for _, w := range works {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			last, err := s.sendContact(ctx, w, contacts[w.ref], owner)
			mu.Lock()
			finishes = append(finishes, last...)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, s.record(context.WithoutCancel(ctx), finishes))
	}
	// The last outcomes are recorded even when the job is being cancelled: a lost record
	// leaves the reply ambiguous (it was marked sending).
	more, err := s.finishRelease(context.WithoutCancel(ctx), finishes, refs, owner)
	if err != nil {
		return nil, err
	}
	for _, w := range works {
		for i, c := range w.cs {
			if c.Done {
				s.m.processSeconds.Observe(time.Since(c.Event.ReceivedAt).Seconds())
				s.logInput(w, c, len(w.replies[i]))
			}
		}
	}
	return more, nil
}

// sendTakenOver sends, first, the replies a dead instance left to any of these contacts
// (store.TakeOverReplies), so they go before the replies to newer messages.
func (s *Service) sendTakenOver(ctx context.Context, refs []store.ContactRef, contacts map[store.ContactRef]*store.Contact, owner string) error {
	var carry []store.Finish
	for _, ref := range refs {
		c := contacts[ref]
		if !c.Takeover {
			continue
		}
		outs, err := s.st.TakeOverReplies(ctx, ref, owner)
		if err != nil {
			return err
		}
		for _, o := range outs {
			oc, err := s.attempt(ctx, o, c.OptedOut, c, owner, &carry)
			if err != nil {
				return errors.Join(err, s.record(ctx, carry))
			}
			if oc.kind != sendLost {
				s.logReply(o, oc.fin, time.Time{})
				carry = append(carry, oc.fin)
			}
		}
		c.Takeover = false
	}
	return s.record(ctx, carry)
}

// plan decides what one event leads to: an opt-out/opt-in with its confirmation, or the
// flow's step (a message answering the waiting question or starting a flow, a timeout),
// each reply already judged against opt-out (in event order) and the window. cs (nil
// without a flow set) is the contact's conversation, moved on by the step; the returned
// timeouts are the jobs its waiting conversation needs.
func (s *Service) plan(ctx context.Context, p *Provider, c *store.Contact, cs *convState, th *store.Thread, sev *store.StoredEvent, opt *optState, now time.Time) planned {
	comp := &store.Completion{Event: sev}
	log := s.log.With("tenant", sev.Tenant, "team", sev.Team)
	var prev *flow.Conversation
	if cs != nil && cs.cur != nil {
		c := *cs.cur
		prev = &c // the step changes cs.cur
	}
	var m *whatsapp.InboundMessage
	var te timeoutEvent
	var re *resultEvent
	var rel *releaseEvent
	switch sev.Kind {
	case store.KindTimeout:
		if err := json.Unmarshal(sev.Raw, &te); err != nil || cs == nil {
			log.Error("stored timeout cannot be decoded, skipped", "seq", sev.Seq)
			return planned{comp: comp}
		}
	case store.KindRelease:
		rel = &releaseEvent{}
		if err := json.Unmarshal(sev.Raw, rel); err != nil || cs == nil {
			log.Error("stored release cannot be decoded, skipped", "seq", sev.Seq)
			return planned{comp: comp}
		}
	case store.KindResult:
		re = &resultEvent{}
		if err := json.Unmarshal(sev.Raw, re); err != nil || cs == nil {
			log.Error("stored call result cannot be decoded, skipped", "seq", sev.Seq)
			return planned{comp: comp}
		}
	default:
		var ev whatsapp.Event
		if err := json.Unmarshal(sev.Raw, &ev); err != nil || ev.Message == nil {
			log.Error("stored event cannot be decoded, skipped", "seq", sev.Seq)
			return planned{comp: comp}
		}
		m = ev.Message
		log = log.With("message_id", m.ID)
	}
	if p == nil {
		log.Warn("no provider for this tenant/team: event recorded, no flow run")
		return planned{comp: comp, msgID: messageID(m)}
	}
	// A reply goes to the message's sender as it wrote; a timeout's, a call result's or a
	// release's to the contact's latest number, else its current BSUID (the identity's key
	// may be a number as typed or a BSUID the user changed from).
	var to string
	switch {
	case m != nil && m.From != "":
		to = "+" + m.From
	case m != nil:
		to = m.FromUser
	case c.WaID != "":
		to = "+" + c.WaID
	case c.UserID != "":
		to = c.UserID
	case isDigits(sev.ContactKey):
		to = "+" + sev.ContactKey
	default:
		to = sev.ContactKey
	}
	var plan []plannedReply
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
		plan = append(plan, plannedReply{out: o, refuse: Refusal(c, opt.out, origin, &msg, now)})
	}
	text := func(body string) whatsapp.Message {
		return whatsapp.Message{RecipientType: "individual", Type: "text", Text: &whatsapp.Text{Body: body}}
	}
	var timeouts []timeoutArgs
	var callJobs []callArgs
	optOut := m != nil && m.Type == "text" && matchKeyword(m.Text, p.OptOutKeywords, defaultOptOut)
	optIn := !optOut && m != nil && m.Type == "text" && matchKeyword(m.Text, p.OptInKeywords, defaultOptIn)
	if m != nil && !AnswersThread(th, now) {
		// Another responder has the thread (Conversation Routing): the message is recorded,
		// no flow runs and nothing is sent. An opt change still counts, silently.
		switch {
		case (optOut || optIn) && !store.Newer(sentAt(m, now), opt.at):
		case optOut || optIn:
			comp.Opt = &store.OptChange{OptedOut: optOut, At: sentAt(m, now)}
			opt.out, opt.at = optOut, comp.Opt.At
		}
		s.m.notOurThread.Inc()
		log.Info("another responder has the thread: message recorded, not answered", "message_id", m.ID, "why", th.Why, "since", th.At)
		return planned{comp: comp}
	}
	switch {
	case (optOut || optIn) && !store.Newer(sentAt(m, now), opt.at):
		// Sent before the opt change already recorded (Meta delivered it late): it changes
		// nothing and is not confirmed.
		log.Info("opt change older than the recorded one ignored", "sent_at", sentAt(m, now), "recorded_at", opt.at, "opted_out", opt.out)
	case optOut:
		comp.Opt = &store.OptChange{OptedOut: true, At: sentAt(m, now)}
		opt.out, opt.at = true, comp.Opt.At
		add(store.OriginOptOut, "", "", text(s.cfg.OptOutConfirmation), false)
		log.Info("contact opted out")
		if cs != nil {
			// STOP in the middle of a question ends it: nothing more is asked.
			comp.Conversation = cs.end(EndOptedOut, now, log)
		}
	case optIn:
		comp.Opt = &store.OptChange{OptedOut: false, At: sentAt(m, now)}
		opt.out, opt.at = false, comp.Opt.At
		add(store.OriginOptOut, "", "", text(s.cfg.OptInConfirmation), false)
		log.Info("contact opted in")
	case cs != nil:
		rc := RunContext{Tenant: sev.Tenant, Team: sev.Team, To: to, Now: now.Unix(), LastMessageTime: LastMessageTime(c, sev),
			ConversationTimeout: p.ConversationTimeout, Vars: flowVars(p, nil), Secret: placeholderSecrets(p.Secret)}
		var relEnd *store.ConversationEnd
		in := flow.TimeoutInput(te.Deadline)
		cs.typingFor = ""
		switch {
		case m != nil:
			rc.ReplyTo, cs.typingFor = m.ID, m.ID
			in = flow.MessageInput(flow.EventFromInbound(m))
		case re != nil:
			cs.typingFor = re.MessageID
			in = flow.ResultInput(re.Step, re.Result)
		case rel != nil:
			var ok bool
			if in, relEnd, ok = releaseInput(cs, rel, now, log); !ok {
				log.Info("release ignored: the contact is no longer with that person", "conversation", rel.Conversation)
				return planned{comp: comp}
			}
			log.Info("released to the bot", "conversation", rel.Conversation, "by", rel.By, "node", rel.Node)
		case te.Deadline > rc.Now:
			// The job fired at its deadline on the clock of the instance that scheduled it:
			// this one's may lag a little, and a timeout taken as "not yet due" would be lost.
			rc.Now = te.Deadline
		}
		var res stepResult
		var err error
		if in.Kind != "" {
			res, err = s.step(s.cfg.Runner.(setRunner).set, cs, in, rc, log)
		}
		if relEnd != nil && err == nil {
			// An agent's handoff ended by the release (the engine never had it).
			if res.update == nil {
				res.update = &store.ConversationUpdate{}
			}
			if res.update.Ended == nil {
				res.update.Ended = relEnd
			}
		}
		switch {
		case errors.Is(err, flow.ErrCallPending):
			// The message waits in the queue, after the call's result.
			return planned{held: true}
		case err != nil:
			// A flow error is deterministic: running it again gives the same result. The
			// conversation stays as it was.
			s.m.flowErrors.Inc()
			log.Error("flow failed, event recorded without replies", "err", err)
		}
		for _, r := range res.replies {
			add(store.OriginFlow, r.Flow, r.Node, r.Message, r.RetryOnRateLimit)
		}
		comp.Conversation, timeouts, callJobs = res.update, res.timeouts, res.calls
	default:
		rc := RunContext{Tenant: sev.Tenant, Team: sev.Team, To: to, ReplyTo: m.ID, Now: now.Unix(),
			LastMessageTime: LastMessageTime(c, sev)}
		out, err := s.cfg.Runner.Handle(ctx, m, rc)
		if err != nil {
			s.m.flowErrors.Inc()
			log.Error("flow failed, message recorded without replies", "err", err)
		}
		for _, r := range out {
			add(store.OriginFlow, r.Flow, r.Node, r.Message, r.RetryOnRateLimit)
		}
	}
	if eventsOn(p) {
		ref := store.ContactRef{Tenant: sev.Tenant, Team: sev.Team, Key: sev.ContactKey}
		comp.Events = flowEvents(ref, m, prev, comp, rel, sev.Kind == store.KindTimeout, now)
	}
	return planned{comp: comp, msgID: messageID(m), planned: plan, timeouts: timeouts, calls: callJobs}
}

// optState is a contact's opt-out as a job moves through its events: opted out or not, and
// when the customer asked (the message's time).
type optState struct {
	out bool
	at  time.Time
}

// sentAt is when the customer sent m (its webhook timestamp), now when Meta gave none.
func sentAt(m *whatsapp.InboundMessage, now time.Time) time.Time {
	if m == nil || m.Timestamp == 0 {
		return now
	}
	return time.Unix(m.Timestamp, 0)
}

// planned is what plan decided for one event.
type planned struct {
	comp     *store.Completion
	msgID    string
	planned  []plannedReply
	timeouts []timeoutArgs
	calls    []callArgs
	// held: the message waits for the call the conversation makes (not processed now).
	held bool
}

// resultsFirst moves the call results to the front, keeping the order otherwise.
func resultsFirst(evs []*store.StoredEvent) []*store.StoredEvent {
	out := make([]*store.StoredEvent, 0, len(evs))
	for _, e := range evs {
		if e.Kind == store.KindResult {
			out = append(out, e)
		}
	}
	for _, e := range evs {
		if e.Kind != store.KindResult {
			out = append(out, e)
		}
	}
	return out
}

func messageID(m *whatsapp.InboundMessage) string {
	if m == nil {
		return ""
	}
	return m.ID
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// sendContact marks the contact's messages read and sends its replies in order, recording
// each outcome with the next send's mark (attempt); it returns the outcomes left to record
// (the last ones: processRound records them with the release of the leases).
func (s *Service) sendContact(ctx context.Context, w *contactWork, c *store.Contact, owner string) ([]store.Finish, error) {
	var carry []store.Finish
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
			pr.out.ID, pr.out.CreatedAt = comp.IDs[j], comp.Created
			if pr.refuse != "" {
				f := s.refuse(pr.out, pr.refuse, owner)
				s.logReply(pr.out, f, comp.Event.ReceivedAt)
				carry = append(carry, f)
				continue
			}
			if ctx.Err() != nil {
				// Cancelled (shutdown): the rest stay pending, this job's, handed over or
				// recovered on the next start.
				return carry, nil
			}
			oc, err := s.attempt(ctx, pr.out, false, c, owner, &carry)
			if err != nil {
				return carry, err
			}
			if oc.kind == sendLost {
				continue
			}
			s.logReply(pr.out, oc.fin, comp.Event.ReceivedAt)
			carry = append(carry, oc.fin)
		}
	}
	return carry, nil
}
