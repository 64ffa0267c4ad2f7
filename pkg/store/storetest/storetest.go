// Package storetest gives tests a fresh database of each backend: a SQLite file in the
// test's temporary folder, and, when GTC_TEST_POSTGRES_URL names a PostgreSQL database, a
// schema of its own in it (dropped at the end), so tests run in parallel without seeing
// each other's rows or River jobs.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
// subtest skips with a message otherwise).
func Each(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range []Backend{SQLite, Postgres} {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
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
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvPostgres, err)
	}
	defer c.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "gtc_test_" + hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
