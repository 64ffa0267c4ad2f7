package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrTargetNotEmpty is returned by Copy when the PostgreSQL database already holds gtc
// state: Copy only fills an empty database, it never merges.
var ErrTargetNotEmpty = errors.New("the target database already holds gtc state")

// CopiedTable is how many rows Copy wrote into one table.
type CopiedTable struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// CopyReport is what Copy wrote, table by table in copy order.
type CopyReport struct {
	Tables []CopiedTable `json:"tables"`
}

// Rows is the number of rows copied into table (0 for a table Copy does not copy).
func (r CopyReport) Rows(table string) int64 {
	for _, t := range r.Tables {
		if t.Table == table {
			return t.Rows
		}
	}
	return 0
}

// Total is the number of rows copied into every table.
func (r CopyReport) Total() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// colKind is how a copied column's SQLite value is handed to PostgreSQL.
type colKind int

const (
	colText colKind = iota // TEXT
	colInt                 // INTEGER / BIGINT
	colBlob                // BLOB / BYTEA
)

type copyCol struct {
	name string
	kind colKind
}

// copyTable is one gtc table Copy moves. cols are copied as they are; skip are the
// columns deliberately left to their default on the target (TestCopyColumnsMatchSchema
// fails when a migration adds a column to neither list).
type copyTable struct {
	name    string
	cols    []copyCol
	skip    []string
	orderBy string
	// one and many name the rows in the refusal message ("1 contact", "3 contacts").
	one, many string
}

func textCols(names ...string) []copyCol { return kindCols(colText, names...) }
func intCols(names ...string) []copyCol  { return kindCols(colInt, names...) }
func blobCols(names ...string) []copyCol { return kindCols(colBlob, names...) }

func kindCols(k colKind, names ...string) []copyCol {
	out := make([]copyCol, len(names))
	for i, n := range names {
		out[i] = copyCol{n, k}
	}
	return out
}

