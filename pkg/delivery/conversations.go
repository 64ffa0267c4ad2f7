package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
)

// Conversations (DESIGN.md §8): a contact's conversation lives in the store
// (gtc_conversations) and moves one step per input, under the contact's lease:
//
//   - a webhook job loads it with the contact's pending events, runs opt-out/opt-in first,
//     then Step for each event in order, and commits each event's next state and user.*
//     with the processed event and its replies (store.CompleteEventsTx);
//   - a waiting conversation with a deadline gets a gtc_timeout job, inserted in that same
//     transaction and scheduled at the deadline; the job puts a timeout event in the
//     contact's queue (store.KindTimeout, deduplicated per conversation and deadline), so
//     it is handled by the same path, in order with the contact's messages; a stale one is
//     ignored by the engine;
//   - an explicit start (StartFlow) leases the contact, steps, and records its replies with
//     the conversation (store.RecordStart).

// EndOptedOut is the end reason of a conversation the contact stopped with an opt-out
// keyword (not an engine reason: opt-out is handled before the engine).
const EndOptedOut = "opted_out"

// timeoutArgs is a gtc_timeout job: at a waiting conversation's deadline, queue a timeout
// input for the contact.
type timeoutArgs struct {
	Contact      store.ContactRef `json:"contact"`
	Conversation string           `json:"conversation"`
	Deadline     int64            `json:"deadline"` // Unix seconds, flow.Conversation.Deadline
}

func (timeoutArgs) Kind() string { return "gtc_timeout" }

// timeoutEvent is the stored event of a timeout input (the event column of a
// store.KindTimeout row).
type timeoutEvent struct {
	Conversation string `json:"conversation"`
	Deadline     int64  `json:"deadline"`
}

type timeoutWorker struct {
	river.WorkerDefaults[timeoutArgs]
	s *Service
}

func (w *timeoutWorker) Work(ctx context.Context, job *river.Job[timeoutArgs]) error {
	return w.s.queueTimeout(ctx, job.Args.Contact, job.Args.Conversation, job.Args.Deadline)
}

// queueTimeout records the timeout input of conversation id at deadline in the contact's
// queue (with its gtc_inbound job, in the same transaction). Twice is once.
func (s *Service) queueTimeout(ctx context.Context, ref store.ContactRef, id string, deadline int64) error {
	raw, err := json.Marshal(timeoutEvent{Conversation: id, Deadline: deadline})
	if err != nil {
		return err
	}
	_, err = s.st.Ingest(ctx, ref.Tenant, ref.Team, []store.InboundEvent{{Kind: store.KindTimeout,
		DedupeKey: fmt.Sprintf("timeout:%s:%d", id, deadline), ContactKey: ref.Key, Raw: raw}})
	return err
}

