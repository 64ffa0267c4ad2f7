package store

import (
	"context"
	"database/sql"
	"fmt"
)

// aliasCache is the ingest writer's memory of the aliases it has read, on SQLite: a message
// from a known sender then costs no SELECT in the group commit, the one goroutine every
// acknowledgement waits for (about a quarter of its time; docs/benchmarks.md).
//
// It holds while no alias changes. Every transaction that writes gtc_contact_aliases on
// SQLite, in this process or another (gtc send learning a wa_id, gtc inbox, a second
// process on the file), increments the database header's user_version in the same
// transaction (aliasUse.wrote; gtc's schema version lives in its migrations table, not
// there). The ingest writer reads user_version at the start of each group, inside its
// transaction, which holds SQLite's write lock, so nothing moves it until the group ends;
// when it has moved, the cache is emptied. Aliases read in a group are kept only once the
// group has committed without writing one; a group that writes one stops using the cache
// from then on (its own merge may have changed what the cache says).
type aliasCache struct {
	gen int64 // the user_version the entries hold for; -1: unknown
	m   map[aliasKey]aliasHit
}

type aliasKey struct{ tenant, team, alias string }

type aliasHit struct{ key, kind string }

// aliasCacheMax bounds the cache; past it, it starts again empty.
const aliasCacheMax = 200_000

func newAliasCache() *aliasCache {
	return &aliasCache{gen: -1, m: map[aliasKey]aliasHit{}}
}

// aliasUse is one transaction's use of the aliases: the cache (nil: none), what it read
// (kept at commit), whether it wrote an alias, and whether writing one must move the
// generation (SQLite).
type aliasUse struct {
	cache  *aliasCache
	read   map[aliasKey]aliasHit
	wrote  bool
	sqlite bool
}

// lookup returns a cached alias unless this transaction has written one.
func (u *aliasUse) lookup(k aliasKey) (aliasHit, bool) {
	if u == nil || u.cache == nil || u.wrote {
		return aliasHit{}, false
	}
	h, ok := u.cache.m[k]
	return h, ok
}

// saw notes an alias read from the database, for the cache.
func (u *aliasUse) saw(k aliasKey, h aliasHit) {
	if u == nil || u.cache == nil || u.wrote {
		return
	}
	if u.read == nil {
		u.read = map[aliasKey]aliasHit{}
	}
	u.read[k] = h
}

// write is called before the transaction writes an alias: on SQLite it moves the
// generation, in the same transaction.
func (u *aliasUse) write(ctx context.Context, tx *sql.Tx) error {
	if u == nil || u.wrote {
		return nil
	}
	u.wrote = true
	if !u.sqlite {
		return nil
	}
	return bumpAliasGen(ctx, tx)
}

// bumpAliasGen increments user_version in tx (SQLite's PRAGMA takes no expression).
func bumpAliasGen(ctx context.Context, tx *sql.Tx) error {
	n, err := aliasGen(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, int32(n+1))); err != nil {
		return fmt.Errorf("alias generation: %w", err)
	}
	return nil
}

func aliasGen(ctx context.Context, tx *sql.Tx) (int64, error) {
	var n int64
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&n); err != nil {
		return 0, fmt.Errorf("alias generation: %w", err)
	}
	return n, nil
}

// begin readies the cache for a group in tx: emptied when another transaction wrote an
// alias since the cache was filled.
func (c *aliasCache) begin(ctx context.Context, tx *sql.Tx) error {
	n, err := aliasGen(ctx, tx)
	if err != nil {
		return err
	}
	if n != c.gen {
		c.gen, c.m = n, map[aliasKey]aliasHit{}
	}
	return nil
}

// commit keeps what u read once its transaction has committed; a transaction that wrote an
// alias leaves the generation unknown (the next group reads it again).
func (c *aliasCache) commit(u *aliasUse) {
	if u.wrote {
		c.gen, c.m = -1, map[aliasKey]aliasHit{}
		return
	}
	if len(c.m)+len(u.read) > aliasCacheMax {
		c.m = map[aliasKey]aliasHit{}
	}
	for k, h := range u.read {
		c.m[k] = h
	}
}
