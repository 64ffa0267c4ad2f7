package store

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to build old databases by hand
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// schemaDump describes the store's tables, columns, indexes and constraints, in a stable
// text form, so a fresh database and an upgraded one can be compared with a golden file.
func schemaDump(t *testing.T, db *sql.DB, pg bool) string {
	t.Helper()
	ctx := context.Background()
	var qs []string
	if pg {
		qs = []string{
			`SELECT table_name, column_name, data_type, COALESCE(column_default, ''), is_nullable, is_identity
			FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
			`SELECT indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes
			WHERE schemaname = current_schema() ORDER BY indexname`,
			`SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
			WHERE connamespace = current_schema()::regnamespace ORDER BY conrelid::regclass::text, conname`,
		}
	} else {
		qs = []string{`SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master
			WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`}
	}
	var b strings.Builder
	for _, q := range qs {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteString(" | ")
				}
				b.WriteString(v.String)
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		b.WriteByte('\n')
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "schema", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/store -run %s -update with %s set to write it)", err, t.Name(), storetest.EnvPostgres)
	}
	if got != string(want) {
		t.Errorf("schema differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestSchemaGolden pins the schema a fresh database gets; the upgrade tests compare old
// databases, once migrated, with the same file.
func TestSchemaGolden(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		checkGolden(t, b.Name, schemaDump(t, st.DB(), st.Postgres()))
	})
}

var fixtureVersion = regexp.MustCompile(`(?m)^-- version (\d+)$`)

// createOld builds a database at schema version v exactly as gtc made it before its
// migrations moved to .sql files (testdata/v4: today's DDL captured from that code) and
// fills it with a row in every table that version has.
func createOld(t *testing.T, b storetest.Backend, dsn string, v int) {
	t.Helper()
	ctx := context.Background()
	fixture, err := os.ReadFile(filepath.Join("testdata", "v4", b.Name+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(fixture)
	if loc := regexp.MustCompile(fmt.Sprintf(`(?m)^-- version %d$`, v+1)).FindStringIndex(script); loc != nil {
		script = script[:loc[0]]
	}
	if n := len(fixtureVersion.FindAllString(script, -1)); n != v {
		t.Fatalf("fixture has %d versions, want %d", n, v)
	}
	var db *sql.DB
	if b.Name == "postgres" {
		db, err = sql.Open("pgx", dsn)
	} else {
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			t.Fatal(err)
		}
		db, err = sql.Open("sqlite", "file:"+dsn+"?_pragma=journal_mode(WAL)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, script); err != nil {
		t.Fatalf("build a version %d database: %v", v, err)
	}
	rows := []string{
		`INSERT INTO gtc_contacts (tenant, team, contact_key, wa_id, name, last_inbound_at, opted_out, opted_out_at, marketing, marketing_at, created_at, updated_at)
			VALUES ('acme', 'support', '15550001', '15550001', 'Ana', 1764000000000, 1, 1764000001000, 'stop', 1764000002000, 1764000000000, 1764000003000)`,
		`INSERT INTO gtc_inbound_events (tenant, team, dedupe_key, kind, message_type, message_id, contact_key, event, received_at, state)
			VALUES ('acme', 'support', 'msg:wamid.IN1', 'message', 'text', 'wamid.IN1', '15550001', '{"text":"hi"}', 1764000000000, 'pending')`,
		`INSERT INTO gtc_outbound_messages (tenant, team, contact_key, recipient, inbound_seq, origin, flow, node, message_type, request, state, wamid, attempts, created_at, updated_at)
			VALUES ('acme', 'support', '15550001', '15550001', 1, 'flow', 'main', 'greet', 'text', '{"type":"text"}', 'sent', 'wamid.OUT1', 1, 1764000000000, 1764000000000)`,
		`INSERT INTO gtc_outbound_statuses (wamid, status, at) VALUES ('wamid.OUT1', 'sent', 1764000004000)`,
		`INSERT INTO gtc_idempotency_keys (tenant, team, idem_key, status, body, created_at) VALUES ('acme', 'support', 'key-1', 200, '{"ok":true}', 1764000000000)`,
	}
	if v >= 4 {
		rows = append(rows,
			`INSERT INTO gtc_instances (id, started_at, seen_at) VALUES ('inst-a', 1764000000000, 1764000005000)`,
			`INSERT INTO gtc_pacing (phone_number_id, window_start, used) VALUES ('pn1', 1764000000000, 7)`)
	}
	for _, q := range rows {
		if b.Name == "postgres" {
			q = strings.ReplaceAll(q, `'{"`, `convert_to('{"`)
			q = regexp.MustCompile(`(convert_to\('\{[^']*\}')`).ReplaceAllString(q, "$1, 'UTF8')")
		}
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestUpgradeFromOldRunner opens databases made by the code before the .sql migration files
// (at its last version, 4, and at an older one, 2) and checks the schema is current and the
// data intact and usable.
func TestUpgradeFromOldRunner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		for _, from := range []int{2, 4} {
			t.Run(fmt.Sprintf("from_v%d", from), func(t *testing.T) {
				ctx := context.Background()
				dsn := b.DSN(t)
				createOld(t, b, dsn, from)
				st, err := Open(ctx, dsn, Options{Now: func() time.Time { return t0 }})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if v, err := st.SchemaVersion(ctx); err != nil || v != latestVersion(t, st) {
					t.Fatalf("schema version = %d, %v; want %d", v, err, latestVersion(t, st))
				}
				checkGolden(t, b.Name, schemaDump(t, st.DB(), st.Postgres()))

				c, err := st.Contact(ctx, "acme", "support", "15550001")
				if err != nil {
					t.Fatal(err)
				}
				if c.Name != "Ana" || !c.OptedOut || c.Marketing != "stop" || ms(c.LastInboundAt) != 1764000000000 {
					t.Errorf("contact after upgrade = %+v", c)
				}
				// Every contact's key and wa_id became its aliases.
				if c, err := st.ContactByAlias(ctx, "acme", "support", "15550001"); err != nil || !c.Known || c.Key != "15550001" || !c.OptedOut {
					t.Errorf("contact by alias after upgrade = %+v, %v", c, err)
				}
				if as, err := st.Aliases(ctx, "acme", "support"); err != nil || len(as[ContactRef{"acme", "support", "15550001"}]) != 1 {
					t.Errorf("aliases after upgrade = %v, %v", as, err)
				}
				evs, err := st.PendingEvents(ctx, ContactRef{"acme", "support", "15550001"}, 10)
				if err != nil || len(evs) != 1 || string(evs[0].Raw) != `{"text":"hi"}` {
					t.Fatalf("pending events after upgrade = %v, %v", evs, err)
				}
				out, err := st.OutboundByID(ctx, 1)
				if err != nil || out.WAMID != "wamid.OUT1" || out.State != "sent" || string(out.Request) != `{"type":"text"}` {
					t.Fatalf("outbound after upgrade = %+v, %v", out, err)
				}
				if ss, err := st.Statuses(ctx, "wamid.OUT1"); err != nil || len(ss) != 1 {
					t.Fatalf("statuses after upgrade = %v, %v", ss, err)
				}
				idem, err := st.IdempotentAnswer(ctx, "acme", "support", "key-1")
				if err != nil || idem == nil || idem.Status != 200 || string(idem.Body) != `{"ok":true}` {
					t.Fatalf("idempotency key after upgrade = %+v, %v", idem, err)
				}
				if from >= 4 {
					insts, err := st.Instances(ctx)
					if err != nil || len(insts) != 1 {
						t.Fatalf("instances after upgrade = %v, %v", insts, err)
					}
				}
				// The upgraded database works: the old message is a duplicate, a new one is not.
				res, err := st.Ingest(ctx, "acme", "support", []InboundEvent{
					msg("wamid.IN1", "15550001", t0), msg("wamid.IN2", "15550001", t0)})
				if err != nil || res.New != 1 || res.Duplicates != 1 {
					t.Fatalf("ingest after upgrade = %+v, %v", res, err)
				}
			})
		}
	})
}

