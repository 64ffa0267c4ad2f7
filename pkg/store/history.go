package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Note is an agent's internal note on a contact's conversation (never sent).
type Note struct {
	ID                       int64
	Tenant, Team, ContactKey string
	Author, Text             string
	CreatedAt                time.Time
}

// AddNote records a note on ref's conversation and returns its id.
func (s *Store) AddNote(ctx context.Context, ref ContactRef, author, text string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO gtc_notes (tenant, team, contact_key, author, text, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, ref.Tenant, ref.Team, safeText(ref.Key), safeText(author), safeText(text), s.now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add note: %w", err)
	}
	return id, nil
}

// History directions.
const (
	HistoryIn   = "in"
	HistoryOut  = "out"
	HistoryNote = "note"
)

// HistoryEntry is one item of a contact's history: an inbound message (Event), an outbound
// message (Outbound) or a note (Note).
type HistoryEntry struct {
	At       time.Time
	Dir      string
	Event    *StoredEvent
	Outbound *Outbound
	Note     *Note
	// Cursor orders the history (newest first by time, then direction, then id): pass it
	// as History's before to page past this entry.
	Cursor string
}

func dirRank(d string) int {
	switch d {
	case HistoryIn:
		return 0
	case HistoryOut:
		return 1
	}
	return 2
}

type histKey struct {
	at   int64
	rank int
	id   int64
}

func (k histKey) String() string { return fmt.Sprintf("%d-%d-%d", k.at, k.rank, k.id) }

func (k histKey) less(o histKey) bool {
	return cmp.Or(cmp.Compare(k.at, o.at), cmp.Compare(k.rank, o.rank), cmp.Compare(k.id, o.id)) < 0
}

func parseHistKey(s string) (histKey, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return histKey{}, fmt.Errorf("bad cursor %q: pass a cursor from an earlier page", s)
	}
	var k histKey
	var err error
	var r int64
	if k.at, err = strconv.ParseInt(parts[0], 10, 64); err == nil {
		if r, err = strconv.ParseInt(parts[1], 10, 64); err == nil {
			k.id, err = strconv.ParseInt(parts[2], 10, 64)
		}
	}
	if err != nil {
		return histKey{}, fmt.Errorf("bad cursor %q: pass a cursor from an earlier page", s)
	}
	k.rank = int(r)
	return k, nil
}

// History returns up to limit entries of ref's history (its inbound messages, the messages
// sent to it, and notes), oldest first: the newest ones when before is "", else those older
// than the entry whose Cursor is before. more says whether older entries exist.
func (s *Store) History(ctx context.Context, ref ContactRef, before string, limit int) (entries []HistoryEntry, more bool, err error) {
	if limit <= 0 {
		limit = 50
	}
	bound := histKey{at: 1<<62 - 1}
	if before != "" {
		if bound, err = parseHistKey(before); err != nil {
			return nil, false, err
		}
	}
	// Each source gives its newest rows at or before the bound's time; a few more than
	// limit cover the rows that share that millisecond.
	n := limit + 1
	var all []HistoryEntry
	var keys []histKey
	add := func(e HistoryEntry, id int64) {
		k := histKey{ms(e.At), dirRank(e.Dir), id}
		if !k.less(bound) {
			return
		}
		e.Cursor = k.String()
		all, keys = append(all, e), append(keys, k)
	}
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM gtc_inbound_events
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND kind = 'message' AND received_at <= $4
		ORDER BY received_at DESC, seq DESC LIMIT $5`, ref.Tenant, ref.Team, ref.Key, bound.at, n+16)
	if err != nil {
		return nil, false, fmt.Errorf("read history: %w", err)
	}
	for _, e := range evs {
		add(HistoryEntry{At: e.ReceivedAt, Dir: HistoryIn, Event: e}, e.Seq)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+outboundCols+` FROM gtc_outbound_messages
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND created_at <= $4 ORDER BY created_at DESC, id DESC LIMIT $5`,
		ref.Tenant, ref.Team, ref.Key, bound.at, n+16)
	if err != nil {
		return nil, false, fmt.Errorf("read history: %w", err)
	}
	for rows.Next() {
		o, err := scanOutbound(rows)
		if err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("read history: %w", err)
		}
		add(HistoryEntry{At: o.CreatedAt, Dir: HistoryOut, Outbound: o}, o.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read history: %w", err)
	}
	nrows, err := s.rdb.QueryContext(ctx, `SELECT id, tenant, team, contact_key, author, text, created_at FROM gtc_notes
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND created_at <= $4 ORDER BY created_at DESC, id DESC LIMIT $5`,
		ref.Tenant, ref.Team, ref.Key, bound.at, n+16)
	if err != nil {
		return nil, false, fmt.Errorf("read history: %w", err)
	}
	for nrows.Next() {
		var nt Note
		var at int64
		if err := nrows.Scan(&nt.ID, &nt.Tenant, &nt.Team, &nt.ContactKey, &nt.Author, &nt.Text, &at); err != nil {
			nrows.Close()
			return nil, false, fmt.Errorf("read history: %w", err)
		}
		nt.CreatedAt = fromMS(at)
		add(HistoryEntry{At: nt.CreatedAt, Dir: HistoryNote, Note: &nt}, nt.ID)
	}
	nrows.Close()
	if err := nrows.Err(); err != nil {
		return nil, false, fmt.Errorf("read history: %w", err)
	}
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { // newest first
		if keys[a].less(keys[b]) {
			return 1
		}
		if keys[b].less(keys[a]) {
			return -1
		}
		return 0
	})
	more = len(idx) > limit
	idx = idx[:min(limit, len(idx))]
	out := make([]HistoryEntry, len(idx))
	for i, j := range idx {
		out[len(idx)-1-i] = all[j]
	}
	return out, more, nil
}

// MarkAgentRead records that an agent read ref's conversation now (unread counts restart).
func (s *Store) MarkAgentRead(ctx context.Context, ref ContactRef) error {
	_, err := s.db.ExecContext(ctx, `UPDATE gtc_conversations SET agent_read_at = $1 WHERE tenant = $2 AND team = $3 AND contact_key = $4`,
		s.now(), ref.Tenant, ref.Team, ref.Key)
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	return nil
}

// Unread counts ref's inbound messages received after since.
func (s *Store) Unread(ctx context.Context, ref ContactRef, since time.Time) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM gtc_inbound_events
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND kind = 'message' AND received_at > $4`,
		ref.Tenant, ref.Team, ref.Key, ms(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unread: %w", err)
	}
	return n, nil
}
