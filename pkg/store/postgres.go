package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgMaxConns bounds one instance's connections: River's workers, the group commit, the send
// API and the readers share them. PostgreSQL's default max_connections (100) leaves room
// for several instances.
const pgMaxConns = 20

// openPostgres opens the shared backend: one pgx pool, seen through database/sql by the
// store (and by River's database/sql driver for inserts inside the store's transactions)
// and directly by River's pgx driver.
func openPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	name := Redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the URL; say what is wrong without it.
		return nil, fmt.Errorf("open store %s: not a valid PostgreSQL URL (expected postgres://user@host:5432/database?sslmode=disable)", name)
	}
	if cfg.MaxConns < pgMaxConns {
		cfg.MaxConns = pgMaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	// An acknowledged webhook must be on disk: commits wait for the WAL flush. A database or
	// URL that turned synchronous_commit off (or local) is raised to on for gtc's sessions;
	// stronger settings (remote_write, remote_apply) stay.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false)
			WHERE current_setting('synchronous_commit') IN ('off', 'local')`)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w (is PostgreSQL running and the database created?)", name, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	c := db
	s := &Store{db: c, rdb: c, pool: pool, dsn: name, opts: opts, ingestCh: make(chan *ingestReq, 1024),
		stop: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	s.idb = c
	if s.ing, err = prepareIngest(ctx, s.idb); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	if err := s.prepareHot(ctx); err != nil {
		s.ing.close()
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", name, err)
	}
	go s.committer()
	return s, nil
}
