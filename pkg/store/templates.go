package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Where a template's status was seen.
const (
	TemplateSourceWebhook = "webhook" // a message_template_status_update webhook
	TemplateSourceGraph   = "graph"   // Graph's template list
)

// TemplateState is what gtc last saw of one message template of a tenant/team's business
// account: its status (with Meta's reason), its category and its quality, each with when
// it was seen. A field gtc never heard of is empty.
type TemplateState struct {
	Tenant, Team   string
	Name, Language string
	WABAID, ID     string
	// Status is the last status event (APPROVED, PAUSED, DISABLED, REJECTED, FLAGGED, …) or
	// the status Graph's list gave; Reason is Meta's reason or note ("" for none).
	Status, Reason string
	StatusAt       time.Time
	StatusSource   string // TemplateSourceWebhook or TemplateSourceGraph
	Category       string // MARKETING, UTILITY, AUTHENTICATION
	CategoryAt     time.Time
	Quality        string // GREEN, YELLOW, RED, UNKNOWN
	QualityAt      time.Time
	UpdatedAt      time.Time
}

// TemplateUpdate is what one webhook or one Graph template list said about a template at
// At: any of status, category and quality (empty ones are left as they are). An aspect
// seen earlier than what is recorded for it changes nothing.
type TemplateUpdate struct {
	Name, Language string
	WABAID, ID     string
	Status, Reason string
	Source         string // TemplateSourceWebhook (default) or TemplateSourceGraph
	Category       string
	Quality        string
	At             time.Time
}

// upsertTemplateSQL records a TemplateUpdate; each aspect moves only forward in time (the
// SET expressions all read the row as it was).
const upsertTemplateSQL = `INSERT INTO gtc_templates (tenant, team, name, language, waba_id, template_id,
		status, reason, status_at, status_source, category, category_at, quality, quality_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
	ON CONFLICT (tenant, team, name, language) DO UPDATE SET
		waba_id = CASE WHEN excluded.waba_id <> '' THEN excluded.waba_id ELSE gtc_templates.waba_id END,
		template_id = CASE WHEN excluded.template_id <> '' THEN excluded.template_id ELSE gtc_templates.template_id END,
		status = CASE WHEN excluded.status <> '' AND excluded.status_at >= gtc_templates.status_at THEN excluded.status ELSE gtc_templates.status END,
		reason = CASE WHEN excluded.status <> '' AND excluded.status_at >= gtc_templates.status_at THEN excluded.reason ELSE gtc_templates.reason END,
		status_source = CASE WHEN excluded.status <> '' AND excluded.status_at >= gtc_templates.status_at THEN excluded.status_source ELSE gtc_templates.status_source END,
		status_at = CASE WHEN excluded.status <> '' AND excluded.status_at >= gtc_templates.status_at THEN excluded.status_at ELSE gtc_templates.status_at END,
		category = CASE WHEN excluded.category <> '' AND excluded.category_at >= gtc_templates.category_at THEN excluded.category ELSE gtc_templates.category END,
		category_at = CASE WHEN excluded.category <> '' AND excluded.category_at >= gtc_templates.category_at THEN excluded.category_at ELSE gtc_templates.category_at END,
		quality = CASE WHEN excluded.quality <> '' AND excluded.quality_at >= gtc_templates.quality_at THEN excluded.quality ELSE gtc_templates.quality END,
		quality_at = CASE WHEN excluded.quality <> '' AND excluded.quality_at >= gtc_templates.quality_at THEN excluded.quality_at ELSE gtc_templates.quality_at END,
		updated_at = excluded.updated_at`

// templateArgs are upsertTemplateSQL's arguments for u.
func templateArgs(tenant, team string, u *TemplateUpdate, now int64) []any {
	src := u.Source
	if src == "" {
		src = TemplateSourceWebhook
	}
	at := ms(u.At)
	if u.At.IsZero() {
		at = now
	}
	// Each aspect's time is set only with the aspect, so a new row's missing ones stay 0.
	when := func(v string) int64 {
		if v == "" {
			return 0
		}
		return at
	}
	if u.Status == "" {
		src = ""
	}
	return []any{tenant, team, safeText(u.Name), safeText(u.Language), safeText(u.WABAID), safeText(u.ID),
		safeText(u.Status), safeText(u.Reason), when(u.Status), src, safeText(u.Category), when(u.Category),
		safeText(u.Quality), when(u.Quality), now}
}

// RecordTemplates records what was seen about templates of tenant/team (Graph's template
// list, read now; webhooks come through Ingest), in one transaction.
func (s *Store) RecordTemplates(ctx context.Context, tenant, team string, ups []TemplateUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, upsertTemplateSQL)
		if err != nil {
			return fmt.Errorf("record templates: %w", err)
		}
		defer st.Close()
		now := s.now()
		for i := range ups {
			if ups[i].Name == "" {
				continue
			}
			if _, err := st.ExecContext(ctx, templateArgs(tenant, team, &ups[i], now)...); err != nil {
				return fmt.Errorf("record template %s: %w", ups[i].Name, err)
			}
		}
		return nil
	})
}

const templateCols = `tenant, team, name, language, waba_id, template_id, status, reason, status_at, status_source,
	category, category_at, quality, quality_at, updated_at`

func scanTemplate(row interface{ Scan(...any) error }) (*TemplateState, error) {
	var t TemplateState
	var sAt, cAt, qAt, upd int64
	if err := row.Scan(&t.Tenant, &t.Team, &t.Name, &t.Language, &t.WABAID, &t.ID, &t.Status, &t.Reason, &sAt, &t.StatusSource,
		&t.Category, &cAt, &t.Quality, &qAt, &upd); err != nil {
		return nil, err
	}
	t.StatusAt, t.CategoryAt, t.QualityAt, t.UpdatedAt = fromMS(sAt), fromMS(cAt), fromMS(qAt), fromMS(upd)
	return &t, nil
}

// TemplateState returns what gtc last saw of tenant/team's template name (language), or
// nil when it never heard of it.
func (s *Store) TemplateState(ctx context.Context, tenant, team, name, language string) (*TemplateState, error) {
	t, err := scanTemplate(s.rdb.QueryRowContext(ctx, `SELECT `+templateCols+` FROM gtc_templates
		WHERE tenant = $1 AND team = $2 AND name = $3 AND language = $4`, tenant, team, name, language))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", name, err)
	}
	return t, nil
}

// TemplateStates lists what gtc last saw of tenant/team's templates, by name and language.
func (s *Store) TemplateStates(ctx context.Context, tenant, team string) ([]*TemplateState, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+templateCols+` FROM gtc_templates
		WHERE tenant = $1 AND team = $2 ORDER BY name, language`, tenant, team)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	var out []*TemplateState
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
