package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Idempotent is the first answer given to a send API request with an Idempotency-Key.
type Idempotent struct {
	// RequestHash identifies the request the key was first used with.
	RequestHash string
	Status      int
	Body        []byte
	CreatedAt   time.Time
}

// IdempotentAnswer returns the answer saved for key in tenant/team, or ErrNotFound.
func (s *Store) IdempotentAnswer(ctx context.Context, tenant, team, key string) (*Idempotent, error) {
	return s.idempotent(ctx, s.rdb, tenant, team, key)
}

// SaveIdempotent saves the answer for key in tenant/team to the request identified by
// requestHash unless one is saved already, and returns the saved one: the first answer wins.
func (s *Store) SaveIdempotent(ctx context.Context, tenant, team, key, requestHash string, status int, body []byte) (*Idempotent, error) {
	if body == nil {
		body = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO gtc_idempotency_keys (tenant, team, idem_key, request_hash, status, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, team, idem_key) DO NOTHING`, tenant, team, key, requestHash, status, body, s.now())
	if err != nil {
		return nil, fmt.Errorf("save idempotency key: %w", err)
	}
	return s.idempotent(ctx, s.db, tenant, team, key)
}

func (s *Store) idempotent(ctx context.Context, db *sql.DB, tenant, team, key string) (*Idempotent, error) {
	var in Idempotent
	var created int64
	err := db.QueryRowContext(ctx, `SELECT request_hash, status, body, created_at FROM gtc_idempotency_keys
		WHERE tenant = $1 AND team = $2 AND idem_key = $3`, tenant, team, key).Scan(&in.RequestHash, &in.Status, &in.Body, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	in.CreatedAt = fromMS(created)
	return &in, nil
}
