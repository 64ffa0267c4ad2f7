// Package store is gtc's durable state: contacts (24-hour window, opt-out, marketing
// preference, reachability), inbound webhook events keyed for dedupe, the outbound message
// log and its delivery statuses. It is the only package that writes SQL.
//
// The default database is SQLite (modernc.org/sqlite, pure Go) in WAL mode with a busy
// timeout, on two connections: one for River and the workers (synchronous=NORMAL; see DB),
// and one of its own for the ingest writer (synchronous=FULL, so an acknowledged webhook is
// on disk, see durableTx), which writes the webhook events and the jobs that process them in
// one transaction. SQLite allows one writer at a time, so the store's write transactions on
// both take a lock in the process first (wmu) rather than meet in SQLite's busy handler.
// Ingest is a group commit: concurrent callers share one transaction when load is high.
//
// PostgreSQL is the shared backend for several `gtc serve` on one database (DESIGN.md §7):
// a postgres:// DSN opens a pgx pool (github.com/jackc/pgx/v5), used through database/sql by
// the store and directly by River's pgx driver. The SQL is written once, with $n
// placeholders, which both drivers bind by number; the schemas are kept per backend as .sql
// files (migrate.go), and migrations run under an advisory lock so instances starting
// together do not race.
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
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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
	db  *sql.DB // River's and the workers' one connection on SQLite; a pool on PostgreSQL
	idb *sql.DB // the ingest writer's own connection on SQLite (synchronous=FULL); db on PostgreSQL
	rdb *sql.DB // readers
	// wmu is held by every write transaction of the store on SQLite, taken after the
	// connection and before BEGIN IMMEDIATE: the two connections' writers wait for each other
	// here, woken at once, instead of in SQLite's busy handler, which sleeps 1 to 100 ms.
	wmu sync.Mutex
	// ing holds the ingest writer's statements, prepared once on idb; hot the workers'
	// (stmts.go), prepared once on db.
	hot map[string]*sql.Stmt
	// aliasMem is the ingest writer's alias cache on SQLite (aliascache.go); nil on
	// PostgreSQL. Only the committer goroutine uses it.
	aliasMem *aliasCache
	ing      *ingestStmts
	pool     *pgxpool.Pool
	dsn      string // for messages: without the password
	opts     Options

	ingestCh chan *ingestReq
	// ingesting counts the Ingest calls in progress (IngestBacklog).
	ingesting atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	closeMu   sync.Once
	closed    chan struct{}

	// Test hooks on the committer: grouped runs after each group's transaction committed or
	// failed, answered before each request's caller is woken.
	grouped  func(requests int, err error)
	answered func(r *ingestReq)
	// releaseLooked runs in ReleaseContacts between the check for pending events and the
	// release.
	releaseLooked func()
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

// IsPostgres reports whether dsn names a PostgreSQL database (postgres:// or postgresql://).
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Redact returns dsn fit for logs and errors: a URL's password is replaced by "xxxxx".
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if IsPostgres(dsn) && err != nil {
			return "postgres://(unparsable URL)"
		}
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Open opens (creating if needed) the database at dsn and applies migrations; options
// (at most one) tune it. dsn is a SQLite file path (optionally "sqlite://path" or
// "file:path") or a PostgreSQL URL (postgres://user@host:5432/db?sslmode=disable; a
// search_path parameter picks the schema).
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
	case IsPostgres(dsn):
		return openPostgres(ctx, dsn, opts)
	case dsn == "":
		return nil, fmt.Errorf("open store: no database path given")
	}
	path, _ := SQLitePath(dsn)
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	// One connection for River and the workers: River's SQLite driver asks for it.
	db, err := openSQLite(ctx, path, "NORMAL")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Reads go through rdb, today the same one connection: a separate pool of WAL readers
	// measured slower in pkg/delivery's BenchmarkIngest on the 2-core machine. The seam
	// stays (PostgreSQL, or a reader pool when it pays).
	rdb := db
	s := &Store{db: db, rdb: rdb, dsn: path, opts: opts, ingestCh: make(chan *ingestReq, 1024),
		stop: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// The ingest writer's own connection, durable: every COMMIT on it syncs the WAL (in WAL
	// mode FULL syncs inside COMMIT, NORMAL only at checkpoints), and with it the frames the
	// other connection committed before.
	if s.idb, err = openSQLite(ctx, path, "FULL"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if s.ing, err = prepareIngest(ctx, s.idb); err != nil {
		s.idb.Close()
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := s.prepareHot(ctx); err != nil {
		s.ing.close()
		s.idb.Close()
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.aliasMem = newAliasCache()
	go s.committer()
	return s, nil
}

// openSQLite opens one connection to the SQLite file at path in WAL mode with the given
// synchronous setting; its transactions begin with BEGIN IMMEDIATE (they take the write
// lock at once rather than fail on upgrading a read).
func openSQLite(ctx context.Context, path, synchronous string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(" + synchronous + ")", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// DB is the underlying database/sql pool, for River's drivers (riversqlite, and
// riverdatabasesql for inserts inside the store's transactions on PostgreSQL) and their
// migrations. Do not run SQL on it outside this package.
func (s *Store) DB() *sql.DB { return s.db }

// Pool is the pgx pool on PostgreSQL (for River's pgx driver), nil on SQLite.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Postgres reports whether the store is on PostgreSQL, where several instances may share it.
func (s *Store) Postgres() bool { return s.pool != nil }

// String names the database for messages (a PostgreSQL URL without its password).
func (s *Store) String() string { return s.dsn }

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
		if s.ing != nil {
			s.ing.close()
		}
		err = s.closeHot()
		if s.idb != s.db {
			err = errors.Join(err, s.idb.Close())
		}
		err = errors.Join(err, s.db.Close())
		if s.pool != nil {
			s.pool.Close()
		}
	})
	return err
}

// migrationLock is the PostgreSQL advisory lock key under which instances migrate (gtc's
// tables and River's), one at a time: "gtc" in ASCII.
const migrationLock = 0x677463

// Exclusive runs f while no other gtc instance on the same database runs an Exclusive f:
// on PostgreSQL under a session advisory lock, on SQLite directly (one process per file).
// Migrations run this way, so instances starting together do not race.
func (s *Store) Exclusive(ctx context.Context, f func() error) error {
	if !s.Postgres() {
		return f()
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("wait for the migration lock: %w", err)
	}
	defer c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	return f()
}

func (s *Store) now() int64 { return s.opts.Now().UnixMilli() }

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tx1(ctx, f)
		if err == nil || !s.retryable(err) || attempt == maxTxAttempts {
			return err
		}
		// PostgreSQL broke a deadlock between instances (or a serialization conflict) by
		// aborting this transaction: every f here starts from scratch, so run it again.
		select {
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		case <-ctx.Done():
			return err
		}
	}
}

// maxTxAttempts bounds the re-runs of a transaction PostgreSQL aborted to break a deadlock.
const maxTxAttempts = 6

func (s *Store) tx1(ctx context.Context, f func(*sql.Tx) error) error {
	if s.Postgres() {
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
	// The connection first, then the write lock (see wmu): the ingest writer, which holds
	// the lock on its own connection, never waits for this one.
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retryable reports a PostgreSQL deadlock (40P01) or serialization failure (40001).
func (s *Store) retryable(err error) bool {
	var pe *pgconn.PgError
	return s.pool != nil && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
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
