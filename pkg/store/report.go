package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds the read-only queries behind gtc messages, gtc contacts and gtc doctor.

// LogFilter selects outbound messages or inbound events for gtc messages.
type LogFilter struct {
	Tenant, Team string    // empty: all
	ContactKey   string    // empty: every contact
	States       []string  // outbound only: the message states to keep (sent, delivered, read, failed, ...)
	Since        time.Time // zero: no lower bound on created_at / received_at
	Limit        int       // default 100
}

func (f *LogFilter) limit() int {
	if f.Limit <= 0 {
		return 100
	}
	return f.Limit
}

// OutboundLog lists outbound messages matching f, newest first. Their State is the latest
// status (a status webhook moves sent on to delivered, read or failed).
func (s *Store) OutboundLog(ctx context.Context, f LogFilter) ([]*Outbound, error) {
	q := `SELECT ` + outboundCols + ` FROM gtc_outbound_messages WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2)
		AND ($3 = '' OR contact_key = $3) AND created_at >= $4`
	args := []any{f.Tenant, f.Team, f.ContactKey, ms(f.Since)}
	if len(f.States) > 0 {
		q += ` AND state IN (` + params(&args, f.States) + `)`
	}
	q += ` ORDER BY id DESC LIMIT ` + params(&args, []int{f.limit()})
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbound log: %w", err)
	}
	defer rows.Close()
	var out []*Outbound
	for rows.Next() {
		o, err := scanOutbound(rows)
		if err != nil {
			return nil, fmt.Errorf("read outbound log: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbound log: %w", err)
	}
	rows.Close()
	return out, s.attachPricing(ctx, out)
}

// attachPricing fills the Pricing of the messages of out that have one.
func (s *Store) attachPricing(ctx context.Context, out []*Outbound) error {
	type tt struct{ tenant, team string }
	byTT := map[tt][]string{}
	for _, o := range out {
		if o.WAMID != "" {
			k := tt{o.Tenant, o.Team}
			byTT[k] = append(byTT[k], o.WAMID)
		}
	}
	for k, wamids := range byTT {
		ps, err := s.PricingOf(ctx, k.tenant, k.team, wamids)
		if err != nil {
			return err
		}
		for _, o := range out {
			if o.Tenant == k.tenant && o.Team == k.team && o.WAMID != "" {
				o.Pricing = ps[o.WAMID]
			}
		}
	}
	return nil
}

// InboundLog lists inbound events matching f (States is ignored), newest first.
func (s *Store) InboundLog(ctx context.Context, f LogFilter) ([]*StoredEvent, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+eventCols+` FROM gtc_inbound_events
		WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) AND ($3 = '' OR contact_key = $3) AND received_at >= $4
		ORDER BY seq DESC LIMIT $5`, f.Tenant, f.Team, f.ContactKey, ms(f.Since), f.limit())
	if err != nil {
		return nil, fmt.Errorf("read inbound log: %w", err)
	}
	return evs, nil
}

// WindowWarning is how long before the 24-hour window closes Health counts a contact as
// near its end.
const WindowWarning = 2 * time.Hour

// Health is what gtc doctor reports from the state of one tenant/team.
type Health struct {
	// WebhookErrors counts the value.errors events received in the last 24 hours;
	// LastWebhookError is the raw payload of the newest of them.
	WebhookErrors    int
	LastWebhookError []byte
	// FailedByClass counts the messages of the last 24 hours that failed or were refused,
	// by error class (window_closed, opted_out, rate_limited, auth, ...).
	FailedByClass map[string]int
	// SentLast24h counts the messages Graph accepted in the last 24 hours (any state after
	// sent, failed after acceptance included).
	SentLast24h int
	// WindowClosing counts the contacts whose window closes within WindowWarning;
	// WindowClosed those who wrote once but whose window has closed.
	WindowClosing, WindowClosed int
	// OptedOut counts the contacts that opted out.
	OptedOut int
	// Contacts counts every known contact.
	Contacts int
}

// Health summarises tenant/team's state at now.
func (s *Store) Health(ctx context.Context, tenant, team string, now time.Time) (*Health, error) {
	h := &Health{FailedByClass: map[string]int{}}
	day := now.Add(-24 * time.Hour).UnixMilli()
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM gtc_inbound_events WHERE tenant = $1 AND team = $2 AND kind = 'error' AND received_at >= $3),
		(SELECT COUNT(*) FROM gtc_outbound_messages WHERE tenant = $4 AND team = $5 AND created_at >= $6 AND wamid <> ''),
		(SELECT COUNT(*) FROM gtc_contacts WHERE tenant = $7 AND team = $8 AND last_inbound_at > $9 AND last_inbound_at <= $10),
		(SELECT COUNT(*) FROM gtc_contacts WHERE tenant = $11 AND team = $12 AND last_inbound_at > 0 AND last_inbound_at <= $13),
		(SELECT COUNT(*) FROM gtc_contacts WHERE tenant = $14 AND team = $15 AND opted_out = 1),
		(SELECT COUNT(*) FROM gtc_contacts WHERE tenant = $16 AND team = $17)`,
		tenant, team, day,
		tenant, team, day,
		tenant, team, day, now.Add(WindowWarning-24*time.Hour).UnixMilli(),
		tenant, team, day,
		tenant, team,
		tenant, team).Scan(&h.WebhookErrors, &h.SentLast24h, &h.WindowClosing, &h.WindowClosed, &h.OptedOut, &h.Contacts)
	if err != nil {
		return nil, fmt.Errorf("read health: %w", err)
	}
	if h.WebhookErrors > 0 {
		if err := s.db.QueryRowContext(ctx, `SELECT event FROM gtc_inbound_events WHERE tenant = $1 AND team = $2 AND kind = 'error'
			ORDER BY seq DESC LIMIT 1`, tenant, team).Scan(&h.LastWebhookError); err != nil {
			return nil, fmt.Errorf("read health: %w", err)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT CASE WHEN error_class = '' THEN 'unknown' ELSE error_class END, COUNT(*)
		FROM gtc_outbound_messages WHERE tenant = $1 AND team = $2 AND created_at >= $3 AND state IN ('failed', 'refused')
		GROUP BY 1 ORDER BY 1`, tenant, team, day)
	if err != nil {
		return nil, fmt.Errorf("read health: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var class string
		var n int
		if err := rows.Scan(&class, &n); err != nil {
			return nil, fmt.Errorf("read health: %w", err)
		}
		h.FailedByClass[class] = n
	}
	return h, rows.Err()
}
