package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// StoredEvent is a recorded inbound event.
type StoredEvent struct {
	Seq          int64
	Tenant, Team string
	DedupeKey    string
	Kind         string
	MessageType  string
	MessageID    string
	ContactKey   string
	Raw          []byte
	ReceivedAt   time.Time
	State        string
	ProcessedAt  time.Time
	// PrevInboundAt is, for a message, the time of the contact's previous inbound message
	// (zero for a first message): what the flow sees as last_message_time.
	PrevInboundAt time.Time
}

const eventCols = `seq, tenant, team, dedupe_key, kind, message_type, message_id, contact_key, event, received_at, state, processed_at, prev_inbound_at`

func scanEvent(row interface{ Scan(...any) error }) (*StoredEvent, error) {
	var e StoredEvent
	var rec, proc, prev int64
	if err := row.Scan(&e.Seq, &e.Tenant, &e.Team, &e.DedupeKey, &e.Kind, &e.MessageType, &e.MessageID, &e.ContactKey,
		&e.Raw, &rec, &e.State, &proc, &prev); err != nil {
		return nil, err
	}
	e.ReceivedAt, e.ProcessedAt, e.PrevInboundAt = fromMS(rec), fromMS(proc), fromMS(prev)
	return &e, nil
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]*StoredEvent, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*StoredEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PendingEvents returns up to limit of the contact's message events that still wait for
// their flow run, in arrival order.
func (s *Store) PendingEvents(ctx context.Context, ref ContactRef, limit int) ([]*StoredEvent, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM gtc_inbound_events
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND state = 'pending' ORDER BY seq LIMIT $4`,
		ref.Tenant, ref.Team, ref.Key, limit)
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	return evs, nil
}

// PendingContacts lists the contacts that have events waiting for a flow run (for recovery
// after a restart).
func (s *Store) PendingContacts(ctx context.Context) ([]ContactRef, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT tenant, team, contact_key FROM gtc_inbound_events WHERE state = 'pending' ORDER BY tenant, team, contact_key`)
	if err != nil {
		return nil, fmt.Errorf("list pending contacts: %w", err)
	}
	defer rows.Close()
	var out []ContactRef
	for rows.Next() {
		var r ContactRef
		if err := rows.Scan(&r.Tenant, &r.Team, &r.Key); err != nil {
			return nil, fmt.Errorf("list pending contacts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OptChange is an opt-out (true) or opt-in (false) decided while processing an event.
type OptChange struct {
	OptedOut bool
	At       time.Time // when the customer asked (the message's time): an older change never overrides a newer one
}

// CompleteEvent marks a pending event processed and, in the same transaction, records its
// replies as pending outbound messages (and an opt-out change), returning their ids. This
// is what makes a flow run happen once: after a crash the event is not run again, and the
// pending replies are resent. It reports done=false (and records nothing) when the event
// was already processed.
func (s *Store) CompleteEvent(ctx context.Context, ev *StoredEvent, opt *OptChange, replies []NewOutbound) (ids []int64, done bool, err error) {
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE gtc_inbound_events SET state = 'processed', processed_at = $1 WHERE seq = $2 AND state = 'pending'`, now, ev.Seq)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		done = true
		if opt != nil {
			if err := setOptOut(ctx, tx, ContactRef{ev.Tenant, ev.Team, ev.ContactKey}, opt.OptedOut, opt.At, now); err != nil {
				return err
			}
		}
		ids, err = insertOutbound(ctx, tx, nil, ev.Tenant, ev.Team, ev.Seq, replies, now)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("complete event %d: %w", ev.Seq, err)
	}
	return ids, done, nil
}

// PendingEventsOfKind lists ref's pending events of kind, oldest first (a call's result
// queued behind more messages than one round reads).
func (s *Store) PendingEventsOfKind(ctx context.Context, ref ContactRef, kind string, limit int) ([]*StoredEvent, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM gtc_inbound_events
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND state = 'pending' AND kind = $4 ORDER BY seq LIMIT $5`,
		ref.Tenant, ref.Team, ref.Key, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	return evs, nil
}

// EventFilter selects inbound events for listing.
type EventFilter struct {
	Tenant, Team, ContactKey, Kind string // empty: all
	Limit                          int    // default 100
}

// InboundEvents lists recorded inbound events, newest first.
func (s *Store) InboundEvents(ctx context.Context, f EventFilter) ([]*StoredEvent, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM gtc_inbound_events
		WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) AND ($3 = '' OR contact_key = $3) AND ($4 = '' OR kind = $4)
		ORDER BY seq DESC LIMIT $5`, f.Tenant, f.Team, f.ContactKey, f.Kind, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list inbound events: %w", err)
	}
	return evs, nil
}

// Depth is the work waiting in the store.
type Depth struct {
	PendingEvents int // messages waiting for their flow run
	OpenOutbound  int // replies pending, waiting for a retry, being sent or ambiguous
}

// QueueDepth counts the waiting work (for metrics).
func (s *Store) QueueDepth(ctx context.Context) (Depth, error) {
	var d Depth
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM gtc_inbound_events WHERE state = 'pending'),
		(SELECT COUNT(*) FROM gtc_outbound_messages WHERE state IN ('pending', 'retrying', 'sending', 'ambiguous'))`).Scan(&d.PendingEvents, &d.OpenOutbound)
	if err != nil {
		return d, fmt.Errorf("queue depth: %w", err)
	}
	return d, nil
}