func latestVersion(t *testing.T, st *Store) int {
	t.Helper()
	list, err := loadMigrations(st.backend())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestMigrationsInStep checks both backends have the same versions under the same names:
// one list of migrations, written in each backend's types.
func TestMigrationsInStep(t *testing.T) {
	lite, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("version %d: sqlite/%s but postgres/%s", i+1, lite[i].name, pg[i].name)
		}
	}
}

// TestPlaceholdersBindByNumber shows both drivers bind $n to the nth argument, whatever the
// order the placeholders appear in and however often: the store's SQL relies on it.
func TestPlaceholdersBindByNumber(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		var x, y, z string
		err := st.DB().QueryRowContext(context.Background(), `SELECT CAST($2 AS TEXT), CAST($1 AS TEXT), CAST($2 AS TEXT) || CAST($3 AS TEXT)`,
			"one", "two", "three").Scan(&x, &y, &z)
		if err != nil || x != "two" || y != "one" || z != "twothree" {
			t.Fatalf("got %q %q %q, %v; want two one twothree", x, y, z, err)
		}
	})
}

func TestReadMigrationsRefusesBadNames(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("CREATE TABLE x (a INTEGER);")}
	tests := []struct {
		name  string
		files []string
		want  string // error text; "" for success
	}{
		{"in order", []string{"0001_a.sql", "0002_b.sql"}, ""},
		{"a gap", []string{"0001_a.sql", "0003_c.sql"}, "m/0003_c.sql: want 0002_<what>.sql"},
		{"no name", []string{"0001.sql"}, "m/0001.sql: want 0001_<what>.sql"},
		{"not sql", []string{"0001_a.txt"}, "m/0001_a.txt: want 0001_<what>.sql"},
		{"not a number", []string{"first_a.sql"}, "m/first_a.sql: want 0001_<what>.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["m/"+f] = file
			}
			list, err := readMigrations(fsys, "m")
			switch {
			case tt.want == "" && (err != nil || len(list) != len(tt.files)):
				t.Fatalf("got %d migrations, %v", len(list), err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v; want %q", err, tt.want)
			}
		})
	}
}

// A database migrated by a newer gtc is refused with what to do, and left as it is.
func TestOpenRefusesNewerSchema(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, dsn := openTest(t, b, Options{})
		next := latestVersion(t, st) + 1
		if _, err := st.DB().ExecContext(ctx, `INSERT INTO gtc_schema_migrations (version, applied_at) VALUES ($1, 0)`, next); err != nil {
			t.Fatal(err)
		}
		st.Close()
		_, err := Open(ctx, dsn)
		want := fmt.Sprintf("database schema version %d is newer than this gtc (%d): upgrade gtc", next, next-1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("open = %v; want %q", err, want)
		}
	})
}

func TestSafeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Ana María 🙂", "Ana María 🙂"},
		{"a\x00b", `a\u0000b`},
		{"\x00\x00", `\u0000\u0000`},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"both\x00\xfe", `both\u0000` + "\uFFFD"},
	}
	for _, tt := range tests {
		if got := safeText(tt.in); got != tt.want {
			t.Errorf("safeText(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
