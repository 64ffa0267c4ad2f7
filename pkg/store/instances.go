package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// Several `gtc serve` on one PostgreSQL database (DESIGN.md §7) know of each other through
// gtc_instances: each registers on start and refreshes seen_at on a heartbeat. An instance
// not seen for a while is dead, and the first live instance to notice reaps it: in one
// transaction it deletes the instance's row, frees the contacts it leased and the outbound
// messages it was sending, and (through the caller's enqueue) inserts the jobs that finish
// that work. Deleting the row first makes the reaping happen once.

// OpenSend is an outbound message freed by a reap, to be sent again by a job.
type OpenSend struct {
	ID            int64
	NextAttemptAt time.Time
}

// Orphans is the work a reaped instance left.
type Orphans struct {
	Instance string
	// Contacts it had leased or was replying to: they need an inbound job, which sends the
	// replies a flow run left (the contact's Takeover flag) before any newer message.
	Contacts []ContactRef
	// Sends are the other outbound messages it was sending (the send API's, retries, and
	// the sends under way, now ambiguous): each needs a send job.
	Sends []OpenSend
}

// Liveness is judged on the database's clock, not the instances': machines whose clocks
// disagree must not take each other for dead.

// dbNowMS is the database's current time in Unix milliseconds, as SQL.
func (s *Store) dbNowMS() string {
	if s.Postgres() {
		return `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`
}

// RegisterInstance records instance id as alive now.
func (s *Store) RegisterInstance(ctx context.Context, id string) error {
	now := s.dbNowMS()
	_, err := s.db.ExecContext(ctx, `INSERT INTO gtc_instances (id, started_at, seen_at) VALUES ($1, `+now+`, `+now+`)
		ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`, id)
	if err != nil {
		return fmt.Errorf("register instance: %w", err)
	}
	return nil
}

// Heartbeat refreshes instance id's seen_at. It returns false when the row is gone: another
// instance took this one for dead and reaped its work (a stall longer than the dead-after
// time); the caller registers again and says so loudly.
func (s *Store) Heartbeat(ctx context.Context, id string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE gtc_instances SET seen_at = `+s.dbNowMS()+` WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Instances lists the registered instances and when each was last seen.
func (s *Store) Instances(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, seen_at FROM gtc_instances ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var seen int64
		if err := rows.Scan(&id, &seen); err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		out[id] = fromMS(seen)
	}
	return out, rows.Err()
}

// ReapInstances reaps every instance not seen for deadAfter (by the database's clock), or, when only is set,
// that one instance whatever its heartbeat (a clean stop hands its work over). For each it
// frees the contacts leased by "<id>:…" owners and the open outbound messages with a
// "<id>:…" sender, and calls enqueue in the same transaction with what it freed; an error
// from enqueue rolls the reap back. It returns what it reaped.
func (s *Store) ReapInstances(ctx context.Context, deadAfter time.Duration, only string,
	enqueue func(ctx context.Context, tx *sql.Tx, o Orphans) error) ([]Orphans, error) {
	var out []Orphans
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		var rows *sql.Rows
		var err error
		if only != "" {
			rows, err = tx.QueryContext(ctx, `DELETE FROM gtc_instances WHERE id = $1 RETURNING id`, only)
		} else {
			rows, err = tx.QueryContext(ctx, `DELETE FROM gtc_instances WHERE seen_at < `+s.dbNowMS()+` - $1 RETURNING id`,
				deadAfter.Milliseconds())
		}
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			o := Orphans{Instance: id}
			prefix := id + ":"
			crows, err := tx.QueryContext(ctx, `UPDATE gtc_contacts SET lease_owner = '', lease_until = 0
				WHERE lease_owner <> '' AND substr(lease_owner, 1, $1) = $2 RETURNING tenant, team, contact_key`, len(prefix), prefix)
			if err != nil {
				return err
			}
			for crows.Next() {
				var r ContactRef
				if err := crows.Scan(&r.Tenant, &r.Team, &r.Key); err != nil {
					crows.Close()
					return err
				}
				o.Contacts = append(o.Contacts, r)
			}
			crows.Close()
			if err := crows.Err(); err != nil {
				return err
			}
			seen := map[ContactRef]bool{}
			for _, c := range o.Contacts {
				seen[c] = true
			}
			// A flow run's first sends go to the contact's next job, in order (Takeover).
			hrows, err := tx.QueryContext(ctx, `UPDATE gtc_outbound_messages SET sender = ''
				WHERE sender <> '' AND substr(sender, 1, $1) = $2 AND state = 'pending' AND next_attempt_at = 0
				RETURNING tenant, team, contact_key`, len(prefix)+4, prefix+"job-")
			if err != nil {
				return err
			}
			var takeover []ContactRef
			for hrows.Next() {
				var r ContactRef
				if err := hrows.Scan(&r.Tenant, &r.Team, &r.Key); err != nil {
					hrows.Close()
					return err
				}
				if !seen[r] {
					seen[r] = true
					takeover = append(takeover, r)
					o.Contacts = append(o.Contacts, r)
				} else {
					takeover = append(takeover, r)
				}
			}
			hrows.Close()
			if err := hrows.Err(); err != nil {
				return err
			}
			// Its sends under way may have reached Graph: ambiguous, settled by their status
			// webhooks (each gets a send job, which waits for the window).
			unclear, err := s.UnclearSends(ctx, tx, prefix)
			if err != nil {
				return err
			}
			o.Sends = append(o.Sends, unclear...)
			// The rest (the send API's, retries) each get a send job.
			orows, err := tx.QueryContext(ctx, `UPDATE gtc_outbound_messages SET sender = ''
				WHERE sender <> '' AND substr(sender, 1, $1) = $2 AND state IN ('pending', 'retrying')
				RETURNING id, next_attempt_at`, len(prefix), prefix)
			if err != nil {
				return err
			}
			for orows.Next() {
				var os OpenSend
				var next int64
				if err := orows.Scan(&os.ID, &next); err != nil {
					orows.Close()
					return err
				}
				os.NextAttemptAt = fromMS(next)
				o.Sends = append(o.Sends, os)
			}
			orows.Close()
			if err := orows.Err(); err != nil {
				return err
			}
			for _, r := range takeover {
				if _, err := tx.ExecContext(ctx, `UPDATE gtc_contacts SET takeover = 1 WHERE tenant = $1 AND team = $2 AND contact_key = $3`,
					r.Tenant, r.Team, r.Key); err != nil {
					return err
				}
			}
			if enqueue != nil {
				if err := enqueue(ctx, tx, o); err != nil {
					return err
				}
			}
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reap instances: %w", err)
	}
	return out, nil
}

// TakeOverReplies makes owner the sender of the replies a dead instance left to ref (pending,
// never attempted, nobody sending) and clears the contact's Takeover flag, in one
// transaction; it returns those replies oldest first, for owner to send before anything
// newer.
func (s *Store) TakeOverReplies(ctx context.Context, ref ContactRef, owner string) ([]*Outbound, error) {
	var out []*Outbound
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE gtc_outbound_messages SET sender = $1
			WHERE tenant = $2 AND team = $3 AND contact_key = $4 AND state = 'pending' AND sender = '' AND next_attempt_at = 0
			RETURNING `+outboundCols, owner, ref.Tenant, ref.Team, ref.Key)
		if err != nil {
			return err
		}
		for rows.Next() {
			o, err := scanOutbound(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE gtc_contacts SET takeover = 0 WHERE tenant = $1 AND team = $2 AND contact_key = $3`,
			ref.Tenant, ref.Team, ref.Key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("take over replies: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
