package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A contact is one identity with aliases (docs/design.md, "Contacts and their aliases"): the
// numbers it was written to as typed, its wa_id, its business-scoped user ids. Opt-out, the
// 24-hour window, conversations and handoffs live on the identity (gtc_contacts, by
// contact_key), whichever alias a message or a send names it by.

// Alias kinds.
const (
	AliasWaID          = "wa_id"          // the phone number WhatsApp knows the user by
	AliasPhone         = "phone"          // a number as typed in a send, which Graph resolved to a wa_id
	AliasBSUID         = "bsuid"          // the business-scoped user id
	AliasPreviousBSUID = "bsuid_previous" // a business-scoped user id the user changed from
)

// Alias is one name of a contact.
type Alias struct {
	Value string `json:"value"`
	Kind  string `json:"kind"`
}

// AliasKindOf is the kind of a key given without one: a business-scoped user id has a dot
// ("US.1349…"), a wa_id is digits.
func AliasKindOf(key string) string {
	if strings.Contains(key, ".") {
		return AliasBSUID
	}
	return AliasWaID
}

// ContactByAlias returns the contact that the first of keys gtc knows names (an alias, or a
// contact's own key): keys are tried in order. None known: a contact with Known false and
// Key keys[0].
func (s *Store) ContactByAlias(ctx context.Context, tenant, team string, keys ...string) (*Contact, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("read contact: no key")
	}
	key, found, err := findIdentity(ctx, s.rdb, tenant, team, keys)
	if err != nil {
		return nil, fmt.Errorf("read contact: %w", err)
	}
	if !found {
		key = keys[0]
	}
	return s.Contact(ctx, tenant, team, key)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// findIdentity returns the contact key of the first of keys that is an alias or, failing
// that, the first that is a contact's own key.
func findIdentity(ctx context.Context, q querier, tenant, team string, keys []string) (string, bool, error) {
	for _, k := range keys {
		if k == "" {
			continue
		}
		var key string
		err := q.QueryRowContext(ctx, `SELECT contact_key FROM gtc_contact_aliases WHERE tenant = $1 AND team = $2 AND alias = $3`,
			tenant, team, safeText(k)).Scan(&key)
		if err == nil {
			return key, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, err
		}
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		var key string
		err := q.QueryRowContext(ctx, `SELECT contact_key FROM gtc_contacts WHERE tenant = $1 AND team = $2 AND contact_key = $3`,
			tenant, team, safeText(k)).Scan(&key)
		if err == nil {
			return key, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, err
		}
	}
	return "", false, nil
}

