package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds what Meta bills: the pricing and conversation that status webhooks carry,
// kept once per outbound message (gtc_message_pricing), and the summary gtc report and gtc
// doctor read from it.

// Pricing is a status webhook's pricing and conversation objects: whether and how Meta
// bills the message.
type Pricing struct {
	Billable     bool
	PricingModel string // CBP (per conversation, before July 2025) or PMP (per message)
	Category     string // marketing, utility, authentication, service, referral_conversion, …
	Type         string // PMP: regular, free_customer_service, free_entry_point
	// The conversation object (CBP; absent under PMP): its id, origin type and expiry.
	ConversationID      string
	ConversationOrigin  string
	ConversationExpires time.Time
}

// MessagePricing is the pricing recorded for one outbound message.
type MessagePricing struct {
	Pricing
	Tenant, Team, WAMID string
	Status              string    // the status whose pricing this is (the highest seen)
	At                  time.Time // the first status that carried pricing (Meta's time)
}

// upsertPricingSQL records a status's pricing: once per message; a later status of a
// higher rank (sent < delivered < read) replaces the pricing fields, and the time stays
// the earliest.
var upsertPricingSQL = `INSERT INTO gtc_message_pricing (tenant, team, wamid, status, billable, pricing_model, category, pricing_type,
		conversation_id, conversation_origin, conversation_expires, at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (tenant, team, wamid) DO UPDATE SET
		status = CASE WHEN ` + stateRankSQL("excluded.status") + ` >= ` + stateRankSQL("gtc_message_pricing.status") + ` THEN excluded.status ELSE gtc_message_pricing.status END,
		billable = CASE WHEN ` + stateRankSQL("excluded.status") + ` >= ` + stateRankSQL("gtc_message_pricing.status") + ` THEN excluded.billable ELSE gtc_message_pricing.billable END,
		pricing_model = CASE WHEN ` + stateRankSQL("excluded.status") + ` >= ` + stateRankSQL("gtc_message_pricing.status") + ` THEN excluded.pricing_model ELSE gtc_message_pricing.pricing_model END,
		category = CASE WHEN ` + stateRankSQL("excluded.status") + ` >= ` + stateRankSQL("gtc_message_pricing.status") + ` THEN excluded.category ELSE gtc_message_pricing.category END,
		pricing_type = CASE WHEN ` + stateRankSQL("excluded.status") + ` >= ` + stateRankSQL("gtc_message_pricing.status") + ` THEN excluded.pricing_type ELSE gtc_message_pricing.pricing_type END,
		conversation_id = CASE WHEN excluded.conversation_id <> '' THEN excluded.conversation_id ELSE gtc_message_pricing.conversation_id END,
		conversation_origin = CASE WHEN excluded.conversation_origin <> '' THEN excluded.conversation_origin ELSE gtc_message_pricing.conversation_origin END,
		conversation_expires = CASE WHEN excluded.conversation_expires <> 0 THEN excluded.conversation_expires ELSE gtc_message_pricing.conversation_expires END,
		at = CASE WHEN excluded.at < gtc_message_pricing.at THEN excluded.at ELSE gtc_message_pricing.at END,
		updated_at = excluded.updated_at`

func pricingArgs(tenant, team string, st *StatusUpdate, now int64) []any {
	p := st.Pricing
	return []any{tenant, team, safeText(st.WAMID), safeText(st.Status), boolInt(p.Billable), safeText(p.PricingModel),
		safeText(p.Category), safeText(p.Type), safeText(p.ConversationID), safeText(p.ConversationOrigin),
		ms(p.ConversationExpires), ms(st.At), now}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PricingOf returns the pricing recorded for the messages wamids of tenant/team, by wamid
// (messages without any are absent).
func (s *Store) PricingOf(ctx context.Context, tenant, team string, wamids []string) (map[string]*MessagePricing, error) {
	out := map[string]*MessagePricing{}
	const chunk = 500
	for len(wamids) > 0 {
		n := min(chunk, len(wamids))
		args := []any{tenant, team}
		q := `SELECT ` + pricingCols + ` FROM gtc_message_pricing WHERE tenant = $1 AND team = $2 AND wamid IN (` + params(&args, wamids[:n]) + `)`
		if err := s.queryPricing(ctx, q, args, func(p *MessagePricing) { out[p.WAMID] = p }); err != nil {
			return nil, fmt.Errorf("read pricing: %w", err)
		}
		wamids = wamids[n:]
	}
	return out, nil
}

const pricingCols = `tenant, team, wamid, status, billable, pricing_model, category, pricing_type, conversation_id,
	conversation_origin, conversation_expires, at`

func (s *Store) queryPricing(ctx context.Context, q string, args []any, each func(*MessagePricing)) error {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p MessagePricing
		var billable int
		var expires, at int64
		if err := rows.Scan(&p.Tenant, &p.Team, &p.WAMID, &p.Status, &billable, &p.PricingModel, &p.Category, &p.Type,
			&p.ConversationID, &p.ConversationOrigin, &expires, &at); err != nil {
			return err
		}
		p.Billable = billable != 0
		p.ConversationExpires, p.At = fromMS(expires), fromMS(at)
		each(&p)
	}
	return rows.Err()
}

// PricingFilter selects the messages a pricing summary covers.
type PricingFilter struct {
	Tenant, Team string    // empty: all
	Since        time.Time // the first pricing status at or after it
	Until        time.Time // zero: no upper bound; else before it
}

// PricingCount is how many messages of one day share a pricing.
type PricingCount struct {
	Tenant, Team string
	Day          time.Time // UTC midnight of the first status that carried pricing
	Billable     bool
	PricingModel string
	Category     string
	Type         string
	Messages     int
}

// PricingSummary counts the messages of f by tenant/team, UTC day, billable, model,
// category and type, each message once, ordered by tenant, team, day and the rest.
func (s *Store) PricingSummary(ctx context.Context, f PricingFilter) ([]PricingCount, error) {
	until := int64(1<<63 - 1)
	if !f.Until.IsZero() {
		until = ms(f.Until)
	}
	const day = 24 * 60 * 60 * 1000
	rows, err := s.rdb.QueryContext(ctx, `SELECT tenant, team, at / CAST($5 AS BIGINT), billable, pricing_model, category, pricing_type, COUNT(*)
		FROM gtc_message_pricing WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) AND at >= $3 AND at < $4
		GROUP BY tenant, team, at / CAST($5 AS BIGINT), billable, pricing_model, category, pricing_type
		ORDER BY tenant, team, 3, category, pricing_type, billable, pricing_model`,
		f.Tenant, f.Team, ms(f.Since), until, int64(day))
	if err != nil {
		return nil, fmt.Errorf("read pricing summary: %w", err)
	}
	defer rows.Close()
	var out []PricingCount
	for rows.Next() {
		var c PricingCount
		var d int64
		var billable int
		if err := rows.Scan(&c.Tenant, &c.Team, &d, &billable, &c.PricingModel, &c.Category, &c.Type, &c.Messages); err != nil {
			return nil, fmt.Errorf("read pricing summary: %w", err)
		}
		c.Day, c.Billable = time.UnixMilli(d*day).UTC(), billable != 0
		out = append(out, c)
	}
	return out, rows.Err()
}
