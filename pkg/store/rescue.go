package store

import (
	"context"
	"database/sql"
	"fmt"
)

// RescueRunningJobs makes River jobs that a gone process left running available again at
// once, instead of after River's rescuer (an hour by default): a job killed mid-way (a
// backend call, a send) is worked again by a live instance. On SQLite, where one process
// owns the file, it takes every running job and is called at start; on PostgreSQL it takes
// only the jobs whose last attempt was by instance (a dead one being reaped), inside tx.
func (s *Store) RescueRunningJobs(ctx context.Context, tx *sql.Tx, instance string) (int64, error) {
	q, args := `UPDATE river_job SET state = 'available' WHERE state = 'running'`, []any(nil)
	if s.Postgres() {
		q += ` AND attempted_by[array_length(attempted_by, 1)] = $1`
		args = append(args, instance)
	}
	var res sql.Result
	var err error
	if tx != nil {
		res, err = tx.ExecContext(ctx, q, args...)
	} else {
		res, err = s.db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, fmt.Errorf("rescue running jobs: %w", err)
	}
	return res.RowsAffected()
}

// WakeDueJobs makes River jobs whose time has come (scheduled, or retryable after an error)
// available now, as River's scheduler does, but without waiting for it: it runs only on the
// elected leader and every few seconds, so work recovered at start would wait for it. Call
// it at start on SQLite, where this process is the only one.
func (s *Store) WakeDueJobs(ctx context.Context) (int64, error) {
	now := `datetime('now', 'subsec')`
	if s.Postgres() {
		now = `now()`
	}
	res, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= `+now)
	if err != nil {
		return 0, fmt.Errorf("wake due jobs: %w", err)
	}
	return res.RowsAffected()
}
