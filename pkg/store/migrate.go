package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// The schema lives in migrations/<backend>/NNNN_what.sql, one folder per backend with the
// same versions (the PostgreSQL files use BIGINT for the millisecond times, BYTEA and
// identity columns). Open applies the versions a database lacks, each in its own
// transaction, and records them in gtc_schema_migrations, the table gtc has always used, so
// databases made before the files existed upgrade in place. Never edit a released file: add
// the next version to both folders (TestMigrationsInStep checks they match).
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one schema version.
type migration struct {
	version int
	name    string // file name, for errors
	sql     string
}

// loadMigrations reads backend's files ("sqlite" or "postgres") in version order.
func loadMigrations(backend string) ([]migration, error) {
	return readMigrations(migrationFiles, path.Join("migrations", backend))
}

// readMigrations reads dir's NNNN_what.sql files, which must number 1, 2, 3, … without gaps.
func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	ents, err := fs.ReadDir(fsys, dir) // sorted by name
	if err != nil {
		return nil, err
	}
	list := make([]migration, 0, len(ents))
	for i, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: want %04d_<what>.sql", dir, e.Name(), i+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		list = append(list, migration{version: v, name: e.Name(), sql: string(b)})
	}
	return list, nil
}

func (s *Store) backend() string {
	if s.Postgres() {
		return "postgres"
	}
	return "sqlite"
}

func (s *Store) migrate(ctx context.Context) error {
	return s.Exclusive(ctx, func() error { return s.migrateLocked(ctx) })
}

func (s *Store) migrateLocked(ctx context.Context) error {
	list, err := loadMigrations(s.backend())
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The version table as the first runner made it (BIGINT times on PostgreSQL).
	table := `CREATE TABLE IF NOT EXISTS gtc_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`
	if s.Postgres() {
		table = `CREATE TABLE IF NOT EXISTS gtc_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`
	}
	if _, err := s.db.ExecContext(ctx, table); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(list) {
		return fmt.Errorf("migrate: database schema version %d is newer than this gtc (%d): upgrade gtc", current, len(list))
	}
	for _, m := range list[current:] {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO gtc_schema_migrations (version, applied_at) VALUES ($1, $2)`, m.version, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d (%s/%s): %w", m.version, s.backend(), m.name, err)
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
