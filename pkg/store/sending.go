package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Sends that happen once (docs/design.md, "Durability"): a row is marked sending, with its
// attempt number, in a commit before its request goes to Graph; the outcome is recorded as
// soon as it is known (with the next row's mark, in one commit); a send whose outcome is
// unclear (a timeout, a reset, a crash while sending) becomes ambiguous, and its status
// webhook (which carries the attempt in biz_opaque_callback_data) settles it.

// Start is a send about to be made: row ID, claimed by Owner.
type Start struct {
	ID    int64
	Owner string
	// UnclearBefore lets an ambiguous row be taken again (its resend): only when its unclear
	// send was made before this time, its reconciliation window past. Zero: never.
	UnclearBefore time.Time
	// Attempt is set by SendSteps: the number the row's attempt was marked with, 0 when the
	// row was not taken (sent meanwhile, no longer open, or another sender has it).
	Attempt int
}

// SendStep is one commit of a sender: the outcomes of its finished sends, InTx (run in the
// same transaction after them: the jobs of the retries, events), then the sends it starts.
type SendStep struct {
	Finish []Finish
	InTx   func(context.Context, *sql.Tx) error
	Start  []Start
}

// SendSteps records steps in one transaction (a group commit of several senders).
func (s *Store) SendSteps(ctx context.Context, steps []*SendStep) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := s.newFinisher(ctx, tx)
		if err != nil {
			return err
		}
		defer f.close()
		mark, err := s.prepTx(ctx, tx, markSendingSQL)
		if err != nil {
			return err
		}
		defer mark.Close()
		for _, st := range steps {
			for _, fin := range st.Finish {
				if err := f.finish(ctx, tx, fin, now); err != nil {
					return err
				}
			}
			if st.InTx != nil {
				if err := st.InTx(ctx, tx); err != nil {
					return err
				}
			}
			for i := range st.Start {
				sr := &st.Start[i]
				sr.Attempt = 0
				before := int64(-1) // no ambiguous row qualifies
				if !sr.UnclearBefore.IsZero() {
					before = ms(sr.UnclearBefore)
				}
				err := mark.QueryRowContext(ctx, sr.Owner, now, sr.ID, before).Scan(&sr.Attempt)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record sends: %w", err)
	}
	return nil
}

// markSendingSQL takes an open row for a send (args: owner, now, id, unclear-before).
const markSendingSQL = `UPDATE gtc_outbound_messages SET state = 'sending', attempts = attempts + 1, sender = $1, updated_at = $2
	WHERE id = $3 AND (sender = '' OR sender = $1)
	AND (state IN ('pending', 'retrying') OR (state = 'ambiguous' AND next_attempt_at < $4))
	RETURNING attempts`

// UnclearSends makes the rows being sent by owners named prefix+"…" (every row being sent
// when prefix is "": one process per SQLite file, none alive) ambiguous: their request may
// have reached Graph before the process died. Their next_attempt_at becomes the time of
// that send, from which the reconciliation window runs. It returns them.
func (s *Store) UnclearSends(ctx context.Context, tx *sql.Tx, prefix string) ([]OpenSend, error) {
	q := `UPDATE gtc_outbound_messages SET state = 'ambiguous', sender = '', next_attempt_at = updated_at
		WHERE state = 'sending' AND ($1 = '' OR substr(sender, 1, $2) = $1) RETURNING id, next_attempt_at`
	var rows *sql.Rows
	var err error
	if tx != nil {
		rows, err = tx.QueryContext(ctx, q, prefix, len(prefix))
	} else {
		rows, err = s.db.QueryContext(ctx, q, prefix, len(prefix))
	}
	if err != nil {
		return nil, fmt.Errorf("unclear sends: %w", err)
	}
	defer rows.Close()
	var out []OpenSend
	for rows.Next() {
		var os OpenSend
		var next int64
		if err := rows.Scan(&os.ID, &next); err != nil {
			return nil, fmt.Errorf("unclear sends: %w", err)
		}
		os.NextAttemptAt = fromMS(next)
		out = append(out, os)
	}
	return out, rows.Err()
}

// finisher records send outcomes inside a transaction.
type finisher struct {
	marked, open, early *sql.Stmt
	sqlite              bool // an alias learned moves the alias generation (aliasCache)
}

func (s *Store) newFinisher(ctx context.Context, tx *sql.Tx) (*finisher, error) {
	f := &finisher{sqlite: !s.Postgres()}
	var err error
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&f.marked, finishMarkedSQL}, {&f.open, finishSQL}, {&f.early, earlyStatusesSQL}} {
		if *p.st, err = s.prepTx(ctx, tx, p.q); err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (f *finisher) close() {
	for _, st := range []*sql.Stmt{f.marked, f.open, f.early} {
		if st != nil {
			st.Close()
		}
	}
}

func (f *finisher) finish(ctx context.Context, tx *sql.Tx, fin Finish, now int64) error {
	r := fin.Result
	var err error
	if fin.Attempt > 0 {
		_, err = f.marked.ExecContext(ctx, r.State, r.WAMID, r.ErrorClass, r.ErrorCode, safeText(r.ErrorMessage),
			ms(r.NextAttemptAt), now, fin.ID, fin.Owner, fin.Attempt)
	} else {
		inc := 0
		if r.Attempted {
			inc = 1
		}
		_, err = f.open.ExecContext(ctx, r.State, r.WAMID, r.ErrorClass, r.ErrorCode, safeText(r.ErrorMessage),
			ms(r.NextAttemptAt), inc, now, fin.ID, fin.Owner)
	}
	if err != nil {
		return err
	}
	if r.WAMID != "" {
		if err := applyEarlyStatuses(ctx, tx, f.early, fin.ID, r.WAMID, now); err != nil {
			return err
		}
	}
	if fin.Unreachable {
		if _, err := tx.ExecContext(ctx, upsertUnreachableSQL, r.ErrorCode, now, now, now, fin.ID); err != nil {
			return err
		}
	}
	if len(fin.Aliases) > 0 {
		var tenant, team, key string
		if err := tx.QueryRowContext(ctx, `SELECT tenant, team, contact_key FROM gtc_outbound_messages WHERE id = $1`, fin.ID).
			Scan(&tenant, &team, &key); err != nil {
			return err
		}
		aliases := append(append([]Alias(nil), fin.Aliases...), Alias{Value: key})
		if _, err := linkAliases(ctx, tx, f.sqlite, tenant, team, aliases, nil, now); err != nil {
			return err
		}
	}
	return nil
}

// finishMarkedSQL records the outcome of a marked send: only while the row is still that
// send (sending, by its owner, that attempt); a status webhook may have settled it first.
const finishMarkedSQL = `UPDATE gtc_outbound_messages SET state = $1, wamid = CASE WHEN $2 <> '' THEN $2 ELSE wamid END,
	error_class = $3, error_code = $4, error_message = $5, next_attempt_at = $6, updated_at = $7, sender = ''
	WHERE id = $8 AND state = 'sending' AND sender = $9 AND attempts = $10`

// finishSQL records an outcome without a marked send (a refusal, a pacing wait, gtc send's
// own send): while the row is open and not another sender's (an empty owner: anyone's).
const finishSQL = `UPDATE gtc_outbound_messages SET state = $1, wamid = CASE WHEN $2 <> '' THEN $2 ELSE wamid END,
	error_class = $3, error_code = $4, error_message = $5, next_attempt_at = $6, attempts = attempts + $7, updated_at = $8, sender = ''
	WHERE id = $9 AND state IN ('pending', 'retrying', 'ambiguous') AND ($10 = '' OR sender = '' OR sender = $10)`
