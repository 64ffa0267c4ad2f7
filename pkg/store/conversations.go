package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Pending events that are not webhooks: they wait in the contact's queue like a message, so
// they are handled in order with them.
const (
	// KindTimeout: a conversation's timeout came due.
	KindTimeout = "timeout"
	// KindResult: the result of a conversation's http or ai call.
	KindResult = "result"
	// KindRelease: a person hands the contact back to the bot.
	KindRelease = "release"
)

// Queued reports whether events of kind wait in a contact's queue (state pending) to be
// processed by its job.
func Queued(kind string) bool {
	switch kind {
	case KindMessage, KindTimeout, KindResult, KindRelease:
		return true
	}
	return false
}

// StatusCalling is the conversation status (the state column) while it waits for a call's
// result: the contact's messages then wait in the queue, not processed, until the result.
const StatusCalling = "calling"

// StatusHandoff is the conversation status while a person has the contact: the bot does not
// answer, triggers do not fire (opt-out and opt-in still work).
const StatusHandoff = "handoff"

// Conversation is what gtc keeps per contact of a tenant/team between the steps of a flow:
// the waiting conversation (State, the engine's JSON; nil when none waits), the contact's
// user.* values, and how the last conversation ended.
type Conversation struct {
	Tenant, Team, ContactKey string
	State                    []byte // flow.Conversation as JSON; nil: no conversation
	Flow, Node               string // where it waits
	Status                   string // waiting, calling, handoff ("" when none)
	WaitingSince, Deadline   time.Time
	User                     map[string]any // user.*; never nil
	LastEnd                  ConversationEnd
	UpdatedAt                time.Time
	// Queue and Note are the handoff's while Status is StatusHandoff (WaitingSince is when
	// it started, Deadline when it times out); AgentReadAt is when an agent last read it.
	Queue, Note string
	AgentReadAt time.Time
}

// ConversationEnd says how a conversation ended (Reason "" when none has).
type ConversationEnd struct {
	Flow, Node     string
	Reason, Detail string // completed, invalid, timeout, interrupted, replaced, flow_edited, …
	At             time.Time
}

// ConversationUpdate is a step's result for one contact: the whole next state and the whole
// user map (the caller holds the contact's lease, so it writes what it read and changed).
type ConversationUpdate struct {
	State                  []byte // nil: no conversation waits any more
	Flow, Node, Status     string
	WaitingSince, Deadline time.Time
	User                   map[string]any // nil: unchanged
	// Ended, when set, is recorded as the last end.
	Ended *ConversationEnd
	// Queue and Note: the handoff's, while Status is StatusHandoff.
	Queue, Note string
}

const conversationCols = `tenant, team, contact_key, conversation, flow, node, state, waiting_since, deadline,
	user_vars, ended_flow, ended_node, ended_reason, ended_detail, ended_at, updated_at, queue, note, agent_read_at`

func scanConversation(row interface{ Scan(...any) error }) (*Conversation, error) {
	var c Conversation
	var state, user string
	var since, deadline, endAt, upd, read int64
	if err := row.Scan(&c.Tenant, &c.Team, &c.ContactKey, &state, &c.Flow, &c.Node, &c.Status, &since, &deadline,
		&user, &c.LastEnd.Flow, &c.LastEnd.Node, &c.LastEnd.Reason, &c.LastEnd.Detail, &endAt, &upd, &c.Queue, &c.Note, &read); err != nil {
		return nil, err
	}
	if state != "" {
		c.State = []byte(state)
	}
	c.User = map[string]any{}
	if user != "" {
		if err := json.Unmarshal([]byte(user), &c.User); err != nil {
			return nil, fmt.Errorf("contact %s: user values: %w", c.ContactKey, err)
		}
	}
	c.WaitingSince, c.Deadline, c.LastEnd.At, c.UpdatedAt = fromMS(since), fromMS(deadline), fromMS(endAt), fromMS(upd)
	c.AgentReadAt = fromMS(read)
	return &c, nil
}

func emptyConversation(ref ContactRef) *Conversation {
	return &Conversation{Tenant: ref.Tenant, Team: ref.Team, ContactKey: ref.Key, User: map[string]any{}}
}

// ConversationsFor reads the conversations of refs; a contact without one comes back empty
// (State nil, User empty).
func (s *Store) ConversationsFor(ctx context.Context, refs []ContactRef) (map[ContactRef]*Conversation, error) {
	out := make(map[ContactRef]*Conversation, len(refs))
	st, err := s.rdb.PrepareContext(ctx, `SELECT `+conversationCols+` FROM gtc_conversations
		WHERE tenant = $1 AND team = $2 AND contact_key = $3`)
	if err != nil {
		return nil, fmt.Errorf("read conversations: %w", err)
	}
	defer st.Close()
	for _, r := range refs {
		c, err := scanConversation(st.QueryRowContext(ctx, r.Tenant, r.Team, r.Key))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			c = emptyConversation(r)
		case err != nil:
			return nil, fmt.Errorf("read conversations: %w", err)
		}
		out[r] = c
	}
	return out, nil
}

// ConversationOf reads one contact's conversation (empty when it has none).
func (s *Store) ConversationOf(ctx context.Context, ref ContactRef) (*Conversation, error) {
	m, err := s.ConversationsFor(ctx, []ContactRef{ref})
	if err != nil {
		return nil, err
	}
	return m[ref], nil
}

