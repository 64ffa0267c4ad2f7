package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IdempotencyKey is a send API request's Idempotency-Key (per tenant/team) and the hash of
// the request it guards. It is reserved in the transaction that records the request's
// messages (RecordOutboundOnce, RecordStart), so two requests with one key never both
// record, and send, a message.
type IdempotencyKey struct {
	Tenant, Team, Key string
	RequestHash       string
}

// ErrKeyTaken is returned, wrapped, by a record whose Idempotency-Key another request has
// reserved: nothing was recorded, and the other request's answer is this one's.
var ErrKeyTaken = errors.New("idempotency key reserved by another request")

// Idempotent is what is kept for a send API request with an Idempotency-Key: its
// reservation, then the first answer given.
type Idempotent struct {
	// RequestHash identifies the request the key was first used with.
	RequestHash string
	// Status and Body are the answer; Status is 0 while the key is only reserved.
	Status    int
	Body      []byte
	CreatedAt time.Time
	// OutboundIDs are the messages recorded with the reservation (none for an answer
	// saved without one).
	OutboundIDs []int64
}

// Reserved reports that the request holding the key has recorded its messages and given
// no answer yet (it is sending them, or it died before answering).
func (in *Idempotent) Reserved() bool { return in.Status == 0 }

// IdempotentAnswer returns the reservation or answer kept for key in tenant/team, or
// ErrNotFound.
func (s *Store) IdempotentAnswer(ctx context.Context, tenant, team, key string) (*Idempotent, error) {
	return s.idempotent(ctx, s.rdb, tenant, team, key)
}

// SaveIdempotent saves the answer for key in tenant/team to the request identified by
// requestHash, unless an answer is saved already, and returns the saved one: the first
// answer wins. It completes the key's reservation, or records the key when the request
// reserved none.
func (s *Store) SaveIdempotent(ctx context.Context, tenant, team, key, requestHash string, status int, body []byte) (*Idempotent, error) {
	if status == 0 {
		return nil, errors.New("save idempotency key: an answer needs a status")
	}
	if body == nil {
		body = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO gtc_idempotency_keys (tenant, team, idem_key, request_hash, status, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant, team, idem_key) DO UPDATE SET status = excluded.status, body = excluded.body
		WHERE gtc_idempotency_keys.status = 0 AND gtc_idempotency_keys.request_hash = excluded.request_hash`,
		tenant, team, key, requestHash, status, body, s.now())
	if err != nil {
		return nil, fmt.Errorf("save idempotency key: %w", err)
	}
	return s.idempotent(ctx, s.db, tenant, team, key)
}

// reserveKey reserves k in tx for the messages ids, or returns ErrKeyTaken when another
// request holds it (on PostgreSQL a reservation not yet committed is waited for). A nil
// k reserves nothing.
func reserveKey(ctx context.Context, tx *sql.Tx, k *IdempotencyKey, ids []int64, now int64) error {
	if k == nil {
		return nil
	}
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = strconv.FormatInt(id, 10)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO gtc_idempotency_keys (tenant, team, idem_key, request_hash, status, body, created_at, outbound_ids)
		VALUES ($1, $2, $3, $4, 0, $5, $6, $7) ON CONFLICT (tenant, team, idem_key) DO NOTHING`,
		k.Tenant, k.Team, k.Key, k.RequestHash, []byte{}, now, strings.Join(list, ","))
	if err != nil {
		return fmt.Errorf("reserve idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("reserve idempotency key: %w", errors.Join(ErrKeyTaken, err))
	}
	return nil
}

func (s *Store) idempotent(ctx context.Context, db *sql.DB, tenant, team, key string) (*Idempotent, error) {
	var in Idempotent
	var created int64
	var ids string
	err := db.QueryRowContext(ctx, `SELECT request_hash, status, body, created_at, outbound_ids FROM gtc_idempotency_keys
		WHERE tenant = $1 AND team = $2 AND idem_key = $3`, tenant, team, key).Scan(&in.RequestHash, &in.Status, &in.Body, &created, &ids)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	in.CreatedAt = fromMS(created)
	for _, f := range strings.Split(ids, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read idempotency key: outbound ids %q: %w", ids, err)
		}
		in.OutboundIDs = append(in.OutboundIDs, id)
	}
	return &in, nil
}
