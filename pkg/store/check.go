package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"syscall"
	"time"
)

// MinFreeBytes is the free disk space under which CheckWrite says a SQLite store cannot
// take writes (an ingest could fail half way through its WAL growth).
const MinFreeBytes = 16 << 20

// CheckWrite tells whether a write transaction could commit now, giving up when ctx ends:
// on SQLite, BEGIN IMMEDIATE on a short-lived connection of its own (busy_timeout from ctx,
// so another process's write lock is seen, not waited out) and the free disk space; on
// PostgreSQL, a no-op UPDATE in a transaction with lock_timeout from ctx (a read-only
// replica or a locked table fails). It never writes anything.
func (s *Store) CheckWrite(ctx context.Context) error {
	wait := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), time.Millisecond)
	}
	if s.Postgres() {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("check write: %w", err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", wait.Milliseconds())); err != nil {
			return fmt.Errorf("check write: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE gtc_schema_migrations SET applied_at = applied_at
			WHERE version = (SELECT MAX(version) FROM gtc_schema_migrations)`); err != nil {
			return fmt.Errorf("check write: the database does not take writes: %w", err)
		}
		return nil
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(s.dsn), &fs); err == nil {
		if free := uint64(fs.Bavail) * uint64(fs.Bsize); free < MinFreeBytes {
			return fmt.Errorf("check write: only %d bytes free on the disk of %s: free some space", free, s.dsn)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", wait.Milliseconds()))
	db, err := sql.Open("sqlite", "file:"+s.dsn+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("check write: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("check write: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("check write: the database is write-locked: %w", err)
	}
	_, err = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	return err
}