// Conversations lists the conversation rows of tenant/team ("" for all), by contact.
func (s *Store) Conversations(ctx context.Context, tenant, team string) ([]*Conversation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+conversationCols+` FROM gtc_conversations
		WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) ORDER BY tenant, team, contact_key`, tenant, team)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	defer rows.Close()
	var out []*Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("list conversations: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TimedConversations lists every conversation that waits with a deadline (gtc serve's start
// makes sure each has its timeout job, e.g. after gtc migrate, which copies no jobs).
func (s *Store) TimedConversations(ctx context.Context) ([]*Conversation, error) {
	return s.DueConversations(ctx, "", "", time.UnixMilli(math.MaxInt64))
}

// DueConversations lists the conversations of tenant/team ("" for all) whose deadline is at
// or before now, soonest first (gtc chat feeds their timeouts when its clock moves).
func (s *Store) DueConversations(ctx context.Context, tenant, team string, now time.Time) ([]*Conversation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+conversationCols+` FROM gtc_conversations
		WHERE deadline > 0 AND deadline <= $1 AND ($2 = '' OR tenant = $2) AND ($3 = '' OR team = $3)
		ORDER BY deadline, contact_key`, ms(now), tenant, team)
	if err != nil {
		return nil, fmt.Errorf("list due conversations: %w", err)
	}
	defer rows.Close()
	var out []*Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("list due conversations: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const upsertConversationSQL = `INSERT INTO gtc_conversations (tenant, team, contact_key, conversation, flow, node, state,
	waiting_since, deadline, user_vars, ended_flow, ended_node, ended_reason, ended_detail, ended_at, updated_at, queue, note)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $19, $20)
	ON CONFLICT (tenant, team, contact_key) DO UPDATE SET conversation = excluded.conversation, flow = excluded.flow,
		node = excluded.node, state = excluded.state, waiting_since = excluded.waiting_since, deadline = excluded.deadline,
		user_vars = CASE WHEN $17 THEN excluded.user_vars ELSE gtc_conversations.user_vars END,
		ended_flow = CASE WHEN $18 THEN excluded.ended_flow ELSE gtc_conversations.ended_flow END,
		ended_node = CASE WHEN $18 THEN excluded.ended_node ELSE gtc_conversations.ended_node END,
		ended_reason = CASE WHEN $18 THEN excluded.ended_reason ELSE gtc_conversations.ended_reason END,
		ended_detail = CASE WHEN $18 THEN excluded.ended_detail ELSE gtc_conversations.ended_detail END,
		ended_at = CASE WHEN $18 THEN excluded.ended_at ELSE gtc_conversations.ended_at END,
		updated_at = excluded.updated_at, queue = excluded.queue, note = excluded.note`

// saveConversation writes u for ref inside tx.
func saveConversation(ctx context.Context, tx *sql.Tx, ref ContactRef, u *ConversationUpdate, now int64) error {
	user := "{}"
	if u.User != nil {
		b, err := json.Marshal(u.User)
		if err != nil {
			return fmt.Errorf("contact %s: user values: %w", ref.Key, err)
		}
		user = safeText(string(b))
	}
	var end ConversationEnd
	if u.Ended != nil {
		end = *u.Ended
	}
	_, err := tx.ExecContext(ctx, upsertConversationSQL, ref.Tenant, ref.Team, safeText(ref.Key), safeText(string(u.State)),
		u.Flow, u.Node, u.Status, ms(u.WaitingSince), ms(u.Deadline), user,
		end.Flow, end.Node, end.Reason, safeText(end.Detail), ms(end.At), now, u.User != nil, u.Ended != nil, safeText(u.Queue), safeText(u.Note))
	if err != nil {
		return fmt.Errorf("save conversation: %w", err)
	}
	return nil
}

// SaveConversation writes u for ref in a transaction of its own, with inTx (when set) in the
// same transaction.
func (s *Store) SaveConversation(ctx context.Context, ref ContactRef, u *ConversationUpdate, inTx func(context.Context, *sql.Tx) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := saveConversation(ctx, tx, ref, u, s.now()); err != nil {
			return err
		}
		if inTx != nil {
			return inTx(ctx, tx)
		}
		return nil
	})
}

// RecordStart records the replies of a flow started on purpose for ref together with the
// conversation it leaves (u, nil: unchanged), and runs inTx in the same transaction. The
// replies are pending, sender sender.
func (s *Store) RecordStart(ctx context.Context, ref ContactRef, msgs []NewOutbound, u *ConversationUpdate, inTx func(context.Context, *sql.Tx) error) ([]int64, error) {
	return s.RecordStartOnce(ctx, ref, msgs, u, inTx, nil)
}

// RecordStartOnce is RecordStart with key (nil: none) reserved in the same transaction (see
// RecordOutboundOnce).
func (s *Store) RecordStartOnce(ctx context.Context, ref ContactRef, msgs []NewOutbound, u *ConversationUpdate,
	inTx func(context.Context, *sql.Tx) error, key *IdempotencyKey) ([]int64, error) {
	var ids []int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var err error
		if ids, err = insertOutbound(ctx, tx, nil, ref.Tenant, ref.Team, 0, msgs, now); err != nil {
			return err
		}
		if err := reserveKey(ctx, tx, key, ids, now); err != nil {
			return err
		}
		if u != nil {
			if err := saveConversation(ctx, tx, ref, u, now); err != nil {
				return err
			}
		}
		if inTx != nil {
			return inTx(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record flow start: %w", err)
	}
	return ids, nil
}

// EnsureContact adds ref to the contacts when gtc has never heard of it (a flow started on
// purpose for a new number), so it can be leased; a known contact is left as it is.
func (s *Store) EnsureContact(ctx context.Context, ref ContactRef) error {
	now := s.now()
	_, err := s.db.ExecContext(ctx, `INSERT INTO gtc_contacts (tenant, team, contact_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, team, contact_key) DO NOTHING`,
		ref.Tenant, ref.Team, safeText(ref.Key), now, now)
	if err != nil {
		return fmt.Errorf("add contact: %w", err)
	}
	return nil
}
