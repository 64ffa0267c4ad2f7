package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// copyNotCopied are the gtc tables Copy leaves out on purpose (see its doc comment).
// gtc_event_outbox is not copied: its events are delivered (or given up) by the SQLite side.
var copyNotCopied = []string{"gtc_event_outbox", "gtc_instances", "gtc_pacing", "gtc_schema_migrations"}

// openAt opens a fresh database of backend b whose clock moves one second per reading, so
// rows get distinct times.
func openAt(t *testing.T, b storetest.Backend) *Store {
	t.Helper()
	var mu sync.Mutex
	now := t0
	st, _ := openTest(t, b, Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}})
	return st
}

// A migration that adds a table or a column must say what Copy does with it.
func TestCopyColumnsMatchSchema(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		tablesQ := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'gtc\_%' ESCAPE '\'`
		colsQ := `SELECT name FROM pragma_table_info($1)`
		if st.Postgres() {
			tablesQ = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'gtc\_%'`
			colsQ = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
		}
		list := func(q string, args ...any) []string {
			t.Helper()
			rows, err := st.db.QueryContext(ctx, q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			sort.Strings(out)
			return out
		}
		want := slices.Clone(copyNotCopied)
		for _, ct := range copyTables {
			want = append(want, ct.name)
		}
		sort.Strings(want)
		if got := list(tablesQ); !reflect.DeepEqual(got, want) {
			t.Fatalf("gtc tables = %v; Copy knows %v: add a new table to copyTables or copyNotCopied", got, want)
		}
		for _, ct := range copyTables {
			var known []string
			for _, c := range ct.cols {
				known = append(known, c.name)
			}
			known = append(known, ct.skip...)
			sort.Strings(known)
			if got := list(colsQ, ct.name); !reflect.DeepEqual(got, known) {
				t.Errorf("%s columns = %v; Copy knows %v: add a new column to its cols or skip", ct.name, got, known)
			}
		}
	})
}

func TestCopyRefusesWrongDirection(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		src, dst storetest.Backend
		want     string
	}{
		{"sqlite to sqlite", storetest.SQLite, storetest.SQLite, "is SQLite: copy into a PostgreSQL database"},
		{"postgres to postgres", storetest.Postgres, storetest.Postgres, "is PostgreSQL: copy from a SQLite database"},
		{"postgres to sqlite", storetest.Postgres, storetest.SQLite, "is PostgreSQL: copy from a SQLite database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := openTest(t, tt.src, Options{})
			dst, _ := openTest(t, tt.dst, Options{})
			if _, err := src.RecordOutbound(ctx, "t", "t", []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
			_, err := Copy(ctx, dst, src, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Copy = %v; want an error with %q", err, tt.want)
			}
			if got, _ := dst.OutboundMessages(ctx, OutboundFilter{}); len(got) != 0 {
				t.Fatalf("the refused copy wrote %d outbound messages", len(got))
			}
		})
	}
}

// fillState records state of every kind in st through the public API, as gtc serve does.
func fillState(t *testing.T, st *Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	in := func(key, id string, ts time.Time) InboundEvent {
		ev := msg(id, key, ts)
		ev.Name = "Name " + key
		ev.Raw = []byte(`{"id":"` + id + `","text":"héllo \u00e9"}`)
		return ev
	}
	_, err := st.Ingest(ctx, "acme", "support", []InboundEvent{in("111", "m1", t0), in("222", "m2", t0.Add(time.Minute)),
		in("333", "m3", t0.Add(2*time.Minute)), in("111", "m4", t0.Add(3*time.Minute))})
	must(err)
	_, err = st.Ingest(ctx, "acme", "sales", []InboundEvent{in("111", "m5", t0.Add(4*time.Minute)),
		{Kind: KindPreference, DedupeKey: "pref:222:stop", Raw: []byte(`{}`),
			Preference: &PreferenceUpdate{ContactKey: "222", Value: "stop", At: t0.Add(5 * time.Minute)}}})
	must(err)

	// Run the flows of all events but acme/support/111's second message (it stays pending).
	var cs []*Completion
	for _, ref := range []ContactRef{{"acme", "support", "111"}, {"acme", "support", "222"}, {"acme", "support", "333"}, {"acme", "sales", "111"}} {
		evs, err := st.PendingEvents(ctx, ref, 1)
		must(err)
		c := &Completion{Event: evs[0], Replies: []NewOutbound{{ContactKey: ref.Key, Recipient: "+" + ref.Key, Origin: OriginFlow,
			Flow: "main", Node: "hello", MessageType: "text", Request: []byte(`{"text":{"body":"hi ` + ref.Key + `"}}`), RetryOnRateLimit: true}}}
		if ref.Key == "333" {
			c.Opt = &OptChange{OptedOut: true, At: t0.Add(6 * time.Minute)}
		}
		cs = append(cs, c)
	}
	must(st.CompleteEvents(ctx, cs))
	ids := []int64{cs[0].IDs[0], cs[1].IDs[0], cs[2].IDs[0], cs[3].IDs[0]}
	must(st.FinishOutbounds(ctx, []Finish{
		{ID: ids[0], Result: OutboundResult{State: OutSent, WAMID: "wamid.A", Attempted: true}},
		{ID: ids[1], Result: OutboundResult{State: OutRetrying, ErrorClass: "rate_limited", ErrorCode: 130429,
			ErrorMessage: "slow down", NextAttemptAt: t0.Add(time.Hour), Attempted: true}},
		{ID: ids[2], Result: OutboundResult{State: OutRefused, ErrorClass: "opted_out"}},
	}, nil))
	// ids[3] stays pending, claimed by a sender of the old database.
	_, err = st.DB().ExecContext(ctx, `UPDATE gtc_outbound_messages SET sender = 'old:7' WHERE id = $1`, ids[3])
	must(err)
	ok, err := st.ClaimContact(ctx, ContactRef{"acme", "support", "111"}, "old:8", t0.Add(24*time.Hour))
	must(err)
	if !ok {
		t.Fatal("claim contact failed")
	}
	status := func(s string, code int) InboundEvent {
		return InboundEvent{Kind: KindStatus, DedupeKey: "status:wamid.A:" + s, Raw: []byte(`{"status":"` + s + `"}`),
			Status: &StatusUpdate{WAMID: "wamid.A", Status: s, At: t0.Add(10 * time.Minute), ErrorCode: code}}
	}
	_, err = st.Ingest(ctx, "acme", "support", []InboundEvent{status("delivered", 0), status("read", 0)})
	must(err)
	_, err = st.RecordOutbound(ctx, "acme", "sales", []NewOutbound{{ContactKey: "444", Recipient: "+444", Origin: OriginAPI,
		MessageType: "template", Request: []byte(`{"template":{"name":"t"}}`)}})
	must(err)
	must(st.SetOptOut(ctx, ContactRef{"acme", "sales", "555"}, true, t0.Add(7*time.Minute)))
	must(st.SetUnreachable(ctx, ContactRef{"acme", "sales", "444"}, 131026, t0.Add(8*time.Minute)))
	_, err = st.SaveIdempotent(ctx, "acme", "sales", "key-1", "hash-1", 202, []byte(`{"id":1}`))
	must(err)
	_, err = st.SaveIdempotent(ctx, "acme", "support", "key-2", "hash-2", 400, []byte(`{"error":"bad"}`))
	must(err)
}

// stateView is everything the public read API says about a database.
type stateView struct {
	Contacts     []*Contact
	Events       []*StoredEvent
	Outbound     []*Outbound
	Statuses     []StatusRecord
	Idempotent   []*Idempotent
	Pending      []ContactRef
	OpenOutbound []int64
	Depth        Depth
}

func viewState(t *testing.T, st *Store) stateView {
	t.Helper()
	ctx := context.Background()
	var v stateView
	var err error
	if v.Contacts, err = st.Contacts(ctx, ContactFilter{Limit: 1000}); err != nil {
		t.Fatal(err)
	}
	if v.Events, err = st.InboundEvents(ctx, EventFilter{Limit: 1000}); err != nil {
		t.Fatal(err)
	}
	if v.Outbound, err = st.OutboundMessages(ctx, OutboundFilter{Limit: 1000}); err != nil {
		t.Fatal(err)
	}
	for _, o := range v.Outbound {
		o.Sender = "" // Copy clears it, on purpose
		if o.WAMID != "" {
			sts, err := st.Statuses(ctx, o.WAMID)
			if err != nil {
				t.Fatal(err)
			}
			v.Statuses = append(v.Statuses, sts...)
		}
	}
	for _, k := range [][3]string{{"acme", "sales", "key-1"}, {"acme", "support", "key-2"}} {
		in, err := st.IdempotentAnswer(ctx, k[0], k[1], k[2])
		if err != nil {
			t.Fatal(err)
		}
		v.Idempotent = append(v.Idempotent, in)
	}
	if v.Pending, err = st.PendingContacts(ctx); err != nil {
		t.Fatal(err)
	}
	open, err := st.OpenOutbound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range open {
		v.OpenOutbound = append(v.OpenOutbound, o.ID)
	}
	if v.Depth, err = st.QueueDepth(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	dst := openAt(t, storetest.Postgres)
	src := openAt(t, storetest.SQLite)
	fillState(t, src)
	want := viewState(t, src)

	final := map[string]int{}
	rep, err := Copy(ctx, dst, src, func(table string, rows int) { final[table] = rows })
	if err != nil {
		t.Fatal(err)
	}
	wantRows := map[string]int64{"gtc_contacts": 7, "gtc_inbound_events": 8, "gtc_outbound_messages": 5,
		"gtc_outbound_statuses": 2, "gtc_idempotency_keys": 2, "gtc_contact_aliases": 5}
	for _, ct := range copyTables {
		if got := rep.Rows(ct.name); got != wantRows[ct.name] || int64(final[ct.name]) != got {
			t.Errorf("%s: report %d rows, progress %d; want %d", ct.name, got, final[ct.name], wantRows[ct.name])
		}
	}
	if rep.Total() != 29 {
		t.Errorf("total = %d, want 29", rep.Total())
	}

	got := viewState(t, dst)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"contacts", got.Contacts, want.Contacts},
		{"inbound events", got.Events, want.Events},
		{"outbound messages", got.Outbound, want.Outbound},
		{"statuses", got.Statuses, want.Statuses},
		{"idempotency answers", got.Idempotent, want.Idempotent},
		{"pending contacts", got.Pending, want.Pending},
		{"open outbound", got.OpenOutbound, want.OpenOutbound},
		{"queue depth", got.Depth, want.Depth},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s differ after the copy:\n got %s\nwant %s", c.name, dump(c.got), dump(c.want))
		}
	}
	if len(want.Pending) != 1 || len(want.OpenOutbound) != 3 || len(want.Statuses) != 2 {
		t.Fatalf("the fixture lost its open work: %+v", want)
	}

	// What belonged to the old database's processes is gone: the lease and the sender.
	if ok, err := dst.ClaimContact(ctx, ContactRef{"acme", "support", "111"}, "new:1", t0.Add(time.Minute)); err != nil || !ok {
		t.Errorf("claim of the copied contact = %v, %v; want the old lease dropped", ok, err)
	}
	if ok, _ := src.ClaimContact(ctx, ContactRef{"acme", "support", "111"}, "new:1", t0.Add(time.Minute)); ok {
		t.Error("the source's lease was not held: the test proves nothing")
	}
	open, _ := dst.OpenOutbound(ctx)
	for _, o := range open {
		if o.Sender != "" {
			t.Errorf("outbound %d kept the sender %q", o.ID, o.Sender)
		}
	}

	// New rows get ids past the copied ones.
	maxSeq, maxID := want.Events[0].Seq, want.Outbound[0].ID
	if _, err := dst.Ingest(ctx, "acme", "support", []InboundEvent{msg("new", "999", t0)}); err != nil {
		t.Fatal(err)
	}
	evs, _ := dst.InboundEvents(ctx, EventFilter{Limit: 1})
	if evs[0].DedupeKey != "msg:new" || evs[0].Seq <= maxSeq {
		t.Errorf("new event seq %d (%s), want above the copied %d", evs[0].Seq, evs[0].DedupeKey, maxSeq)
	}
	ids, err := dst.RecordOutbound(ctx, "acme", "support", []NewOutbound{{ContactKey: "999", Recipient: "+999", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}})
	if err != nil {
		t.Fatalf("record outbound after the copy: %v", err)
	}
	if ids[0] <= maxID {
		t.Errorf("new outbound id %d, want above the copied %d", ids[0], maxID)
	}
}

func dump(v any) string {
	switch x := v.(type) {
	case []*Contact:
		var s []string
		for _, c := range x {
			s = append(s, fmt.Sprintf("%+v", *c))
		}
		return strings.Join(s, "\n     ")
	case []*StoredEvent:
		var s []string
		for _, e := range x {
			s = append(s, fmt.Sprintf("%+v", *e))
		}
		return strings.Join(s, "\n     ")
	case []*Outbound:
		var s []string
		for _, o := range x {
			s = append(s, fmt.Sprintf("%+v", *o))
		}
		return strings.Join(s, "\n     ")
	}
	return fmt.Sprintf("%+v", v)
}

func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		fill func(dst *Store) error
		want string
	}{
		{"one contact", func(dst *Store) error {
			return dst.SetOptOut(ctx, ContactRef{"acme", "support", "1"}, true, t0)
		}, "(1 contact)"},
		{"events and a contact", func(dst *Store) error {
			_, err := dst.Ingest(ctx, "acme", "support", []InboundEvent{msg("x", "1", t0), msg("y", "1", t0)})
			return err
		}, "(1 contact, 2 inbound events, 1 contact alias)"},
		{"only an outbound message", func(dst *Store) error {
			_, err := dst.RecordOutbound(ctx, "acme", "support", []NewOutbound{{ContactKey: "1", Recipient: "+1", Origin: OriginSend, MessageType: "text", Request: []byte(`{}`)}})
			return err
		}, "(1 outbound message)"},
		{"only an idempotency key", func(dst *Store) error {
			_, err := dst.SaveIdempotent(ctx, "acme", "support", "k", "h", 202, []byte(`{}`))
			return err
		}, "(1 idempotency key)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := openAt(t, storetest.Postgres)
			src := openAt(t, storetest.SQLite)
			fillState(t, src)
			if err := tt.fill(dst); err != nil {
				t.Fatal(err)
			}
			before := viewDB(t, dst)
			_, err := Copy(ctx, dst, src, nil)
			if !errors.Is(err, ErrTargetNotEmpty) {
				t.Fatalf("Copy = %v; want ErrTargetNotEmpty", err)
			}
			if !strings.Contains(err.Error(), "already holds gtc state "+tt.want+": migrate into an empty database") {
				t.Errorf("error = %q; want it to count %s", err, tt.want)
			}
			if after := viewDB(t, dst); !reflect.DeepEqual(after, before) {
				t.Errorf("the refused copy changed the target:\n got %v\nwant %v", after, before)
			}
		})
	}
}

// viewDB counts the rows of each copied table.
func viewDB(t *testing.T, st *Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, ct := range copyTables {
		var n int
		if err := st.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+ct.name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[ct.name] = n
	}
	return out
}

func TestCopyErrorLeavesTargetEmpty(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// spoil prepares src (already filled) and returns the context to copy with.
		spoil func(t *testing.T, src *Store) (context.Context, func(string, int))
		want  string
	}{
		{"a text PostgreSQL refuses in the last table", func(t *testing.T, src *Store) (context.Context, func(string, int)) {
			// SQLite keeps a NUL byte in TEXT; PostgreSQL does not.
			if _, err := src.SaveIdempotent(ctx, "acme", "sales", "bad\x00key", "h", 202, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			return ctx, nil
		}, "gtc_idempotency_keys"},
		{"cancelled after the first table", func(t *testing.T, src *Store) (context.Context, func(string, int)) {
			cctx, cancel := context.WithCancel(ctx)
			t.Cleanup(cancel)
			return cctx, func(table string, rows int) {
				if table == "gtc_contacts" {
					cancel()
				}
			}
		}, "context canceled"},
		{"a value of the wrong type", func(t *testing.T, src *Store) (context.Context, func(string, int)) {
			if _, err := src.db.ExecContext(ctx, `UPDATE gtc_outbound_messages SET attempts = 'many' WHERE id = 2`); err != nil {
				t.Fatal(err)
			}
			return ctx, nil
		}, "gtc_outbound_messages: read row 2: column attempts: unexpected value of type string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := openAt(t, storetest.Postgres)
			src := openAt(t, storetest.SQLite)
			fillState(t, src)
			cctx, progress := tt.spoil(t, src)
			rep, err := Copy(cctx, dst, src, progress)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Copy = %v; want an error with %q", err, tt.want)
			}
			if rep.Total() != 0 {
				t.Errorf("a failed copy reports %d rows", rep.Total())
			}
			for table, n := range viewDB(t, dst) {
				if n != 0 {
					t.Errorf("%s holds %d rows after a failed copy", table, n)
				}
			}
			// And the target still takes the copy once the cause is gone.
			if _, err := Copy(ctx, dst, openAt(t, storetest.SQLite), nil); err != nil {
				t.Fatalf("copy after the failed one: %v", err)
			}
		})
	}
}

// Rows stream through: progress comes within a table, not only at its end.
func TestCopyManyRows(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 25k-row copy")
	}
	ctx := context.Background()
	dst := openAt(t, storetest.Postgres)
	src := openAt(t, storetest.SQLite)
	const n = 25000
	err := src.tx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO gtc_inbound_events (tenant, team, dedupe_key, kind, contact_key, event, received_at, state)
			VALUES ('t', 't', $1, 'message', $2, $3, $4, 'processed')`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range n {
			if _, err := ins.ExecContext(ctx, fmt.Sprint("msg:", i), fmt.Sprint(i%500), []byte(`{"i":`+fmt.Sprint(i)+`}`), i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls []int
	rep, err := Copy(ctx, dst, src, func(table string, rows int) {
		if table == "gtc_inbound_events" {
			calls = append(calls, rows)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows("gtc_inbound_events") != n || !reflect.DeepEqual(calls, []int{10000, 20000, n}) {
		t.Fatalf("copied %d rows, progress %v", rep.Rows("gtc_inbound_events"), calls)
	}
	evs, err := dst.InboundEvents(ctx, EventFilter{Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Seq != n || string(evs[0].Raw) != fmt.Sprintf(`{"i":%d}`, n-1) {
		t.Fatalf("newest copied event = %+v, %v", evs, err)
	}
}
