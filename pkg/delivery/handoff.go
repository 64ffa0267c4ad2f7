package delivery

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/events"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
)

// Handoff (DESIGN.md §10): a handoff node, or an agent through the API, gives the contact to
// a person. The conversation's status is then "handoff" (with its queue, note, since and
// deadline on the gtc_conversations row): the contact's messages are recorded (history) and
// not answered, triggers do not fire, opt-out and opt-in still work (STOP ends the handoff).
// A release (an agent, the API, or the handoff's timeout, a durable timeout like an ask's)
// is an input in the contact's queue (store.KindRelease): the bot resumes at the handoff's
// on_release or the node given, or the conversation ends and the next message goes to the
// triggers.

// Errors of Handoff and Release.
var (
	ErrNotWithPerson = errors.New("the contact is not with a person")
	ErrWithPerson    = errors.New("the contact is already with a person")
	ErrNoContact     = errors.New("contact not found")
)

// EndHandedOff is the end reason of a bot conversation an agent took over.
const EndHandedOff = "handed_off"

// releaseEvent is the stored event of a release (a store.KindRelease row).
type releaseEvent struct {
	Conversation string `json:"conversation"`
	Flow         string `json:"flow,omitempty"`
	Node         string `json:"node,omitempty"`
	By           string `json:"by,omitempty"`
}

// Handoff gives contact to a person from outside a flow (an agent, the conversations API):
// a waiting bot conversation ends (reason handed_off). It leases the contact, so it runs in
// order with the contact's messages. ErrWithPerson when a person has it already. When
// another responder has the contact's thread (Conversation Routing), it takes the thread
// first; Graph's refusal is a *ThreadControlError and nothing changes.
func (s *Service) Handoff(ctx context.Context, tenant, team, contact, queue, note, by string) error {
	if s.stopping.Load() {
		return ErrStopped
	}
	if s.provider(tenant, team) == nil {
		return fmt.Errorf("hand off %s/%s: %w", tenant, team, ErrUnknownProvider)
	}
	ref, err := s.contactRef(ctx, tenant, team, contact)
	if err != nil {
		return err
	}
	if sc, err := s.st.ConversationOf(ctx, ref); err != nil {
		return err
	} else if sc.Status == store.StatusHandoff {
		return ErrWithPerson
	}
	if err := s.takeThreadIfNeeded(ctx, ref, contact, by); err != nil {
		return err
	}
	owner := fmt.Sprintf("%s:handoff-%d", s.instance, s.starts.Add(1))
	if err := s.leaseForStart(ctx, ref, owner); err != nil {
		return err
	}
	err = s.handoffLeased(ctx, ref, queue, note, by)
	if rerr := s.releaseAfterStart(context.WithoutCancel(ctx), ref, owner); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

func (s *Service) handoffLeased(ctx context.Context, ref store.ContactRef, queue, note, by string) error {
	sc, err := s.st.ConversationOf(ctx, ref)
	if err != nil {
		return err
	}
	if sc.Status == store.StatusHandoff {
		return ErrWithPerson
	}
	now := s.now()
	var id [8]byte
	rand.Read(id[:])
	conv := &flow.Conversation{ID: hex.EncodeToString(id[:]), State: flow.StateHuman, Queue: queue, WaitingSince: now.Unix()}
	b, err := json.Marshal(conv)
	if err != nil {
		return err
	}
	u := &store.ConversationUpdate{State: b, Status: store.StatusHandoff, WaitingSince: now.UTC(), Queue: queue, Note: note}
	if cur, _ := decodeConversation(sc.State); cur != nil {
		u.Ended = &store.ConversationEnd{Flow: cur.Flow, Node: cur.Node, Reason: EndHandedOff, Detail: "taken over by " + byOr(by), At: now.UTC()}
	}
	s.log.Info("handed off to a person", "tenant", ref.Tenant, "team", ref.Team, "queue", queue, "by", byOr(by))
	var inTx func(context.Context, *sql.Tx) error
	if p := s.provider(ref.Tenant, ref.Team); eventsOn(p) {
		ev := events.NewHandoffRequested(head(ref, now), events.HandoffRequested{By: byEvent(byOr(by)), Queue: queue, Note: note})
		inTx = func(ctx context.Context, tx *sql.Tx) error {
			return store.AddOutbox(ctx, tx, ref, []store.OutboxEvent{outboxEvent(ev)}, now)
		}
	}
	if err := s.st.SaveConversation(ctx, ref, u, inTx); err != nil {
		return err
	}
	if inTx != nil {
		s.wakeEvents()
	}
	return nil
}

func byOr(by string) string {
	if by == "" {
		return "agent"
	}
	return by
}

// Release hands contact back to the bot: at node ("flow/node", or a node of the handoff's
// flow), or with node "" at the handoff node's on_release (none: the conversation ends and
// the next message goes to the triggers). The release is queued behind the contact's
// messages. ErrNotWithPerson when no person has the contact; an unknown node is a
// *NotFoundError.
func (s *Service) Release(ctx context.Context, tenant, team, contact, node, by string) error {
	if s.stopping.Load() {
		return ErrStopped
	}
	ref, err := s.contactRef(ctx, tenant, team, contact)
	if err != nil {
		return err
	}
	sc, err := s.st.ConversationOf(ctx, ref)
	if err != nil {
		return err
	}
	cur, _ := decodeConversation(sc.State)
	if sc.Status != store.StatusHandoff || cur == nil {
		return ErrNotWithPerson
	}
	fl, nd := cur.Flow, node
	if f, n, ok := strings.Cut(node, "/"); ok {
		fl, nd = f, n
	}
	if nd != "" {
		if s.cfg.Flows == nil {
			return ErrNoFlows
		}
		f, ok := s.cfg.Flows.Flow(fl)
		if !ok {
			return &NotFoundError{What: "flow", Flow: fl}
		}
		if !hasNode(f, nd) {
			return &NotFoundError{What: "node", Flow: fl, Node: nd}
		}
	}
	raw, err := json.Marshal(releaseEvent{Conversation: cur.ID, Flow: fl, Node: nd, By: byOr(by)})
	if err != nil {
		return err
	}
	_, err = s.st.Ingest(ctx, tenant, team, []store.InboundEvent{{Kind: store.KindRelease,
		DedupeKey: fmt.Sprintf("release:%s:%d", cur.ID, time.Now().UnixNano()), ContactKey: ref.Key, Raw: raw}})
	return err
}

// AddNote records an agent's internal note on contact's conversation (never sent).
func (s *Service) AddNote(ctx context.Context, tenant, team, contact, author, text string) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("the note is empty")
	}
	ref, err := s.contactRef(ctx, tenant, team, contact)
	if err != nil {
		return err
	}
	_, err = s.st.AddNote(ctx, ref, byOr(author), text)
	return err
}

