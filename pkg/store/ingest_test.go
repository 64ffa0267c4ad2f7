package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// durability reads the setting that makes a commit wait for the disk, inside tx.
func durability(t *testing.T, tx *sql.Tx, pg bool) string {
	q := `PRAGMA synchronous` // 2 = FULL: in WAL mode the WAL is synced inside every COMMIT
	if pg {
		q = `SHOW synchronous_commit`
	}
	var v string
	if err := tx.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		t.Error(err)
	}
	return v
}

// An Ingest returns only after the transaction holding its events has committed with the
// durable setting: SQLite synchronous=FULL in WAL mode (the WAL is fsynced inside COMMIT),
// PostgreSQL synchronous_commit on, even when the URL turned it off. Other transactions keep
// SQLite's cheaper NORMAL.
func TestIngestDurableBeforeAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		dsn := b.DSN(t)
		want, other := "2", "1"
		if b.Name == "postgres" {
			dsn += "&synchronous_commit=off"
			want, other = "on", "on"
		}
		var mu sync.Mutex
		var order []string
		note := func(s string) {
			mu.Lock()
			order = append(order, s)
			mu.Unlock()
		}
		pg := b.Name == "postgres"
		st, err := Open(ctx, dsn, Options{Now: func() time.Time { return t0 },
			Enqueue: func(_ context.Context, tx *sql.Tx, _ []ContactRef) error {
				note("in the events' transaction, durability " + durability(t, tx, pg))
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if !st.Postgres() {
			var mode string
			if err := st.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
			}
		}
		st.grouped = func(n int, err error) {
			if err != nil {
				t.Errorf("group of %d failed: %v", n, err)
			}
			note("committed")
		}
		st.answered = func(*ingestReq) { note("answer") }
		if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg("m1", "1", t0)}); err != nil {
			t.Fatal(err)
		}
		note("return")
		wantOrder := []string{"in the events' transaction, durability " + want, "committed", "answer", "return"}
		if !slices.Equal(order, wantOrder) {
			t.Fatalf("order = %q; want %q", order, wantOrder)
		}
		err = st.tx(ctx, func(tx *sql.Tx) error {
			if got := durability(t, tx, pg); got != other {
				t.Errorf("other transactions: durability %s, want %s", got, other)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// holdCommitter makes st's committer wait inside a group of its own (a request for contact
// "holder"), so that requests made meanwhile queue up; release waits until n are queued,
// lets the committer go on (they will be taken as one group) and waits for the holder.
func holdCommitter(t *testing.T, st *Store) (release func(n int)) {
	t.Helper()
	inside, resume := make(chan struct{}), make(chan struct{})
	next := st.opts.Enqueue
	st.opts.Enqueue = func(ctx context.Context, tx *sql.Tx, refs []ContactRef) error {
		if refs[0].Key == "holder" {
			close(inside)
			<-resume
			return nil
		}
		if next == nil {
			return nil
		}
		return next(ctx, tx, refs)
	}
	done := make(chan error, 1)
	go func() {
		_, err := st.Ingest(context.Background(), "t", "t", []InboundEvent{msg("holder", "holder", t0)})
		done <- err
	}()
	<-inside
	return func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(st.ingestCh) < n && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if q := len(st.ingestCh); q != n {
			t.Fatalf("%d requests queued, want %d", q, n)
		}
		close(resume)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

type groupAttempt struct {
	requests int
	ok       bool
}

// One bad request in a group fails alone: the group is split until it is alone, and its
// neighbours are recorded and answered.
func TestIngestFailingNeighbour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		tests := []struct {
			name string
			bad  InboundEvent
		}{
			{"event without a dedupe key", InboundEvent{Kind: KindStatus, Raw: []byte(`{}`)}},
			{"enqueue refuses its contact", msg("poison-1", "poison", t0)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				st, _ := openTest(t, b, Options{Enqueue: func(_ context.Context, _ *sql.Tx, refs []ContactRef) error {
					for _, r := range refs {
						if r.Key == "poison" {
							return errors.New("poison contact")
						}
					}
					return nil
				}})
				var mu sync.Mutex
				var groups []groupAttempt
				st.grouped = func(n int, err error) {
					mu.Lock()
					groups = append(groups, groupAttempt{n, err == nil})
					mu.Unlock()
				}
				release := holdCommitter(t, st)
				const n, bad = 11, 5
				errs := make([]error, n)
				results := make([]IngestResult, n)
				var wg sync.WaitGroup
				for i := range n {
					ev := msg(fmt.Sprint("good-", i), fmt.Sprint("c", i), t0)
					if i == bad {
						ev = tt.bad
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i], errs[i] = st.Ingest(ctx, "t", "t", []InboundEvent{ev})
					}()
				}
				release(n)
				wg.Wait()
				for i, err := range errs {
					switch {
					case i == bad && err == nil:
						t.Errorf("bad request answered %+v, want an error", results[i])
					case i != bad && (err != nil || results[i].New != 1):
						t.Errorf("good request %d: %+v, %v", i, results[i], err)
					}
				}
				mu.Lock()
				got := slices.Clone(groups)
				mu.Unlock()
				// The holder, the group of n that fails, then its halves and their halves
				// until the bad request is alone: every good request committed once, in a
				// group without the bad one.
				if len(got) < 3 || got[0] != (groupAttempt{1, true}) || got[1] != (groupAttempt{n, false}) {
					t.Fatalf("groups = %+v; want the holder, then %d failing together", got, n)
				}
				committed, lastFail := 0, groupAttempt{}
				for _, g := range got[2:] {
					if g.ok {
						committed += g.requests
					} else {
						lastFail = g
					}
				}
				if committed != n-1 || lastFail != (groupAttempt{1, false}) || len(got)-2 > 2*4 {
					t.Errorf("groups = %+v; want the %d good requests committed and the bad one failing alone, in at most 8 transactions", got, n-1)
				}
				evs, err := st.InboundEvents(ctx, EventFilter{Kind: KindMessage, Limit: 100})
				if err != nil || len(evs) != n {
					t.Errorf("recorded %d message events, %v; want %d (the holder and the good ones)", len(evs), err, n)
				}
			})
		}
	})
}

