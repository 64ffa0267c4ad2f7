// Package storetest gives tests a fresh database of each backend: a SQLite file in the
// test's temporary folder, and, when GTC_TEST_POSTGRES_URL names a PostgreSQL database, a
// schema of its own in it (dropped at the end), so tests run in parallel without seeing
// each other's rows or River jobs.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvPostgres names the variable that points the tests at PostgreSQL, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable (.ci/run sets it).
const EnvPostgres = "GTC_TEST_POSTGRES_URL"

// Backend is one database kind tests run against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	// DSN returns a fresh, empty database of this backend for t.
	DSN func(t testing.TB) string
}

// SQLite is a file under t.TempDir().
var SQLite = Backend{Name: "sqlite", DSN: func(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "gtc.db")
}}

// Postgres is a new schema in GTC_TEST_POSTGRES_URL's database; the test is skipped, with a
// message, when the variable is unset.
var Postgres = Backend{Name: "postgres", DSN: PostgresDSN}

// Each runs f as one subtest per backend: sqlite always, postgres when configured (its
// subtest skips with a message otherwise). The two run in parallel (each has its own file or
// schema): the store and delivery tests mostly wait on timers and servers, and this took
// about 15 % off their time in .ci/run.
func Each(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range []Backend{SQLite, Postgres} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// PostgresDSN creates a schema of its own for t in GTC_TEST_POSTGRES_URL's database and
// returns a URL whose search_path selects it; the schema is dropped when t ends. Without
// the variable, t is skipped.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set: skipping the PostgreSQL backend (bash .ci/run sets it)", EnvPostgres)
	}
	dsn, drop, err := NewSchema(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Log(err)
		}
	})
	return dsn
}

// NewSchema creates a uniquely named schema in base's database and returns a URL whose
// search_path selects it, and a function that drops it.
func NewSchema(base string) (dsn string, drop func() error, err error) {
	_, dsn, drop, err = CreateSchema(context.Background(), base, "gtc_test_")
	return dsn, drop, err
}

// CreateSchema creates a schema named prefix and a random suffix in base's database and
// returns its name, a URL whose search_path selects it, and a function that drops it (the
// load tool uses it too, with its own prefix).
func CreateSchema(ctx context.Context, base, prefix string) (schema, dsn string, drop func() error, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", "", nil, fmt.Errorf("PostgreSQL URL: %w", err)
	}
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", "", nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer c.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop = func() error {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return schema, u.String(), drop, nil
}
