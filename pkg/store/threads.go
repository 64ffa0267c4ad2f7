package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Who controls a contact's thread under Conversation Routing (several responders on one
// number).
const (
	ThreadGTC      = "gtc"      // passed to gtc (control_passed) or taken by it
	ThreadOther    = "other"    // another responder: standby copies, control_taken
	ThreadReleased = "released" // gtc released it: routing picks the next responder
)

// Thread is who controls one contact's thread, why (standby, control_passed,
// control_taken, take, release) and since when. Owner "" means gtc never heard of
// another responder: the thread is gtc's as far as it knows.
type Thread struct {
	Owner, Why string
	// Role is the owner's role as Meta names it (primary, escalation_partner,
	// meta_business_agent, …), when a handover said.
	Role      string
	At        time.Time
	UpdatedAt time.Time
}

// ThreadUpdate is a change of a contact's thread control seen at At.
type ThreadUpdate struct {
	ContactKey string
	Owner, Why string
	Role       string
	At         time.Time
}

// upsertThreadSQL records a ThreadUpdate unless a newer one is recorded.
const upsertThreadSQL = `INSERT INTO gtc_threads (tenant, team, contact_key, owner, why, role, at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	ON CONFLICT (tenant, team, contact_key) DO UPDATE SET owner = excluded.owner, why = excluded.why,
		role = excluded.role, at = excluded.at, updated_at = excluded.updated_at
	WHERE excluded.at >= gtc_threads.at`

func threadArgs(tenant, team string, u *ThreadUpdate, now int64) []any {
	at := ms(u.At)
	if u.At.IsZero() {
		at = now
	}
	return []any{tenant, team, safeText(u.ContactKey), u.Owner, safeText(u.Why), safeText(u.Role), at, now}
}

// SetThread records who controls the contact's thread (a thread control call gtc made).
func (s *Store) SetThread(ctx context.Context, tenant, team string, u ThreadUpdate) error {
	if u.ContactKey == "" || u.Owner == "" {
		return errors.New("record thread control: no contact or owner")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, upsertThreadSQL, threadArgs(tenant, team, &u, s.now())...); err != nil {
			return fmt.Errorf("record thread control: %w", err)
		}
		return nil
	})
}

// ThreadsFor reads the thread control of refs; a contact without a record has a zero
// Thread.
func (s *Store) ThreadsFor(ctx context.Context, refs []ContactRef) (map[ContactRef]*Thread, error) {
	out := make(map[ContactRef]*Thread, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	st, err := s.rdb.PrepareContext(ctx, `SELECT owner, why, role, at, updated_at FROM gtc_threads
		WHERE tenant = $1 AND team = $2 AND contact_key = $3`)
	if err != nil {
		return nil, fmt.Errorf("read thread control: %w", err)
	}
	defer st.Close()
	for _, r := range refs {
		var t Thread
		var at, upd int64
		err := st.QueryRowContext(ctx, r.Tenant, r.Team, r.Key).Scan(&t.Owner, &t.Why, &t.Role, &at, &upd)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("read thread control: %w", err)
		default:
			t.At, t.UpdatedAt = fromMS(at), fromMS(upd)
		}
		out[r] = &t
	}
	return out, nil
}

// ThreadOf reads one contact's thread control.
func (s *Store) ThreadOf(ctx context.Context, ref ContactRef) (*Thread, error) {
	m, err := s.ThreadsFor(ctx, []ContactRef{ref})
	if err != nil {
		return nil, err
	}
	return m[ref], nil
}