// Text PostgreSQL cannot store (NUL, invalid UTF-8) is escaped in the text columns and kept
// byte for byte in the raw event, so such a body fails nothing: neither itself nor the
// requests committed with it.
func TestIngestNULText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _ := openTest(t, b, Options{})
		release := holdCommitter(t, st)
		const n = 20
		isBad := func(i int) bool { return i%4 == 1 } // 5 of 20
		raw := func(i int) []byte {
			if isBad(i) {
				// An escaped NUL, as Meta sends it, and raw NUL and 0xff bytes.
				return append([]byte(fmt.Sprintf(`{"profile":{"name":"Eve\u0000%d"}}`, i)), 0, 0xff)
			}
			return []byte(fmt.Sprintf(`{"profile":{"name":"Ana %d"}}`, i))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			ev := msg(fmt.Sprint("m", i), fmt.Sprint("c", i), t0)
			ev.Raw, ev.Name = raw(i), fmt.Sprint("Ana ", i)
			if isBad(i) {
				ev.Name = fmt.Sprint("Eve\x00", i, "\xff")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.Ingest(ctx, "t", "t", []InboundEvent{ev})
			}()
		}
		release(n)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("request %d (NUL: %v): %v", i, isBad(i), err)
			}
		}
		for i := range n {
			c, err := st.Contact(ctx, "t", "t", fmt.Sprint("c", i))
			want := fmt.Sprint("Ana ", i)
			if isBad(i) {
				want = fmt.Sprint(`Eve\u0000`, i, "\uFFFD")
			}
			if err != nil || c.Name != want {
				t.Errorf("contact c%d name = %q, %v; want %q", i, c.Name, err, want)
			}
			evs, err := st.PendingEvents(ctx, ContactRef{"t", "t", fmt.Sprint("c", i)}, 1)
			if err != nil || len(evs) != 1 || !bytes.Equal(evs[0].Raw, raw(i)) {
				t.Errorf("event m%d raw = %v, %v; want %q intact", i, evs, err, raw(i))
			}
		}
	})
}

// IngestBacklog counts the Ingest calls waiting for their group commit (the delivery
// workers hold back while it is high): the one being committed and the ones queued behind
// it, and none once they are answered.
func TestIngestBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, err := Open(context.Background(), b.DSN(t), Options{Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if n := st.IngestBacklog(); n != 0 {
			t.Fatalf("IngestBacklog = %d before any webhook, want 0", n)
		}
		release := holdCommitter(t, st)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprint("c", i)
				if _, err := st.Ingest(context.Background(), "t", "t", []InboundEvent{msg("m"+key, key, t0)}); err != nil {
					t.Error(err)
				}
			}()
		}
		for deadline := time.Now().Add(10 * time.Second); len(st.ingestCh) < 3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := st.IngestBacklog(); n != 4 {
			t.Errorf("IngestBacklog = %d with one group committing and 3 webhooks queued, want 4", n)
		}
		release(3)
		wg.Wait()
		if n := st.IngestBacklog(); n != 0 {
			t.Errorf("IngestBacklog = %d after every webhook was answered, want 0", n)
		}
	})
}
