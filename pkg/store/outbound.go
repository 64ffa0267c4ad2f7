package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Outbound message states.
const (
	OutPending  = "pending"  // recorded, not sent yet
	OutRetrying = "retrying" // waiting for a retry (its job's) or for the pacer
	// OutSending: a request is on its way to Graph (Attempts is its number, Sender who
	// sends it); the mark is committed before the request.
	OutSending = "sending"
	// OutAmbiguous: a request may have gone out, its answer was lost (a timeout, a crash
	// mid-send). Its status webhook settles it; without one it is sent again after the
	// reconciliation window, counted from NextAttemptAt (the time of that request).
	OutAmbiguous = "ambiguous"
	OutSent      = "sent"    // accepted by Graph (then delivered / read / played / failed by status webhooks)
	OutFailed    = "failed"  // Graph refused it, or a status said failed
	OutRefused   = "refused" // gtc did not send it: opted_out, window_closed, unreachable
)

// Outbound origins.
const (
	OriginFlow   = "flow"    // a flow reply
	OriginOptOut = "opt_out" // the opt-out / opt-in confirmation
	OriginSend   = "send"    // gtc send
	OriginAPI    = "api"     // the send API (POST /v1/messages), flow starts included
)

// Outbound is one message gtc sends or decided not to send.
type Outbound struct {
	ID               int64
	Tenant, Team     string
	ContactKey       string
	Recipient        string
	InboundSeq       int64
	Origin           string
	Flow, Node       string
	MessageType      string
	Request          []byte // the JSON body for /messages
	RetryOnRateLimit bool
	State            string
	WAMID            string
	ErrorClass       string
	ErrorCode        int
	ErrorMessage     string
	Attempts         int
	NextAttemptAt    time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Sender is who is sending it right now ("<instance>:<job>"), "" when nobody is: a
	// retrying or ambiguous row waits for its gtc_send job, a pending one for its sender or
	// recovery.
	Sender string
	// Pricing is what its status webhooks said Meta bills (OutboundLog fills it; nil
	// when none said).
	Pricing *MessagePricing
}

// NewOutbound is an outbound message to record.
type NewOutbound struct {
	ContactKey       string
	Recipient        string
	Origin           string
	Flow, Node       string
	MessageType      string
	Request          []byte
	RetryOnRateLimit bool
	// Sender is who will send it (see Outbound.Sender).
	Sender string
}

const outboundCols = `id, tenant, team, contact_key, recipient, inbound_seq, origin, flow, node, message_type, request,
	retry_on_rate_limit, state, wamid, error_class, error_code, error_message, attempts, next_attempt_at, created_at, updated_at, sender`

func scanOutbound(row interface{ Scan(...any) error }) (*Outbound, error) {
	var o Outbound
	var retry int
	var next, created, updated int64
	if err := row.Scan(&o.ID, &o.Tenant, &o.Team, &o.ContactKey, &o.Recipient, &o.InboundSeq, &o.Origin, &o.Flow, &o.Node,
		&o.MessageType, &o.Request, &retry, &o.State, &o.WAMID, &o.ErrorClass, &o.ErrorCode, &o.ErrorMessage, &o.Attempts,
		&next, &created, &updated, &o.Sender); err != nil {
		return nil, err
	}
	o.RetryOnRateLimit = retry != 0
	o.NextAttemptAt, o.CreatedAt, o.UpdatedAt = fromMS(next), fromMS(created), fromMS(updated)
	return &o, nil
}

