package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The batch calls below let one job handle many contacts with a handful of transactions
// instead of several per message (DESIGN.md §6: commits are the budget).

// ClaimContacts claims each contact for owner until until (see ClaimContact) in one
// transaction and returns the ones it got.
func (s *Store) ClaimContacts(ctx context.Context, refs []ContactRef, owner string, until time.Time) ([]ContactRef, error) {
	var got []ContactRef
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		got = got[:0]
		st, err := s.prepTx(ctx, tx, claimSQL)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range refs {
			res, err := st.ExecContext(ctx, owner, ms(until), r.Tenant, r.Team, r.Key, owner, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				got = append(got, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim contacts: %w", err)
	}
	return got, nil
}

// ReleaseContacts releases owner's leases on refs, atomically with a check for pending
// events (see ReleaseContact); it returns the contacts that still have some and stay claimed.
func (s *Store) ReleaseContacts(ctx context.Context, refs []ContactRef, owner string) ([]ContactRef, error) {
	var more []ContactRef
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		more, err = s.releaseContacts(ctx, tx, refs, owner)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("release contacts: %w", err)
	}
	return more, nil
}

// releaseContacts is ReleaseContacts in tx. Each contact's row is locked before the check:
// a job whose claim found the contact leased claimed after its events committed, so either
// the check sees them (the lease is kept) or the claim waits for the release and gets the
// contact. Checking first let events that committed between the check and the release
// wait with no job (PostgreSQL runs each statement on its own snapshot).
func (s *Store) releaseContacts(ctx context.Context, tx *sql.Tx, refs []ContactRef, owner string) ([]ContactRef, error) {
	var more []ContactRef
	has, err := s.prepTx(ctx, tx, hasWorkSQL)
	if err != nil {
		return nil, err
	}
	defer has.Close()
	lock, err := s.prepTx(ctx, tx, lockLeaseSQL)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	rel, err := s.prepTx(ctx, tx, releaseSQL)
	if err != nil {
		return nil, err
	}
	defer rel.Close()
	for _, r := range refs {
		if _, err := lock.ExecContext(ctx, r.Tenant, r.Team, r.Key, owner); err != nil {
			return nil, err
		}
		var n int
		if err := has.QueryRowContext(ctx, r.Tenant, r.Team, r.Key).Scan(&n); err != nil {
			return nil, err
		}
		if s.releaseLooked != nil {
			s.releaseLooked()
		}
		if n > 0 {
			more = append(more, r)
			continue
		}
		if _, err := rel.ExecContext(ctx, r.Tenant, r.Team, r.Key, owner); err != nil {
			return nil, err
		}
	}
	return more, nil
}

// Completion is one processed event with what its flow run decided.
type Completion struct {
	Event   *StoredEvent
	Opt     *OptChange
	Replies []NewOutbound
	// Conversation, when set, is the contact's conversation after this event (written only
	// when the event is processed here, with the replies).
	Conversation *ConversationUpdate
	// Events are the event webhooks this event makes, recorded with it (only when it is
	// processed here).
	Events []OutboxEvent
	// Done, IDs and Created are set by CompleteEvents: Done is false when the event had
	// already been processed (nothing recorded); IDs are the replies' outbound ids, Created
	// their rows' creation time.
	Done    bool
	IDs     []int64
	Created time.Time
}

// CompleteEvents records many completions (see CompleteEvent) in one transaction.
func (s *Store) CompleteEvents(ctx context.Context, cs []*Completion) error {
	return s.CompleteEventsTx(ctx, cs, nil)
}

// CompleteEventsTx is CompleteEvents with inTx, when set, run in the same transaction after
// the completions are recorded (their Done set): the delivery layer inserts the jobs of the
// conversations' timeouts there, so a waiting conversation always has its timeout job.
func (s *Store) CompleteEventsTx(ctx context.Context, cs []*Completion, inTx func(context.Context, *sql.Tx) error) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		mark, err := s.prepTx(ctx, tx, markProcessedSQL)
		if err != nil {
			return err
		}
		defer mark.Close()
		ins, err := s.prepTx(ctx, tx, insertOutboundSQL)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, c := range cs {
			c.Done, c.IDs = false, nil
			res, err := mark.ExecContext(ctx, now, c.Event.Seq)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			c.Done = true
			ev := c.Event
			if c.Opt != nil {
				if err := setOptOut(ctx, tx, ContactRef{ev.Tenant, ev.Team, ev.ContactKey}, c.Opt.OptedOut, c.Opt.At, now); err != nil {
					return err
				}
			}
			if c.IDs, err = insertOutbound(ctx, tx, ins, ev.Tenant, ev.Team, ev.Seq, c.Replies, now); err != nil {
				return err
			}
			c.Created = fromMS(now)
			if c.Conversation != nil {
				if err := saveConversation(ctx, tx, ContactRef{ev.Tenant, ev.Team, ev.ContactKey}, c.Conversation, now); err != nil {
					return err
				}
			}
			if len(c.Events) > 0 {
				if err := AddOutbox(ctx, tx, ContactRef{ev.Tenant, ev.Team, ev.ContactKey}, c.Events, fromMS(now)); err != nil {
					return err
				}
			}
		}
		if inTx != nil {
			return inTx(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete events: %w", err)
	}
	return nil
}

// Finish is the outcome of one outbound message (see FinishOutbound).
type Finish struct {
	ID     int64
	Result OutboundResult
	// Unreachable records Result.ErrorCode on the message's contact.
	Unreachable bool
	// Aliases are what Graph's answer said the recipient is (contacts[].wa_id and user_id,
	// and the input as typed): recorded as aliases of the message's contact (LinkAliases,
	// the answer's ids first).
	Aliases []Alias
	// Owner and Attempt name the marked send this is the outcome of (Start): recorded only
	// while the row is still that send. Attempt 0: an outcome without a marked send,
	// recorded while the row is open and not another owner's (Owner "": anyone's).
	Owner   string
	Attempt int
}

// FinishOutbounds records many send outcomes in one transaction and clears their sender;
// inTx, when set, runs in the same transaction.
func (s *Store) FinishOutbounds(ctx context.Context, fs []Finish, inTx func(context.Context, *sql.Tx) error) error {
	if len(fs) == 0 {
		return nil
	}
	return s.SendSteps(ctx, []*SendStep{{Finish: fs, InTx: inTx}})
}

// FinishAndRelease is FinishOutbounds and then ReleaseContacts of refs in one transaction:
// a job's last commit of a round records its sends and hands its contacts back. It returns
// the contacts that still have pending events and stay claimed.
func (s *Store) FinishAndRelease(ctx context.Context, fs []Finish, inTx func(context.Context, *sql.Tx) error, refs []ContactRef, owner string) ([]ContactRef, error) {
	var more []ContactRef
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.finishOutbounds(ctx, tx, fs, inTx); err != nil {
			return fmt.Errorf("record sends: %w", err)
		}
		var err error
		if more, err = s.releaseContacts(ctx, tx, refs, owner); err != nil {
			return fmt.Errorf("release contacts: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return more, nil
}

// finishOutbounds records fs, then runs inTx, in tx.
func (s *Store) finishOutbounds(ctx context.Context, tx *sql.Tx, fs []Finish, inTx func(context.Context, *sql.Tx) error) error {
	if len(fs) > 0 {
		f, err := s.newFinisher(ctx, tx)
		if err != nil {
			return err
		}
		defer f.close()
		now := s.now()
		for _, fin := range fs {
			if err := f.finish(ctx, tx, fin, now); err != nil {
				return err
			}
		}
	}
	if inTx != nil {
		return inTx(ctx, tx)
	}
	return nil
}

// lockLeaseSQL locks a contact's row for its lease owner $4 (a no-op update; on SQLite the
// transaction's write lock does the same).
const lockLeaseSQL = `UPDATE gtc_contacts SET lease_owner = lease_owner
	WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND lease_owner = $4`

// ContactsFor reads several contacts; unknown ones come back with Known false.
func (s *Store) ContactsFor(ctx context.Context, refs []ContactRef) (map[ContactRef]*Contact, error) {
	out := make(map[ContactRef]*Contact, len(refs))
	st, done, err := s.prepRead(ctx, contactSQL)
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	defer done()
	for _, r := range refs {
		c, err := scanContact(st.QueryRowContext(ctx, r.Tenant, r.Team, r.Key))
		if errors.Is(err, sql.ErrNoRows) {
			c, err = &Contact{Tenant: r.Tenant, Team: r.Team, Key: r.Key}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read contacts: %w", err)
		}
		out[r] = c
	}
	return out, nil
}

// PendingEventsFor returns up to limit pending message events of each contact, in arrival
// order (see PendingEvents).
func (s *Store) PendingEventsFor(ctx context.Context, refs []ContactRef, limit int) (map[ContactRef][]*StoredEvent, error) {
	out := make(map[ContactRef][]*StoredEvent, len(refs))
	st, done, err := s.prepRead(ctx, pendingSQL)
	if err != nil {
		return nil, fmt.Errorf("read pending events: %w", err)
	}
	defer done()
	for _, r := range refs {
		rows, err := st.QueryContext(ctx, r.Tenant, r.Team, r.Key, limit)
		if err != nil {
			return nil, fmt.Errorf("read pending events: %w", err)
		}
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read pending events: %w", err)
			}
			out[r] = append(out[r], e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read pending events: %w", err)
		}
	}
	return out, nil
}

// applyEarlyStatuses applies statuses that arrived before the send was recorded (Meta can
// post "sent" before gtc commits the wamid): the best of them moves the row forward.
func applyEarlyStatuses(ctx context.Context, tx *sql.Tx, early *sql.Stmt, id int64, wamid string, now int64) error {
	rows, err := early.QueryContext(ctx, wamid)
	if err != nil {
		return err
	}
	best, bestRank, class, code := "", 0, "", 0
	for rows.Next() {
		var st, cl string
		var c int
		if err := rows.Scan(&st, &cl, &c); err != nil {
			rows.Close()
			return err
		}
		rank := stateRank(st)
		if st == "failed" {
			rank = 100
		}
		if rank > bestRank {
			best, bestRank, class, code = st, rank, cl, c
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || best == "" || best == "sent" {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE gtc_outbound_messages SET state = $1, error_class = CASE WHEN $2 <> '' THEN $2 ELSE error_class END,
		error_code = CASE WHEN $3 <> 0 THEN $3 ELSE error_code END, updated_at = $4 WHERE id = $5`, best, class, code, now, id)
	if err != nil {
		return err
	}
	if best == "failed" && class == "unreachable" {
		_, err = tx.ExecContext(ctx, upsertUnreachableSQL, code, now, now, now, id)
	}
	return err
}

// upsertUnreachableSQL records an unreachable code on the contact of an outbound message
// (args: code, at, created, updated, outbound id).
const upsertUnreachableSQL = `INSERT INTO gtc_contacts (tenant, team, contact_key, unreachable_code, unreachable_at, created_at, updated_at)
	SELECT tenant, team, contact_key, $1, $2, $3, $4 FROM gtc_outbound_messages WHERE id = $5 AND true
	ON CONFLICT (tenant, team, contact_key) DO UPDATE SET unreachable_code = excluded.unreachable_code,
		unreachable_at = excluded.unreachable_at, updated_at = excluded.updated_at`

const earlyStatusesSQL = `SELECT status, error_class, error_code FROM gtc_outbound_statuses WHERE wamid = $1`
