package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// OutboxEvent is an event webhook to record in the transaction of the change it reports
// (see AddOutbox). Body builds the bytes to send from the row's id (the event id is made of
// it, and the body holds the id) and, for an event with WAMID, the id of the outbound
// message with that wamid (0 when gtc sent none); a nil body records no event.
type OutboxEvent struct {
	Type string
	Body func(id, outbound int64) ([]byte, error)
	// WAMID, when set, names an outbound message: the event goes to its contact's stream
	// (when gtc knows the message) and Body gets its id.
	WAMID string
	// ContactKey, when set, is the contact the event is about (instead of AddOutbox's).
	ContactKey string
}

// OutboxRow is one recorded event webhook.
type OutboxRow struct {
	ID                       int64
	Tenant, Team, ContactKey string
	Type                     string
	Body                     []byte
	Attempts                 int
	CreatedAt, NextAt        time.Time
	LastStatus               int
	LastError                string
}

// AddOutbox records evs for ref inside tx, at now (Unix ms), due at once.
func AddOutbox(ctx context.Context, tx *sql.Tx, ref ContactRef, evs []OutboxEvent, now time.Time) error {
	at := ms(now)
	for _, ev := range evs {
		r := ref
		if ev.ContactKey != "" {
			r.Key = ev.ContactKey
		}
		var outbound int64
		if ev.WAMID != "" {
			err := tx.QueryRowContext(ctx, `SELECT id, contact_key FROM gtc_outbound_messages WHERE wamid = $1 AND tenant = $2 AND team = $3 LIMIT 1`,
				ev.WAMID, ref.Tenant, ref.Team).Scan(&outbound, &r.Key)
			if err != nil && err != sql.ErrNoRows {
				return fmt.Errorf("record %s event: %w", ev.Type, err)
			}
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO gtc_event_outbox (tenant, team, contact_key, type, body, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`, r.Tenant, r.Team, safeText(r.Key), ev.Type, []byte{}, at).Scan(&id); err != nil {
			return fmt.Errorf("record %s event: %w", ev.Type, err)
		}
		body, err := ev.Body(id, outbound)
		if err != nil {
			return fmt.Errorf("record %s event: %w", ev.Type, err)
		}
		if body == nil {
			// Not an event after all (e.g. send.failed of a message gtc did not send).
			if _, err := tx.ExecContext(ctx, `DELETE FROM gtc_event_outbox WHERE id = $1`, id); err != nil {
				return fmt.Errorf("record %s event: %w", ev.Type, err)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE gtc_event_outbox SET body = $1 WHERE id = $2`, body, id); err != nil {
			return fmt.Errorf("record %s event: %w", ev.Type, err)
		}
	}
	return nil
}

// RecordOutbox records evs for ref in a transaction of their own (tests, and changes that
// make nothing else).
func (s *Store) RecordOutbox(ctx context.Context, ref ContactRef, evs []OutboxEvent) error {
	now := s.opts.Now()
	return s.tx(ctx, func(tx *sql.Tx) error { return AddOutbox(ctx, tx, ref, evs, now) })
}

// DueOutbox returns up to limit due events, each the oldest open one of its contact (a
// contact's later events wait behind an earlier one that is retried), in id order.
func (s *Store) DueOutbox(ctx context.Context, now time.Time, limit int) ([]*OutboxRow, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, tenant, team, contact_key, type, body, attempts, created_at, next_at, last_status, last_error
		FROM gtc_event_outbox o
		WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_at <= $1
		  AND id = (SELECT min(id) FROM gtc_event_outbox p
		            WHERE p.tenant = o.tenant AND p.team = o.team AND p.contact_key = o.contact_key
		              AND p.delivered_at IS NULL AND p.gave_up_at IS NULL)
		ORDER BY id LIMIT $2`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("read event outbox: %w", err)
	}
	defer rows.Close()
	var out []*OutboxRow
	for rows.Next() {
		var r OutboxRow
		var created, next int64
		if err := rows.Scan(&r.ID, &r.Tenant, &r.Team, &r.ContactKey, &r.Type, &r.Body, &r.Attempts, &created, &next, &r.LastStatus, &r.LastError); err != nil {
			return nil, fmt.Errorf("read event outbox: %w", err)
		}
		r.CreatedAt, r.NextAt = fromMS(created), fromMS(next)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// ClaimOutbox leases a due event until now+lease; false when another instance has it (or it
// is no longer open). An instance that dies leaves it due again when the lease ends.
func (s *Store) ClaimOutbox(ctx context.Context, id int64, now time.Time, lease time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE gtc_event_outbox SET next_at = $1, leased = 1
		WHERE id = $2 AND next_at <= $3 AND delivered_at IS NULL AND gave_up_at IS NULL`, ms(now.Add(lease)), id, ms(now))
	if err != nil {
		return false, fmt.Errorf("claim event %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// OutboxAttempt is the result of one delivery attempt of an event.
type OutboxAttempt struct {
	Delivered bool
	GaveUp    bool
	NextAt    time.Time // when retried (neither Delivered nor GaveUp)
	Status    int
	Error     string // no secret, no body
}

// FinishOutbox records an attempt of event id.
func (s *Store) FinishOutbox(ctx context.Context, id int64, a OutboxAttempt) error {
	now := s.now()
	var err error
	switch {
	case a.Delivered:
		_, err = s.db.ExecContext(ctx, `UPDATE gtc_event_outbox SET leased = 0, delivered_at = $1, attempts = attempts + 1, last_status = $2, last_error = ''
			WHERE id = $3`, now, a.Status, id)
	case a.GaveUp:
		_, err = s.db.ExecContext(ctx, `UPDATE gtc_event_outbox SET leased = 0, gave_up_at = $1, attempts = attempts + 1, last_status = $2, last_error = $3
			WHERE id = $4`, now, a.Status, safeText(a.Error), id)
	default:
		_, err = s.db.ExecContext(ctx, `UPDATE gtc_event_outbox SET leased = 0, next_at = $1, attempts = attempts + 1, last_status = $2, last_error = $3
			WHERE id = $4`, ms(a.NextAt), a.Status, safeText(a.Error), id)
	}
	if err != nil {
		return fmt.Errorf("record event %d attempt: %w", id, err)
	}
	return nil
}

// EventBacklog is the state of the event outbox.
type EventBacklog struct {
	Pending, Failing int           // open events; open events whose last attempt failed
	Oldest           time.Duration // age of the oldest open event
	OldestAt         time.Time     // when it was made (zero when none waits)
	GaveUpDay        int           // events given up in the last 24 hours
	LastError        string        // the newest failure of an open event
}

// EventBacklog counts the outbox's open events of every number.
func (s *Store) EventBacklog(ctx context.Context) (EventBacklog, error) {
	return s.EventBacklogOf(ctx, "", "")
}

// EventBacklogOf counts the open events of tenant/team ("" "": every number).
func (s *Store) EventBacklogOf(ctx context.Context, tenant, team string) (EventBacklog, error) {
	var b EventBacklog
	now := s.now()
	const of = ` AND (CAST($1 AS TEXT) = '' OR tenant = $1) AND (CAST($2 AS TEXT) = '' OR team = $2)`
	var oldest sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0), min(created_at)
		FROM gtc_event_outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL`+of, tenant, team).Scan(&b.Pending, &b.Failing, &oldest); err != nil {
		return b, fmt.Errorf("read event backlog: %w", err)
	}
	if oldest.Valid {
		b.Oldest, b.OldestAt = time.Duration(now-oldest.Int64)*time.Millisecond, fromMS(oldest.Int64)
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM gtc_event_outbox WHERE gave_up_at >= $3`+of,
		tenant, team, now-int64(24*time.Hour/time.Millisecond)).Scan(&b.GaveUpDay); err != nil {
		return b, fmt.Errorf("read event backlog: %w", err)
	}
	err := s.rdb.QueryRowContext(ctx, `SELECT last_error FROM gtc_event_outbox
		WHERE delivered_at IS NULL AND last_error <> ''`+of+` ORDER BY id DESC LIMIT 1`, tenant, team).Scan(&b.LastError)
	if err != nil && err != sql.ErrNoRows {
		return b, fmt.Errorf("read event backlog: %w", err)
	}
	return b, nil
}

// FreeOutboxLeases makes the events being delivered when the process stopped due now. Only
// for a database no other live process uses (SQLite): on a shared one the leases may be a
// live instance's.
func (s *Store) FreeOutboxLeases(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE gtc_event_outbox SET leased = 0, next_at = $1
		WHERE leased = 1 AND delivered_at IS NULL AND gave_up_at IS NULL`, s.now())
	if err != nil {
		return 0, fmt.Errorf("free event leases: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PruneOutbox deletes the events delivered or given up before before (their bodies hold
// message text; a delivered event is not needed after a day). It returns how many went.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM gtc_event_outbox WHERE delivered_at < $1 OR gave_up_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune event outbox: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