// OutboundByID returns one outbound message, or ErrNotFound.
func (s *Store) OutboundByID(ctx context.Context, id int64) (*Outbound, error) {
	o, err := scanOutbound(s.rdb.QueryRowContext(ctx, `SELECT `+outboundCols+` FROM gtc_outbound_messages WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("outbound message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read outbound message %d: %w", id, err)
	}
	return o, nil
}

// OutboundFilter selects outbound messages for listing.
type OutboundFilter struct {
	Tenant, Team, ContactKey string // empty: all
	States                   []string
	Limit                    int // default 100
}

// OutboundMessages lists outbound messages, newest first.
func (s *Store) OutboundMessages(ctx context.Context, f OutboundFilter) ([]*Outbound, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT ` + outboundCols + ` FROM gtc_outbound_messages WHERE ($1 = '' OR tenant = $1) AND ($2 = '' OR team = $2) AND ($3 = '' OR contact_key = $3)`
	args := []any{f.Tenant, f.Team, f.ContactKey}
	if len(f.States) > 0 {
		q += ` AND state IN (` + params(&args, f.States) + `)`
	}
	q += ` ORDER BY id DESC LIMIT ` + params(&args, []int{f.Limit})
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbound messages: %w", err)
	}
	defer rows.Close()
	var out []*Outbound
	for rows.Next() {
		o, err := scanOutbound(rows)
		if err != nil {
			return nil, fmt.Errorf("list outbound messages: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// params appends vs to args and returns their placeholders ("$7, $8"), for the few queries
// whose conditions depend on a filter.
func params[T any](args *[]any, vs []T) string {
	var b strings.Builder
	for i, v := range vs {
		*args = append(*args, v)
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(len(*args)))
	}
	return b.String()
}

// RecordOutbound records messages for tenant/team outside a flow run (gtc send, the API)
// in state pending and returns their ids.
func (s *Store) RecordOutbound(ctx context.Context, tenant, team string, msgs []NewOutbound) ([]int64, error) {
	return s.RecordOutboundOnce(ctx, tenant, team, nil, msgs)
}

// RecordOutboundOnce is RecordOutbound with key (nil: none) reserved in the same
// transaction: when another request holds key, nothing is recorded and the error wraps
// ErrKeyTaken.
func (s *Store) RecordOutboundOnce(ctx context.Context, tenant, team string, key *IdempotencyKey, msgs []NewOutbound) ([]int64, error) {
	var ids []int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var err error
		if ids, err = insertOutbound(ctx, tx, nil, tenant, team, 0, msgs, now); err != nil {
			return err
		}
		return reserveKey(ctx, tx, key, ids, now)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// OutboundByIDs returns the outbound messages ids that exist, in id order.
func (s *Store) OutboundByIDs(ctx context.Context, ids []int64) ([]*Outbound, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var args []any
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+outboundCols+` FROM gtc_outbound_messages WHERE id IN (`+params(&args, ids)+`) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbound messages: %w", err)
	}
	defer rows.Close()
	var out []*Outbound
	for rows.Next() {
		o, err := scanOutbound(rows)
		if err != nil {
			return nil, fmt.Errorf("read outbound messages: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// insertOutbound records msgs as pending; ins is insertOutboundSQL prepared on tx (nil:
// prepared here).
func insertOutbound(ctx context.Context, tx *sql.Tx, ins *sql.Stmt, tenant, team string, seq int64, msgs []NewOutbound, now int64) ([]int64, error) {
	ids := make([]int64, 0, len(msgs))
	if len(msgs) == 0 {
		return ids, nil
	}
	if ins == nil {
		var err error
		if ins, err = tx.PrepareContext(ctx, insertOutboundSQL); err != nil {
			return nil, fmt.Errorf("record outbound message: %w", err)
		}
		defer ins.Close()
	}
	for _, m := range msgs {
		retry := 0
		if m.RetryOnRateLimit {
			retry = 1
		}
		var id int64
		err := ins.QueryRowContext(ctx, tenant, team, safeText(m.ContactKey), safeText(m.Recipient), seq, m.Origin, m.Flow, m.Node,
			m.MessageType, m.Request, retry, now, now, m.Sender).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("record outbound message: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// OutboundResult is the outcome of one send attempt (or the decision not to send).
type OutboundResult struct {
	State         string // OutSent, OutFailed, OutRefused, OutRetrying, OutAmbiguous
	WAMID         string
	ErrorClass    string
	ErrorCode     int
	ErrorMessage  string
	NextAttemptAt time.Time // OutRetrying: when due; OutAmbiguous: when the unclear request was made
	// Attempted: a request went to Graph without a mark (Finish.Attempt 0): attempts + 1.
	Attempted bool
}

// FinishOutbound records the outcome of a send attempt. A row that a status webhook already
// moved past "sent" is not moved back.
func (s *Store) FinishOutbound(ctx context.Context, id int64, r OutboundResult) error {
	return s.FinishOutbounds(ctx, []Finish{{ID: id, Result: r}}, nil)
}

// OpenOutbound lists the outbound messages still to send (pending, retrying) or to settle
// (ambiguous), oldest first: at start each gets its job.
func (s *Store) OpenOutbound(ctx context.Context) ([]*Outbound, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+outboundCols+` FROM gtc_outbound_messages WHERE state IN ('pending', 'retrying', 'ambiguous') ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list open outbound messages: %w", err)
	}
	defer rows.Close()
	var out []*Outbound
	for rows.Next() {
		o, err := scanOutbound(rows)
		if err != nil {
			return nil, fmt.Errorf("list open outbound messages: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// StatusRecord is one delivery status received for a wamid.
type StatusRecord struct {
	WAMID, Status string
	At            time.Time
	ErrorClass    string
	ErrorCode     int
}

// Statuses lists the statuses received for wamid, in time order.
func (s *Store) Statuses(ctx context.Context, wamid string) ([]StatusRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT wamid, status, at, error_class, error_code FROM gtc_outbound_statuses WHERE wamid = $1 ORDER BY at, status`, wamid)
	if err != nil {
		return nil, fmt.Errorf("list statuses: %w", err)
	}
	defer rows.Close()
	var out []StatusRecord
	for rows.Next() {
		var r StatusRecord
		var at int64
		if err := rows.Scan(&r.WAMID, &r.Status, &at, &r.ErrorClass, &r.ErrorCode); err != nil {
			return nil, fmt.Errorf("list statuses: %w", err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

const insertOutboundSQL = `INSERT INTO gtc_outbound_messages (tenant, team, contact_key, recipient, inbound_seq, origin, flow, node,
	message_type, request, retry_on_rate_limit, state, created_at, updated_at, sender)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, $13, $14) RETURNING id`
