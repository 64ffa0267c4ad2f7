package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LimitWindow is the moving period of Meta's messaging limit.
const LimitWindow = 24 * time.Hour

// LimitGrant is the answer of OpenConversation.
type LimitGrant struct {
	// OK: the send may go. New says it opens a business-initiated conversation (it
	// counts against the limit); an OK that is not New reaches a recipient already
	// counted in the last 24 hours.
	OK, New bool
	// Used is the scope's use in the last 24 hours, this send included when it counts;
	// Limit the limit it was checked against.
	Used, Limit int
	// prev is the recipient's last time before this grant (0: none), for UndoConversation.
	prev int64
	at   int64
}

// OpenConversation books a business-initiated conversation with contactKey in the
// messaging-limit scope (a portfolio or a phone number, see bundle.Provider.MessagingLimitScope)
// at now: a recipient reached in the last 24 hours costs nothing more; another one is
// granted while fewer than limit recipients were reached in the last 24 hours (limit 0:
// no limit). The check and the booking are one transaction, serialized per scope on
// PostgreSQL, so instances sharing the database never grant more than the limit together.
func (s *Store) OpenConversation(ctx context.Context, scope, contactKey string, limit int, now time.Time) (LimitGrant, error) {
	g := LimitGrant{Limit: limit, at: ms(now)}
	since := ms(now.Add(-LimitWindow))
	err := s.limitTx(ctx, scope, func(tx *sql.Tx) error {
		g = LimitGrant{Limit: limit, at: ms(now)} // a transaction run again starts afresh
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT last_at FROM gtc_limit_contacts WHERE scope = $1 AND contact_key = $2`, scope, contactKey).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		g.prev = last
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM gtc_limit_contacts WHERE scope = $1 AND last_at > $2`, scope, since).Scan(&g.Used); err != nil {
			return err
		}
		recent := last > since
		if !recent && limit > 0 && g.Used >= limit {
			return nil // refused: nothing booked
		}
		g.OK, g.New = true, !recent
		if g.New {
			g.Used++
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO gtc_limit_contacts (scope, contact_key, last_at) VALUES ($1, $2, $3)
			ON CONFLICT (scope, contact_key) DO UPDATE SET last_at = excluded.last_at`, scope, contactKey, g.at)
		return err
	})
	if err != nil {
		return LimitGrant{}, fmt.Errorf("messaging limit of %s: %w", scope, err)
	}
	return g, nil
}

// UndoConversation gives back what OpenConversation booked when the send did not happen
// (Graph refused it): the recipient's previous time comes back, unless a later booking
// moved it meanwhile.
func (s *Store) UndoConversation(ctx context.Context, scope, contactKey string, g LimitGrant) error {
	if !g.OK {
		return nil
	}
	var err error
	if g.prev == 0 {
		_, err = s.db.ExecContext(ctx, `DELETE FROM gtc_limit_contacts WHERE scope = $1 AND contact_key = $2 AND last_at = $3`, scope, contactKey, g.at)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE gtc_limit_contacts SET last_at = $1 WHERE scope = $2 AND contact_key = $3 AND last_at = $4`, g.prev, scope, contactKey, g.at)
	}
	if err != nil {
		return fmt.Errorf("messaging limit of %s: give back: %w", scope, err)
	}
	return nil
}

// LimitUse is how many recipients the scope reached outside a customer service window in
// the 24 hours before now.
func (s *Store) LimitUse(ctx context.Context, scope string, now time.Time) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM gtc_limit_contacts WHERE scope = $1 AND last_at > $2`,
		scope, ms(now.Add(-LimitWindow))).Scan(&n); err != nil {
		return 0, fmt.Errorf("messaging limit of %s: %w", scope, err)
	}
	return n, nil
}

// limitTx runs f in a write transaction that holds the scope: PostgreSQL serializes the
// transactions of one scope with an advisory lock; SQLite has one writer anyway.
func (s *Store) limitTx(ctx context.Context, scope string, f func(*sql.Tx) error) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.Postgres() {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('gtc_limit:' || $1))`, scope); err != nil {
				return err
			}
		}
		return f(tx)
	})
}
