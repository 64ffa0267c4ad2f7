package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Take books up to n sends of the phone number key in the pacing window that starts at
// start, of which at most capacity may be booked in all instances sharing the database,
// and returns how many it got (0..n). It implements whatsapp.SlotBooker, so the Pacers of
// several `gtc serve` on one PostgreSQL database share the number's throughput instead of
// each sending at the full rate. size is the window's length; windows are identified by
// their start, so all instances must pace the number at the same rate (they read it from
// the same bundle) and run on synchronized clocks.
//
// It is one statement, atomic on both backends. gtc_pacing.used counts the places handed
// out in the window, not only the granted ones: every caller adds its n and gets the
// places [used-n, used), of which those below capacity are granted. The new value alone
// then tells the old one (used-n), which a capped update (used = min(used+n, capacity))
// would lose, and concurrent callers get disjoint places, so the grants of a window add
// up to min(demand, capacity) exactly. Once a window is full (used >= capacity) it is no
// longer updated, so used stays below capacity+n; read min(used, capacity) as the sends
// booked.
func (s *Store) Take(ctx context.Context, key string, start time.Time, size time.Duration, capacity, n int) (int, error) {
	if n <= 0 || capacity <= 0 {
		return 0, nil
	}
	if size <= 0 {
		return 0, fmt.Errorf("take pacing slots for %s: window size %v is not positive", key, size)
	}
	select {
	case <-s.closed:
		return 0, ErrClosed
	default:
	}
	var used int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO gtc_pacing (phone_number_id, window_start, used)
		VALUES ($1, CAST($2 AS BIGINT), CAST($3 AS INTEGER))
		ON CONFLICT (phone_number_id, window_start) DO UPDATE SET used = gtc_pacing.used + excluded.used
		WHERE gtc_pacing.used < CAST($4 AS INTEGER)
		RETURNING used`, key, start.UnixMilli(), n, capacity).Scan(&used)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // the window was full already: the row was left alone
	}
	if err != nil {
		return 0, fmt.Errorf("take pacing slots for %s: %w", key, err)
	}
	return grant(used-int64(n), n, capacity), nil
}

// grant is how many of the n places after old are below capacity.
func grant(old int64, n, capacity int) int {
	room := int64(capacity) - old
	switch {
	case room <= 0:
		return 0
	case room < int64(n):
		return int(room)
	default:
		return n
	}
}

// PrunePacing deletes the pacing windows that started before before (all numbers); the
// server calls it now and then, as windows older than a few seconds are never read again.
func (s *Store) PrunePacing(ctx context.Context, before time.Time) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM gtc_pacing WHERE window_start < CAST($1 AS BIGINT)`, before.UnixMilli()); err != nil {
		return fmt.Errorf("prune pacing windows: %w", err)
	}
	return nil
}