// FeedDueTimeouts queues the timeout inputs of every conversation whose deadline is at or
// before the service's clock (Config.Now), without waiting for their jobs. gtc chat calls it
// after moving its clock (/wait); a server never needs to (the jobs fire on the wall clock).
func (s *Service) FeedDueTimeouts(ctx context.Context) (int, error) {
	due, err := s.st.DueConversations(ctx, "", "", s.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range due {
		conv, err := decodeConversation(c.State)
		if err != nil || conv == nil {
			continue
		}
		if err := s.queueTimeout(ctx, store.ContactRef{Tenant: c.Tenant, Team: c.Team, Key: c.ContactKey}, conv.ID, conv.Deadline); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// timeoutParams is the job of a timeout at deadline (Unix seconds). River schedules on the
// wall clock; Config.Now may be a test clock, so the wait is taken from it.
func (s *Service) timeoutParams(t timeoutArgs) river.InsertManyParams {
	at := time.Now()
	if wait := time.Unix(t.Deadline, 0).Sub(s.now()); wait > 0 {
		at = at.Add(wait)
	}
	// Unique by args (contact, conversation, deadline): the start's recovery re-inserts the
	// job of every timed conversation, and River skips the ones that exist.
	return river.InsertManyParams{Args: t, InsertOpts: &river.InsertOpts{ScheduledAt: at,
		UniqueOpts: river.UniqueOpts{ByArgs: true}}}
}

// recoverTimeouts gives every conversation that waits with a deadline its timeout job (a job
// lost with the database it was in, as after gtc migrate, is made again; existing ones are
// kept).
func (s *Service) recoverTimeouts(ctx context.Context) (int, error) {
	convs, err := s.st.TimedConversations(ctx)
	if err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	for _, c := range convs {
		conv, err := decodeConversation(c.State)
		if err != nil || conv == nil || conv.Deadline == 0 {
			continue
		}
		params = append(params, s.timeoutParams(timeoutArgs{Contact: store.ContactRef{Tenant: c.Tenant, Team: c.Team, Key: c.ContactKey},
			Conversation: conv.ID, Deadline: conv.Deadline}))
	}
	for chunk := range slices.Chunk(params, 500) {
		if _, err := s.ins.InsertMany(ctx, chunk); err != nil {
			return 0, fmt.Errorf("recover conversation timeouts: %w", err)
		}
	}
	return len(params), nil
}

func decodeConversation(b []byte) (*flow.Conversation, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var c flow.Conversation
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// convState is a contact's conversation while a job (or a start) works it: it moves in
// memory from event to event, each event's completion carrying a snapshot.
type convState struct {
	ref  store.ContactRef
	cur  *flow.Conversation
	user map[string]any
	bad  bool // the stored state does not decode: it is replaced by the next step
	// typingFor is the inbound message the next step runs for (a call it makes shows the
	// typing indicator on it when slow).
	typingFor string
	// note is the handoff's note for agents while a person has the contact.
	note string
}

func newConvState(ref store.ContactRef, c *store.Conversation, log *slog.Logger) *convState {
	cs := &convState{ref: ref, user: map[string]any{}}
	if c == nil {
		return cs
	}
	if c.User != nil {
		cs.user = c.User
	}
	cs.note = c.Note
	cur, err := decodeConversation(c.State)
	if err != nil {
		// Not ours to guess: the contact starts afresh, and the log says so.
		log.Error("stored conversation cannot be decoded: dropped", "tenant", ref.Tenant, "team", ref.Team, "err", err)
		cs.bad = true
	}
	cs.cur = cur
	return cs
}

// stepResult is what one step leaves for the commit.
type stepResult struct {
	replies  []Reply
	update   *store.ConversationUpdate // nil: nothing changed
	timeouts []timeoutArgs
	calls    []callArgs
}

// end stops the waiting conversation outside the engine (opt-out).
func (cs *convState) end(reason string, now time.Time, log *slog.Logger) *store.ConversationUpdate {
	if cs.cur == nil {
		return nil
	}
	log.Info("conversation ended", "conversation", cs.cur.ID, "flow", cs.cur.Flow, "node", cs.cur.Node, "reason", reason)
	u := &store.ConversationUpdate{Ended: &store.ConversationEnd{Flow: cs.cur.Flow, Node: cs.cur.Node, Reason: reason, At: now}}
	cs.cur = nil
	return u
}

// step runs in for the contact and moves cs on. An error leaves cs as it was.
func (s *Service) step(set *flow.Set, cs *convState, in flow.Input, rc RunContext, log *slog.Logger) (stepResult, error) {
	rc.User = cs.user
	out, err := Step(set, cs.cur, in, rc)
	if err != nil {
		return stepResult{}, err
	}
	now := time.Unix(rc.Now, 0).UTC()
	var res stepResult
	res.replies = replies(out.Replies)
	// A one-shot run (no conversation before or after, no user.*) writes nothing: a bot that
	// never asks costs no extra row.
	changed := cs.cur != nil || cs.bad || out.Next != nil || len(out.UserUpdates) > 0
	for _, e := range out.Ended {
		lvl := slog.LevelInfo
		if e.Reason == flow.EndFlowEdited {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "conversation ended", "conversation", e.ID, "flow", e.Flow, "node", e.Node,
			"reason", string(e.Reason), "detail", e.Detail)
	}
	if out.Invalid != "" {
		log.Info("answer not accepted", "flow", cs.flowName(), "node", cs.nodeName(), "why", out.Invalid)
	}
	if h := out.Handoff; h != nil && out.Next != nil {
		cs.note = h.Note
		log.Info("handed off to a person", "conversation", out.Next.ID, "flow", h.Flow, "node", h.Node, "queue", h.Queue)
	}
	if out.Call != nil && out.Next != nil {
		res.calls = append(res.calls, callArgs{Contact: cs.ref, Conversation: out.Next.ID, MessageID: cs.typingFor, Call: out.Call})
	}
	if len(out.UserUpdates) > 0 {
		user := maps.Clone(cs.user)
		maps.Copy(user, out.UserUpdates)
		cs.user = user
	}
	cs.cur, cs.bad = out.Next, false
	if !changed {
		return res, nil
	}
	u := &store.ConversationUpdate{}
	if len(out.UserUpdates) > 0 {
		u.User = cs.user
	}
	if n := len(out.Ended); n > 0 {
		// The end worth showing: the last one that is not a plain completion (a question
		// interrupted by menu, then the menu's run completing, shows "interrupted").
		e := out.Ended[n-1]
		for _, x := range out.Ended {
			if x.Reason != flow.EndCompleted {
				e = x
			}
		}
		u.Ended = &store.ConversationEnd{Flow: e.Flow, Node: e.Node, Reason: string(e.Reason), Detail: e.Detail, At: now}
	}
	if c := out.Next; c != nil {
		b, err := json.Marshal(c)
		if err != nil {
			return stepResult{}, fmt.Errorf("encode conversation: %w", err)
		}
		u.State, u.Flow, u.Node, u.Status = b, c.Flow, c.Node, c.State
		if c.State == flow.StateHuman {
			u.Queue, u.Note = c.Queue, cs.note
		}
		if c.WaitingSince > 0 {
			u.WaitingSince = time.Unix(c.WaitingSince, 0).UTC()
		}
		if c.Deadline > 0 {
			u.Deadline = time.Unix(c.Deadline, 0).UTC()
		}
		if out.WaitUntil > 0 {
			res.timeouts = append(res.timeouts, timeoutArgs{Contact: cs.ref, Conversation: c.ID, Deadline: out.WaitUntil})
		}
	}
	res.update = u
	return res, nil
}

// calling reports whether the conversation waits for a call's result.
func (cs *convState) calling() bool { return cs.cur != nil && cs.cur.State == flow.StateCalling }

func (cs *convState) flowName() string {
	if cs.cur == nil {
		return ""
	}
	return cs.cur.Flow
}

func (cs *convState) nodeName() string {
	if cs.cur == nil {
		return ""
	}
	return cs.cur.Node
}

// lastPerContact keeps, in order, the last timeout of each contact.
func lastPerContact(ts []timeoutArgs) []timeoutArgs {
	last := make(map[store.ContactRef]int, len(ts))
	for i, t := range ts {
		last[t.Contact] = i
	}
	out := ts[:0:0]
	for i, t := range ts {
		if last[t.Contact] == i {
			out = append(out, t)
		}
	}
	return out
}

// flowVars are the vars a conversation starts with: the bundle settings as vars.settings.
func flowVars(p *Provider, vars map[string]any) map[string]any {
	if p == nil || len(p.Settings) == 0 {
		return vars
	}
	set := make(map[string]any, len(p.Settings))
	for k, v := range p.Settings {
		set[k] = v
	}
	out := make(map[string]any, len(vars)+1)
	out["settings"] = set
	maps.Copy(out, vars)
	return out
}