// contactRef is the identity contact names (ResolveContact).
func (s *Service) contactRef(ctx context.Context, tenant, team, contact string) (store.ContactRef, error) {
	c, err := s.Contact(ctx, tenant, team, contact)
	if err != nil {
		return store.ContactRef{}, err
	}
	return store.ContactRef{Tenant: tenant, Team: team, Key: c.Key}, nil
}

// releaseInput is the step a release event makes for cs: the engine's ReleaseInput for a
// handoff node's conversation; for one an agent took over (no flow), the end of it and, when
// a node is given, a start there.
func releaseInput(cs *convState, re *releaseEvent, now time.Time, log interface {
	Info(string, ...any)
}) (flow.Input, *store.ConversationEnd, bool) {
	if cs.cur == nil || cs.cur.State != flow.StateHuman || cs.cur.ID != re.Conversation {
		return flow.Input{}, nil, false
	}
	if cs.cur.Flow != "" {
		return flow.ReleaseInput(re.Flow, re.Node), nil, true
	}
	end := &store.ConversationEnd{Reason: string(flow.EndReleased), Detail: "released by " + re.By, At: now.UTC()}
	cs.cur = nil
	if re.Node == "" {
		return flow.Input{}, end, true
	}
	return flow.StartInput(re.Flow, re.Node, nil), end, true
}
