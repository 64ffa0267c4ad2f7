package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// Retention says how long the state database keeps what it records: message content (inbound
// events, the outbound log, statuses, pricing, ended conversations) and the send API's
// Idempotency-Key answers. A zero duration keeps forever.
type Retention struct {
	Messages        time.Duration
	IdempotencyKeys time.Duration
}

// DedupeWindow is how long an inbound event's row is kept at least, its content removed
// after Retention.Messages: Meta redelivers a webhook for up to 7 days, and the row's key
// is what drops the redelivery.
const DedupeWindow = 8 * 24 * time.Hour

// Pruned counts what one Prune removed.
type Pruned struct {
	InboundEvents   int // rows deleted
	InboundCleared  int // rows whose content was removed (kept for deduplication)
	Outbound        int
	Statuses        int
	Pricing         int
	Conversations   int
	IdempotencyKeys int
	LimitContacts   int
}

// Total is every row Prune deleted or cleared.
func (p Pruned) Total() int {
	return p.InboundEvents + p.InboundCleared + p.Outbound + p.Statuses + p.Pricing + p.Conversations + p.IdempotencyKeys + p.LimitContacts
}

// openOutboundStates are the outbound states of work not finished: retention never deletes
// them, whatever their age.
var openOutboundStates = []string{OutPending, OutRetrying, OutSending, OutAmbiguous}

// Prune applies r at now and keeps what open work needs: a pending inbound event (not
// processed yet), an outbound row still to be sent (pending, retrying or being sent), a
// waiting, calling or handed-off conversation. Contacts are never deleted (an opt-out must
// hold forever); a processed inbound event older than r.Messages loses its content and is
// deleted once older than DedupeWindow too. The messaging limit's rows older than its
// 24-hour window go whatever r says.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error) {
	var p Pruned
	// Each statement deletes at most pruneBatch rows and runs again until it finds fewer,
	// so a first run on a large database never holds the write lock for long (ingest waits
	// for it on SQLite).
	exec := func(n *int, q string, args ...any) error {
		for {
			res, err := s.db.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			*n += int(k)
			if k < pruneBatch {
				return nil
			}
		}
	}
	batch := ` LIMIT ` + strconv.Itoa(pruneBatch) + `)`
	err := func() error {
		if r.Messages > 0 {
			cut := ms(now.Add(-r.Messages))
			del := ms(now.Add(-max(r.Messages, DedupeWindow)))
			if err := exec(&p.InboundEvents, `DELETE FROM gtc_inbound_events WHERE seq IN (SELECT seq FROM gtc_inbound_events
				WHERE received_at < $1 AND state <> $2`+batch, del, EventPending); err != nil {
				return err
			}
			if err := exec(&p.InboundCleared, `UPDATE gtc_inbound_events SET event = $1 WHERE seq IN (SELECT seq FROM gtc_inbound_events
				WHERE received_at < $2 AND state <> $3 AND length(event) > 2`+batch, []byte("{}"), cut, EventPending); err != nil {
				return err
			}
			args := []any{cut}
			if err := exec(&p.Outbound, `DELETE FROM gtc_outbound_messages WHERE id IN (SELECT id FROM gtc_outbound_messages
				WHERE created_at < $1 AND sender = '' AND state NOT IN (`+params(&args, openOutboundStates)+`)`+batch, args...); err != nil {
				return err
			}
			if err := exec(&p.Statuses, `DELETE FROM gtc_outbound_statuses WHERE (wamid, status) IN (SELECT wamid, status
				FROM gtc_outbound_statuses WHERE at < $1`+batch, cut); err != nil {
				return err
			}
			if err := exec(&p.Pricing, `DELETE FROM gtc_message_pricing WHERE (tenant, team, wamid) IN (SELECT tenant, team, wamid
				FROM gtc_message_pricing WHERE at < $1`+batch, cut); err != nil {
				return err
			}
			if err := exec(&p.Conversations, `DELETE FROM gtc_conversations WHERE (tenant, team, contact_key) IN (SELECT tenant, team, contact_key
				FROM gtc_conversations WHERE updated_at < $1 AND conversation = '' AND state = ''`+batch, cut); err != nil {
				return err
			}
		}
		if r.IdempotencyKeys > 0 {
			if err := exec(&p.IdempotencyKeys, `DELETE FROM gtc_idempotency_keys WHERE (tenant, team, idem_key) IN (SELECT tenant, team, idem_key
				FROM gtc_idempotency_keys WHERE created_at < $1`+batch, ms(now.Add(-r.IdempotencyKeys))); err != nil {
				return err
			}
		}
		return exec(&p.LimitContacts, `DELETE FROM gtc_limit_contacts WHERE (scope, contact_key) IN (SELECT scope, contact_key
			FROM gtc_limit_contacts WHERE last_at <= $1`+batch, ms(now.Add(-LimitWindow)))
	}()
	if err != nil {
		return p, fmt.Errorf("apply retention: %w", err)
	}
	return p, nil
}

// pruneBatch is how many rows one statement of Prune deletes at most.
const pruneBatch = 1000

// TableAge is how many rows a table holds and the time of its oldest.
type TableAge struct {
	Rows   int
	Oldest time.Time // zero when empty
}

// RetentionState is what retention works on, for gtc doctor: every tenant's rows.
type RetentionState struct {
	InboundEvents   TableAge // by received time, content still held (not cleared)
	Outbound        TableAge // by creation
	IdempotencyKeys TableAge
}

// RetentionStateOf counts the rows retention applies to and finds the oldest of each.
func (s *Store) RetentionStateOf(ctx context.Context) (*RetentionState, error) {
	var r RetentionState
	for _, q := range []struct {
		t   *TableAge
		sql string
	}{
		{&r.InboundEvents, `SELECT COUNT(*), MIN(received_at) FROM gtc_inbound_events WHERE length(event) > 2`},
		{&r.Outbound, `SELECT COUNT(*), MIN(created_at) FROM gtc_outbound_messages`},
		{&r.IdempotencyKeys, `SELECT COUNT(*), MIN(created_at) FROM gtc_idempotency_keys`},
	} {
		var oldest sql.NullInt64
		if err := s.rdb.QueryRowContext(ctx, q.sql).Scan(&q.t.Rows, &oldest); err != nil {
			return nil, fmt.Errorf("read retention state: %w", err)
		}
		q.t.Oldest = fromMS(oldest.Int64)
	}
	return &r, nil
}
