package messages

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/store"
)

// ErrNoState is returned by OpenState when the bundle has no state database yet.
var ErrNoState = errors.New("no state database")

// StatePath is the SQLite file of the bundle's state, or "" when the database is not a
// SQLite file (a postgres:// URL, from serve.database or GTC_DATABASE_URL).
func StatePath(b *bundle.Bundle) string {
	path, _ := store.SQLitePath(b.Database(nil))
	return path
}

// OpenState opens the bundle's state database for reading: $GTC_DATABASE_URL when set,
// else serve.database. It never creates a SQLite file: a bundle that gtc serve has not run
// yet gives an error wrapping ErrNoState. SQLite in WAL mode lets it read while gtc serve
// writes; on PostgreSQL it reads what all the instances recorded.
func OpenState(ctx context.Context, b *bundle.Bundle) (*store.Store, error) {
	dsn := b.Database(nil)
	if store.IsPostgres(dsn) {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		return st, nil
	}
	path := StatePath(b)
	if path == "" {
		return nil, fmt.Errorf("state database %s: not a SQLite file nor a postgres:// URL", store.Redact(dsn))
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: run gtc serve %s first (it records messages there)", ErrNoState, path, b.Dir)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return st, nil
}