func joinCols(parts ...[]copyCol) []copyCol {
	var out []copyCol
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// copyTables are the tables Copy moves, in order, with every column of the schema.
var copyTables = []copyTable{
	{name: "gtc_contacts", one: "contact", many: "contacts", orderBy: "tenant, team, contact_key",
		cols: joinCols(textCols("tenant", "team", "contact_key", "wa_id", "user_id", "name"), intCols("last_inbound_at", "opted_out", "opted_out_at"),
			textCols("marketing"), intCols("marketing_at", "unreachable_code", "unreachable_at", "created_at", "updated_at")),
		// A lease belongs to a process of the old database, and takeover marks replies a
		// dead instance left (only set on a shared database): gtc serve's recovery on the
		// new one gives every open reply a send job instead.
		skip: []string{"lease_owner", "lease_until", "takeover"}},
	{name: "gtc_inbound_events", one: "inbound event", many: "inbound events", orderBy: "seq",
		cols: joinCols(intCols("seq"), textCols("tenant", "team", "dedupe_key", "kind", "message_type", "message_id", "contact_key"),
			blobCols("event"), intCols("received_at"), textCols("state"), intCols("processed_at", "prev_inbound_at"))},
	{name: "gtc_contact_aliases", one: "contact alias", many: "contact aliases", orderBy: "tenant, team, alias",
		cols: joinCols(textCols("tenant", "team", "alias", "kind", "contact_key"), intCols("created_at", "updated_at"))},
	{name: "gtc_outbound_messages", one: "outbound message", many: "outbound messages", orderBy: "id",
		cols: joinCols(intCols("id"), textCols("tenant", "team", "contact_key", "recipient"), intCols("inbound_seq"),
			textCols("origin", "flow", "node", "message_type"), blobCols("request"), intCols("retry_on_rate_limit"),
			textCols("state", "wamid", "error_class"), intCols("error_code"), textCols("error_message"),
			intCols("attempts", "next_attempt_at", "created_at", "updated_at")),
		// The sender is an instance of the old database: nobody is sending on the new one.
		skip: []string{"sender"}},
	{name: "gtc_outbound_statuses", one: "delivery status", many: "delivery statuses", orderBy: "wamid, status",
		cols: joinCols(textCols("wamid", "status"), intCols("at"), textCols("error_class"), intCols("error_code"))},
	// Waiting conversations and user.* move with their contacts. Their timeout jobs are
	// River's and are not copied: gtc serve's start makes them again (TimedConversations).
	{name: "gtc_conversations", one: "conversation", many: "conversations", orderBy: "tenant, team, contact_key",
		cols: joinCols(textCols("tenant", "team", "contact_key", "conversation", "flow", "node", "state"),
			intCols("waiting_since", "deadline"), textCols("user_vars", "ended_flow", "ended_node", "ended_reason", "ended_detail"),
			intCols("ended_at", "updated_at"), textCols("queue", "note"), intCols("agent_read_at"))},
	{name: "gtc_notes", one: "note", many: "notes", orderBy: "id",
		cols: joinCols(intCols("id"), textCols("tenant", "team", "contact_key", "author", "text"), intCols("created_at"))},
	{name: "gtc_idempotency_keys", one: "idempotency key", many: "idempotency keys", orderBy: "tenant, team, idem_key",
		cols: joinCols(textCols("tenant", "team", "idem_key"), intCols("status"), blobCols("body"), intCols("created_at"), textCols("request_hash", "outbound_ids"))},
	{name: "gtc_message_pricing", one: "message pricing", many: "message pricings", orderBy: "tenant, team, wamid",
		cols: joinCols(textCols("tenant", "team", "wamid", "status"), intCols("billable"),
			textCols("pricing_model", "category", "pricing_type", "conversation_id", "conversation_origin"),
			intCols("conversation_expires", "at", "updated_at"))},
	// The messaging limit's last 24 hours move too, so the new database does not grant again
	// what the old one granted.
	// What gtc last saw of each template, and who controls each contact's thread.
	{name: "gtc_templates", one: "template state", many: "template states", orderBy: "tenant, team, name, language",
		cols: joinCols(textCols("tenant", "team", "name", "language", "waba_id", "template_id", "status", "reason"),
			intCols("status_at"), textCols("status_source", "category"), intCols("category_at"), textCols("quality"),
			intCols("quality_at", "updated_at"))},
	{name: "gtc_threads", one: "thread control", many: "thread controls", orderBy: "tenant, team, contact_key",
		cols: joinCols(textCols("tenant", "team", "contact_key", "owner", "why", "role"), intCols("at", "updated_at"))},
	{name: "gtc_limit_contacts", one: "messaging-limit contact", many: "messaging-limit contacts", orderBy: "scope, contact_key",
		cols: joinCols(textCols("scope", "contact_key"), intCols("last_at"))},
}

// copyIdentities are the identity columns whose sequences Copy moves past the copied ids.
var copyIdentities = []struct{ table, col string }{
	{"gtc_inbound_events", "seq"},
	{"gtc_outbound_messages", "id"},
	{"gtc_notes", "id"},
}

// copyProgressEvery is how often (in rows) Copy reports progress within a table.
const copyProgressEvery = 10000

// Copy copies gtc's state from src, a SQLite database, into dst, a PostgreSQL database
// (both opened, so migrated to this gtc's schema): the contacts (opt-outs, 24-hour windows,
// marketing preferences, reachability), the inbound events (seq kept), the outbound log
// (id kept) and its delivery statuses, and the send API's idempotency keys. progress, when
// set, is called now and then with a table and the rows read from it so far, and once at
// the end of each table with its total.
//
// It leaves out what belongs to running processes: contact leases, takeover marks and
// outbound senders are cleared, and gtc_instances, gtc_pacing and River's job tables (river_*) are not copied.
// Queued work is not lost by that: a message still waiting for its flow run is a pending
// row of gtc_inbound_events, and a reply not yet sent (or waiting for a retry) is a pending
// or retrying row of gtc_outbound_messages; gtc serve on PostgreSQL enqueues the jobs for
// those rows when it starts. River's own retry schedule is therefore not carried over: a
// retrying reply is tried again at its next_attempt_at by the job recovery inserts.
//
// Everything is written in one transaction on dst (all or nothing) that takes the copied
// tables' write locks first; rows are streamed from one read transaction on src (a
// consistent snapshot) into PostgreSQL's COPY, so memory does not grow with the database.
// After the rows, the identity sequences of gtc_inbound_events.seq and
// gtc_outbound_messages.id move past the copied values, so new rows never collide.
//
// Copy refuses, before writing anything, when src is not SQLite, dst is not PostgreSQL,
// the schema versions differ, or dst already holds rows in any of the copied tables
// (ErrTargetNotEmpty): it fills an empty database and never merges.
func Copy(ctx context.Context, dst, src *Store, progress func(table string, rows int)) (CopyReport, error) {
	var rep CopyReport
	switch {
	case src.Postgres():
		return rep, fmt.Errorf("copy state: the source %s is PostgreSQL: copy from a SQLite database", src)
	case !dst.Postgres():
		return rep, fmt.Errorf("copy state: the target %s is SQLite: copy into a PostgreSQL database", dst)
	}
	if progress == nil {
		progress = func(string, int) {}
	}
	sv, err := src.SchemaVersion(ctx)
	if err != nil {
		return rep, fmt.Errorf("copy state: read the schema version of %s: %w", src, err)
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return rep, fmt.Errorf("copy state: read the schema version of %s: %w", dst, err)
	}
	if sv != dv {
		return rep, fmt.Errorf("copy state: schema version %d of %s differs from version %d of %s: open both with the same gtc", sv, src, dv, dst)
	}

	stx, err := src.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rep, fmt.Errorf("copy state: read %s: %w", src, err)
	}
	defer stx.Rollback()
	dtx, err := dst.pool.Begin(ctx)
	if err != nil {
		return rep, fmt.Errorf("copy state: write %s: %w", dst, err)
	}
	defer dtx.Rollback(context.WithoutCancel(ctx))

	if err := lockEmpty(ctx, dtx); err != nil {
		return rep, fmt.Errorf("copy state into %s: %w", dst, err)
	}
	for _, t := range copyTables {
		n, err := copyOne(ctx, dtx, stx, t, progress)
		if err != nil {
			return CopyReport{}, fmt.Errorf("copy state: %s: %w", t.name, err)
		}
		progress(t.name, int(n))
		rep.Tables = append(rep.Tables, CopiedTable{Table: t.name, Rows: n})
	}
	for _, id := range copyIdentities {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'),
			(SELECT COALESCE(MAX(%[2]s), 0) + 1 FROM %[1]s), false)`, id.table, id.col)
		if _, err := dtx.Exec(ctx, q); err != nil {
			return CopyReport{}, fmt.Errorf("copy state: move the sequence of %s.%s past the copied rows: %w", id.table, id.col, err)
		}
	}
	if err := dtx.Commit(ctx); err != nil {
		return CopyReport{}, fmt.Errorf("copy state: commit into %s: %w", dst, err)
	}
	return rep, nil
}

// lockEmpty takes the copied tables' write locks (other writers, a second gtc migrate or a
// gtc serve, wait for the copy) and refuses when any of them holds rows.
func lockEmpty(ctx context.Context, tx pgx.Tx) error {
	names := make([]string, len(copyTables))
	for i, t := range copyTables {
		names[i] = t.name
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '15s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock the gtc tables (is a gtc serve busy on it?): %w", err)
	}
	var held []string
	for _, t := range copyTables {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", t.name, err)
		}
		switch {
		case n == 1:
			held = append(held, "1 "+t.one)
		case n > 1:
			held = append(held, fmt.Sprintf("%d %s", n, t.many))
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("%w (%s): migrate into an empty database", ErrTargetNotEmpty, strings.Join(held, ", "))
	}
	return nil
}

// copyOne streams table t from stx into dtx with PostgreSQL's COPY and returns the rows.
func copyOne(ctx context.Context, dtx pgx.Tx, stx *sql.Tx, t copyTable, progress func(string, int)) (int64, error) {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+t.name+` ORDER BY `+t.orderBy)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	defer rows.Close()
	src := &rowSource{rows: rows, t: t, progress: progress, raw: make([]any, len(t.cols)), vals: make([]any, len(t.cols))}
	for i := range src.raw {
		src.raw[i] = new(any)
	}
	n, err := dtx.CopyFrom(ctx, pgx.Identifier{t.name}, names, src)
	if err != nil {
		if src.err != nil {
			return 0, src.err
		}
		return 0, fmt.Errorf("write (after %d rows read): %w", src.n, err)
	}
	if n != src.n {
		return 0, fmt.Errorf("wrote %d rows of the %d read", n, src.n)
	}
	return n, nil
}

// rowSource is a pgx.CopyFromSource over a SQLite query: one row in memory at a time.
type rowSource struct {
	rows     *sql.Rows
	t        copyTable
	progress func(string, int)
	raw      []any // *any scan targets
	vals     []any
	n        int64
	err      error
}

func (r *rowSource) Next() bool {
	if r.err != nil || !r.rows.Next() {
		return false
	}
	if err := r.rows.Scan(r.raw...); err != nil {
		r.err = fmt.Errorf("read row %d: %w", r.n+1, err)
		return false
	}
	for i, c := range r.t.cols {
		v, err := convert(*(r.raw[i].(*any)), c.kind)
		if err != nil {
			r.err = fmt.Errorf("read row %d: column %s: %w", r.n+1, c.name, err)
			return false
		}
		r.vals[i] = v
	}
	r.n++
	if r.n%copyProgressEvery == 0 {
		r.progress(r.t.name, int(r.n))
	}
	return true
}

func (r *rowSource) Values() ([]any, error) { return r.vals, nil }

func (r *rowSource) Err() error {
	if r.err != nil {
		return r.err
	}
	if err := r.rows.Err(); err != nil {
		r.err = fmt.Errorf("read: %w", err)
	}
	return r.err
}

// convert turns a value as SQLite returned it (dynamic typing: int64, string, []byte, …)
// into the Go type PostgreSQL's column takes.
func convert(v any, k colKind) (any, error) {
	switch k {
	case colInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		}
	case colText:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case colBlob:
		switch x := v.(type) {
		case []byte:
			return x, nil // database/sql scanned a copy into *any
		case string:
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected value of type %T", v)
}