// Aliases lists the aliases of the contacts of tenant/team (empty: all), by contact key.
func (s *Store) Aliases(ctx context.Context, tenant, team string) (map[ContactRef][]Alias, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT tenant, team, contact_key, alias, kind FROM gtc_contact_aliases
		WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) ORDER BY tenant, team, contact_key, kind DESC, alias`, tenant, team)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	defer rows.Close()
	out := map[ContactRef][]Alias{}
	for rows.Next() {
		var r ContactRef
		var a Alias
		if err := rows.Scan(&r.Tenant, &r.Team, &r.Key, &a.Value, &a.Kind); err != nil {
			return nil, fmt.Errorf("list aliases: %w", err)
		}
		out[r] = append(out[r], a)
	}
	return out, rows.Err()
}

// LinkAliases records that aliases name one person of tenant/team and returns its contact
// key: the identity the first known alias names (so give the surest first: wa_id, then
// business-scoped user id, then a number as typed), or, none known, the first alias. When
// the aliases named several identities, the others are merged into it (see mergeContact).
func (s *Store) LinkAliases(ctx context.Context, tenant, team string, aliases []Alias) (string, error) {
	var key string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		key, err = linkAliases(ctx, tx, !s.Postgres(), tenant, team, aliases, nil, s.now())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("record aliases: %w", err)
	}
	return key, nil
}

// linkAliases is LinkAliases in tx; lookup are more keys to find the identity by (after the
// aliases) that are not recorded as aliases (a number's country variants). A message from a
// known contact costs one read per alias and no write.
// On SQLite a write moves the alias generation (see aliasCache).
func linkAliases(ctx context.Context, tx *sql.Tx, sqlite bool, tenant, team string, aliases []Alias, lookup []string, now int64) (string, error) {
	return linkAliasesWith(ctx, tx, nil, &aliasUse{sqlite: sqlite}, tenant, team, aliases, lookup, now)
}

// findAliasSQL reads an alias's contact and kind (args: tenant, team, alias).
const findAliasSQL = `SELECT contact_key, kind FROM gtc_contact_aliases WHERE tenant = $1 AND team = $2 AND alias = $3`

// linkAliasesWith is linkAliases reading aliases with find (findAliasSQL prepared in tx; the
// ingest writer's, prepared once) when not nil, and through u's cache (see aliasCache).
func linkAliasesWith(ctx context.Context, tx *sql.Tx, find *sql.Stmt, u *aliasUse, tenant, team string, aliases []Alias, lookup []string, now int64) (string, error) {
	type known struct {
		key, kind string
		ok        bool
	}
	have := make([]known, len(aliases))
	target := ""
	for i, a := range aliases {
		if a.Value == "" {
			continue
		}
		ck := aliasKey{tenant, team, safeText(a.Value)}
		if h, ok := u.lookup(ck); ok {
			have[i] = known{key: h.key, kind: h.kind, ok: true}
			if target == "" {
				target = h.key
			}
			continue
		}
		var row *sql.Row
		if find != nil {
			row = find.QueryRowContext(ctx, tenant, team, safeText(a.Value))
		} else {
			row = tx.QueryRowContext(ctx, findAliasSQL, tenant, team, safeText(a.Value))
		}
		err := row.Scan(&have[i].key, &have[i].kind)
		switch {
		case err == nil:
			have[i].ok = true
			u.saw(ck, aliasHit{key: have[i].key, kind: have[i].kind})
			if target == "" {
				target = have[i].key
			}
		case !errors.Is(err, sql.ErrNoRows):
			return "", err
		}
	}
	if target == "" {
		var keys []string
		for _, a := range aliases {
			keys = append(keys, a.Value)
		}
		key, found, err := findIdentity(ctx, tx, tenant, team, append(keys, lookup...))
		if err != nil {
			return "", err
		}
		if found {
			target = key
		}
	}
	if target == "" {
		for _, a := range aliases {
			if a.Value != "" {
				target = a.Value
				break
			}
		}
		if target == "" {
			return "", fmt.Errorf("no alias to record")
		}
	}
	for i, a := range aliases {
		if a.Value == "" {
			continue
		}
		h := have[i]
		kind, keep := a.Kind, 0
		if kind == "" {
			kind, keep = AliasKindOf(a.Value), 1
		}
		if h.ok && h.key == target && (keep == 1 || kind == AliasPhone || kind == h.kind) {
			continue // known as it is
		}
		other := h.key
		if !h.ok {
			// Not an alias: perhaps a contact's own key (a contact gtc made before aliases).
			var found bool
			var err error
			if other, found, err = findIdentity(ctx, tx, tenant, team, []string{a.Value}); err != nil {
				return "", err
			} else if !found {
				other = target
			}
		}
		if err := u.write(ctx, tx); err != nil {
			return "", err
		}
		if other != target {
			if err := mergeContact(ctx, tx, tenant, team, other, target, now); err != nil {
				return "", err
			}
		}
		// A known alias keeps its kind when none is given, and a more telling one than
		// "phone": a wa_id stays a wa_id when a send names it as typed.
		if _, err := tx.ExecContext(ctx, `INSERT INTO gtc_contact_aliases (tenant, team, alias, kind, contact_key, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant, team, alias) DO UPDATE SET contact_key = excluded.contact_key,
				kind = CASE WHEN excluded.kind = 'phone' OR $8 = 1 THEN gtc_contact_aliases.kind ELSE excluded.kind END,
				updated_at = excluded.updated_at`,
			tenant, team, safeText(a.Value), kind, target, now, now, keep); err != nil {
			return "", err
		}
	}
	return target, nil
}

// mergeContact makes from's aliases (and from's own key) name into, and carries over from's
// state where it is newer: the opt-out or opt-in (the later change wins, the same rule as
// an opt change), the marketing preference, the last inbound time. from's row, its
// conversation and its history stay under from's key.
func mergeContact(ctx context.Context, tx *sql.Tx, tenant, team, from, into string, now int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO gtc_contacts (tenant, team, contact_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, team, contact_key) DO NOTHING`, tenant, team, into, now, now); err != nil {
		return err
	}
	var optedOut, unreachCode int
	var optAt, last, mAt, unreachAt int64
	var marketing string
	err := tx.QueryRowContext(ctx, `SELECT opted_out, opted_out_at, last_inbound_at, marketing, marketing_at, unreachable_code, unreachable_at
		FROM gtc_contacts WHERE tenant = $1 AND team = $2 AND contact_key = $3`, tenant, team, from).
		Scan(&optedOut, &optAt, &last, &marketing, &mAt, &unreachCode, &unreachAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		if optAt > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE gtc_contacts SET opted_out = $1, opted_out_at = $2, updated_at = $3
				WHERE tenant = $4 AND team = $5 AND contact_key = $6 AND `+newerWins("$2", "opted_out_at"),
				optedOut, optAt, now, tenant, team, into); err != nil {
				return err
			}
		}
		if mAt > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE gtc_contacts SET marketing = $1, marketing_at = $2, updated_at = $3
				WHERE tenant = $4 AND team = $5 AND contact_key = $6 AND `+newerWins("$2", "marketing_at"),
				marketing, mAt, now, tenant, team, into); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE gtc_contacts SET last_inbound_at = $1, updated_at = $2
			WHERE tenant = $3 AND team = $4 AND contact_key = $5 AND last_inbound_at < $1`, last, now, tenant, team, into); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE gtc_contact_aliases SET contact_key = $1, updated_at = $2
		WHERE tenant = $3 AND team = $4 AND contact_key = $5`, into, now, tenant, team, from); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO gtc_contact_aliases (tenant, team, alias, kind, contact_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, team, alias) DO UPDATE SET contact_key = excluded.contact_key`,
		tenant, team, from, AliasKindOf(from), into, now, now)
	return err
}

// newerWins is the one rule for a contact's opt changes and marketing preferences: a change
// applies only when it is at least as new as the one recorded (atCol), by the time the
// customer made it, so an older change delivered late never overrides a newer one.
func newerWins(newAt, atCol string) string {
	return newAt + " >= " + atCol
}

// Newer reports whether a change made at at may override one recorded at recorded (the rule
// of newerWins, for callers that decide before writing).
func Newer(at, recorded time.Time) bool {
	return recorded.IsZero() || !at.Before(recorded)
}
