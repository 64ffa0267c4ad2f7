package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Contact is what gtc knows about one customer of one tenant/team.
type Contact struct {
	Tenant, Team, Key string
	// Known is false when gtc has never heard from or written to this contact; the other
	// fields are then zero (not opted out, window closed).
	Known         bool
	WaID, UserID  string
	Name          string
	LastInboundAt time.Time // opens the 24-hour customer-service window
	OptedOut      bool
	OptedOutAt    time.Time
	// Marketing is the last user_preferences value for marketing messages (stop, resume).
	Marketing   string
	MarketingAt time.Time
	// UnreachableCode is the Graph error code (e.g. 131026) of the last failed delivery
	// that said the recipient cannot be reached; 0 when none.
	UnreachableCode int
	UnreachableAt   time.Time
	UpdatedAt       time.Time
	// Takeover is set when a dead instance left replies to this contact unsent: whoever
	// works the contact next sends them first (Store.TakeOverReplies), so they keep their order.
	Takeover bool
}

// WindowOpen reports whether the 24-hour customer-service window is open at now.
func (c *Contact) WindowOpen(now time.Time) bool {
	return !c.LastInboundAt.IsZero() && now.Sub(c.LastInboundAt) < 24*time.Hour
}

const contactCols = `tenant, team, contact_key, wa_id, user_id, name, last_inbound_at, opted_out, opted_out_at,
	marketing, marketing_at, unreachable_code, unreachable_at, updated_at, takeover`

func scanContact(row interface{ Scan(...any) error }) (*Contact, error) {
	var c Contact
	var last, optAt, mAt, uAt, upd int64
	var opted, takeover int
	if err := row.Scan(&c.Tenant, &c.Team, &c.Key, &c.WaID, &c.UserID, &c.Name, &last, &opted, &optAt,
		&c.Marketing, &mAt, &c.UnreachableCode, &uAt, &upd, &takeover); err != nil {
		return nil, err
	}
	c.Takeover = takeover != 0
	c.Known = true
	c.LastInboundAt, c.OptedOut, c.OptedOutAt = fromMS(last), opted != 0, fromMS(optAt)
	c.MarketingAt, c.UnreachableAt, c.UpdatedAt = fromMS(mAt), fromMS(uAt), fromMS(upd)
	return &c, nil
}

// Contact returns the contact (tenant, team, key); key is the wa_id (phone number without
// "+") or the business-scoped user id. An unknown contact is returned with Known false.
func (s *Store) Contact(ctx context.Context, tenant, team, key string) (*Contact, error) {
	row := s.rdb.QueryRowContext(ctx, `SELECT `+contactCols+` FROM gtc_contacts WHERE tenant = $1 AND team = $2 AND contact_key = $3`,
		tenant, team, key)
	c, err := scanContact(row)
	if errors.Is(err, sql.ErrNoRows) {
		return &Contact{Tenant: tenant, Team: team, Key: key}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read contact: %w", err)
	}
	return c, nil
}

// ContactFilter selects contacts for listing.
type ContactFilter struct {
	Tenant, Team string // empty: all
	OptedOut     bool   // only opted-out contacts
	Limit        int    // default 100
}

// Contacts lists contacts, most recently updated first.
func (s *Store) Contacts(ctx context.Context, f ContactFilter) ([]*Contact, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	optedOut := 0
	if f.OptedOut {
		optedOut = 1
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+contactCols+` FROM gtc_contacts
		WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) AND ($3 = 0 OR opted_out = 1)
		ORDER BY updated_at DESC, contact_key LIMIT $4`, f.Tenant, f.Team, optedOut, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	defer rows.Close()
	var out []*Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("list contacts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetOptOut records an opt-out (true) or opt-in (false) the contact made at time at (the
// message's time): an older change than the one recorded is ignored (newerWins).
func (s *Store) SetOptOut(ctx context.Context, ref ContactRef, optedOut bool, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return setOptOut(ctx, tx, ref, optedOut, at, s.now()) })
}

func setOptOut(ctx context.Context, tx *sql.Tx, ref ContactRef, optedOut bool, at time.Time, now int64) error {
	v := 0
	if optedOut {
		v = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO gtc_contacts (tenant, team, contact_key, opted_out, opted_out_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant, team, contact_key) DO UPDATE SET opted_out = excluded.opted_out,
			opted_out_at = excluded.opted_out_at, updated_at = excluded.updated_at
		WHERE `+newerWins("excluded.opted_out_at", "gtc_contacts.opted_out_at"),
		ref.Tenant, ref.Team, ref.Key, v, ms(at), now, now)
	if err != nil {
		return fmt.Errorf("record opt-out: %w", err)
	}
	return nil
}

// SetUnreachable records on the contact that Graph said it cannot be reached (code, e.g.
// 131026).
func (s *Store) SetUnreachable(ctx context.Context, ref ContactRef, code int, at time.Time) error {
	now := s.now()
	_, err := s.db.ExecContext(ctx, `INSERT INTO gtc_contacts (tenant, team, contact_key, unreachable_code, unreachable_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant, team, contact_key) DO UPDATE SET unreachable_code = excluded.unreachable_code,
			unreachable_at = excluded.unreachable_at, updated_at = excluded.updated_at`,
		ref.Tenant, ref.Team, ref.Key, code, ms(at), now, now)
	if err != nil {
		return fmt.Errorf("record unreachable contact: %w", err)
	}
	return nil
}

// ClaimContact gives owner the exclusive right to process the contact's events until
// until (a lease), unless another owner holds an unexpired lease. It reports whether the
// claim succeeded.
func (s *Store) ClaimContact(ctx context.Context, ref ContactRef, owner string, until time.Time) (bool, error) {
	now := s.now()
	res, err := s.db.ExecContext(ctx, `UPDATE gtc_contacts SET lease_owner = $1, lease_until = $2
		WHERE tenant = $3 AND team = $4 AND contact_key = $5 AND (lease_owner = '' OR lease_owner = $6 OR lease_until < $7)`,
		owner, ms(until), ref.Tenant, ref.Team, ref.Key, owner, now)
	if err != nil {
		return false, fmt.Errorf("claim contact: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseContact gives up owner's lease, atomically with a check for pending events: when
// some arrived meanwhile, the lease is kept and more is true, so the owner goes on. This
// closes the race with an Ingest whose job found the contact claimed.
func (s *Store) ReleaseContact(ctx context.Context, ref ContactRef, owner string) (more bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// Locked first, as in ReleaseContacts.
		if _, err := tx.ExecContext(ctx, lockLeaseSQL, ref.Tenant, ref.Team, ref.Key, owner); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM gtc_inbound_events
			WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND state = 'pending'`, ref.Tenant, ref.Team, ref.Key).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			more = true
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE gtc_contacts SET lease_owner = '', lease_until = 0
			WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND lease_owner = $4`, ref.Tenant, ref.Team, ref.Key, owner)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release contact: %w", err)
	}
	return more, nil
}

// ClearLeases drops every contact lease and outbound sender. Call it on start of a
// single-instance (SQLite) server: no other process can hold one.
func (s *Store) ClearLeases(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE gtc_contacts SET lease_owner = '', lease_until = 0 WHERE lease_owner <> ''`); err != nil {
		return fmt.Errorf("clear leases: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE gtc_outbound_messages SET sender = '' WHERE sender <> ''`); err != nil {
		return fmt.Errorf("clear senders: %w", err)
	}
	return nil
}
