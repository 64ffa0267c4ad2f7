// Package store is gtc's durable state: contacts (24-hour window, opt-out, marketing
// preference, reachability), inbound webhook events keyed for dedupe, the outbound message
// log and its delivery statuses. It is the only package that writes SQL.
//
// The default database is SQLite (modernc.org/sqlite, pure Go) in WAL mode with
// synchronous=NORMAL and a busy timeout, opened with a single connection because SQLite
// allows one writer at a time; the same *sql.DB carries River's job tables (see DB), so the
// webhook events and the jobs that process them commit in one transaction. Ingest is a group
// commit: concurrent callers share one transaction when load is high.
//
// PostgreSQL (issue 7) plugs in at Open: the DSN scheme picks the dialect, and every
// statement lives in this package.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("store is closed")

// ErrNotFound is returned when a row asked for by id does not exist.
var ErrNotFound = errors.New("not found")

// Options tune a Store. The zero value is fine.
type Options struct {
	// Enqueue runs inside every Ingest transaction with the contacts that got new message
	// events in it, so the caller can insert the jobs that process them atomically with the
	// events (River's InsertManyTx). An error rolls the whole batch back.
	Enqueue func(ctx context.Context, tx *sql.Tx, contacts []ContactRef) error
	// MaxBatchEvents caps the events of one group commit (default 5000).
	MaxBatchEvents int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB // the one writer (and River)
	rdb  *sql.DB // readers
	opts Options

	ingestCh chan *ingestReq
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.Once
	closed   chan struct{}
}

// SQLitePath returns the file of a SQLite dsn ("path", "sqlite://path" or "file:path",
// without query options); ok is false for an empty dsn or another database's URL.
func SQLitePath(dsn string) (path string, ok bool) {
	if dsn == "" || strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite://") {
		return "", false
	}
	path = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path, true
}

// Open opens (creating if needed) the database at dsn and applies migrations; options
// (at most one) tune it. dsn is a
// SQLite file path (optionally "sqlite://path" or "file:path"); "postgres://" is reserved
// for issue 7 and reported as not supported yet.
func Open(ctx context.Context, dsn string, options ...Options) (*Store, error) {
	var opts Options
	if len(options) > 0 {
		opts = options[0]
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = 5000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return nil, fmt.Errorf("open store: PostgreSQL is not supported yet: use a SQLite file path")
	case dsn == "":
		return nil, fmt.Errorf("open store: no database path given")
	}
	path, _ := SQLitePath(dsn)
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection: SQLite has one writer, and River's SQLite driver asks for it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Reads go through rdb, today the same one connection: a separate pool of WAL readers
	// measured slower in pkg/delivery's BenchmarkIngest on the 2-core machine. The seam
	// stays (PostgreSQL, or a reader pool when it pays).
	rdb := db
	s := &Store{db: db, rdb: rdb, opts: opts, ingestCh: make(chan *ingestReq, 1024),
		stop: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	go s.committer()
	return s, nil
}

// DB is the underlying pool, for River's driver (riversqlite) and its migrations. Do not
// run SQL on it outside this package.
func (s *Store) DB() *sql.DB { return s.db }

// SetEnqueue sets Options.Enqueue after Open (the job client needs the DB first).
func (s *Store) SetEnqueue(f func(ctx context.Context, tx *sql.Tx, contacts []ContactRef) error) {
	s.opts.Enqueue = f
}

// Ping checks the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	return s.db.PingContext(ctx)
}

// Close stops the committer (after committing what it has) and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeMu.Do(func() {
		close(s.closed)
		close(s.stop)
		<-s.done
		err = s.db.Close()
	})
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS gtc_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM gtc_schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than this gtc (%d): upgrade gtc", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO gtc_schema_migrations (version, applied_at) VALUES (?, ?)`, v, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

// SchemaVersion is the applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM gtc_schema_migrations`).Scan(&v)
	return v, err
}

func (s *Store) now() int64 { return s.opts.Now().UnixMilli() }

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
