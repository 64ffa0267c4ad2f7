package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// The store writes its SQL once, with ? placeholders and the subset of SQL that SQLite and
// PostgreSQL share (ON CONFLICT, RETURNING, CASE instead of two-argument MAX, explicit CASTs
// where PostgreSQL cannot infer a parameter's type). conn and txn rewrite the placeholders
// to $1, $2, … for PostgreSQL; the schemas differ and live apart (migrations and
// pgMigrations in schema.go).

// conn is the store's database handle: *sql.DB with placeholders rewritten for the dialect.
type conn struct {
	*sql.DB
	pg bool
}

func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.DB.ExecContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.DB.QueryRowContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return c.DB.PrepareContext(ctx, rebind(c.pg, q))
}

// txn is a transaction of the store, with the same rewriting as conn.
type txn struct {
	*sql.Tx
	pg bool
}

func (t *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(t.pg, q), args...)
}

func (t *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

func (t *txn) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, rebind(t.pg, q))
}

var rebound sync.Map // query → PostgreSQL form

// rebind turns ? placeholders into $n for PostgreSQL. The store's SQL never has a ? inside
// a string literal or an identifier, so a plain scan is exact; the result is cached, as the
// same few dozen statements run all the time.
func rebind(pg bool, q string) string {
	if !pg || !strings.Contains(q, "?") {
		return q
	}
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}
