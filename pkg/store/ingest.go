package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Event kinds as stored (they match whatsapp.EventKind).
const (
	KindMessage    = "message"
	KindStatus     = "status"
	KindError      = "error"
	KindPreference = "user_preferences"
	KindUnknown    = "unknown"
	// KindStandby is a standby copy: a message or status of a thread another responder
	// controls, recorded and never answered.
	KindStandby = "standby"
)

// Inbound event states.
const (
	EventPending   = "pending"   // a message waiting for its flow run
	EventProcessed = "processed" // flow run done (or recorded without one)
)

// ContactRef names one contact of one tenant/team.
type ContactRef struct {
	Tenant string `json:"tenant"`
	Team   string `json:"team"`
	Key    string `json:"key"`
}

// InboundEvent is one webhook event as the delivery layer prepares it for recording: the
// event itself (Raw, JSON) plus what the store needs to index and apply it.
type InboundEvent struct {
	Kind      string
	DedupeKey string // message id; status id + status; a content hash otherwise
	Raw       []byte // the whole event, JSON

	// Messages.
	ContactKey  string
	MessageID   string
	MessageType string
	WaID        string
	UserID      string
	Name        string
	Timestamp   time.Time // when the customer sent it (opens the 24-hour window)
	// Aliases name the sender (wa_id first, then business-scoped user ids; see LinkAliases):
	// the event is recorded for the identity they name, and they are recorded as its
	// aliases. Empty: WaID and UserID, or ContactKey. Lookup are more keys to find the
	// identity by, not recorded (a number's country variants).
	Aliases []Alias
	Lookup  []string

	// Statuses.
	Status *StatusUpdate
	// User preferences.
	Preference *PreferenceUpdate
	// Template lifecycle webhooks (status, category, quality).
	Template *TemplateUpdate
	// Thread control: a handover, or a standby copy (another responder has the thread).
	Thread *ThreadUpdate

	// Events are the event webhooks the event makes when it is new (not a duplicate),
	// recorded with it for ContactKey (or, with a WAMID, the outbound message's contact).
	Events []OutboxEvent
}

// StatusUpdate is a delivery status of an outbound message.
type StatusUpdate struct {
	WAMID     string
	Status    string // sent, delivered, read, played, failed, …
	At        time.Time
	ErrorCode int
	// ErrorClass is the classification of ErrorCode (whatsapp.ClassOf), set by the caller.
	ErrorClass string
	// Unreachable marks the recipient unreachable (e.g. 131026) on the contact.
	Unreachable bool
	// Pricing is what the status says Meta bills for the message (nil: it says nothing).
	Pricing *Pricing
	// OutboundID and Attempt are the send the status is for, read from its
	// biz_opaque_callback_data (0: not one of gtc's): such a status settles that send when
	// its row is still sending or ambiguous (the answer with the wamid was lost).
	OutboundID int64
	Attempt    int
	// OutboundCreated is the row's creation time (Unix ms) from the same data: the row is
	// settled only when it matches (another database's row with the same id does not); 0
	// (the older callback data) does not check it.
	OutboundCreated int64
}

// PreferenceUpdate is a marketing preference (user_preferences webhook), recorded on the
// identity ContactKey (or the event's Aliases) names.
type PreferenceUpdate struct {
	ContactKey string
	Value      string // stop, resume
	At         time.Time
}

// IngestResult says what one Ingest call recorded.
type IngestResult struct {
	New        int // events recorded for the first time
	Duplicates int // events dropped because their dedupe key was already recorded
}

type ingestReq struct {
	ctx          context.Context
	tenant, team string
	events       []InboundEvent
	res          IngestResult
	err          error
	done         chan struct{}
}

// Ingest durably records events for tenant/team, dropping duplicates, and returns after
// the transaction that holds them has committed. In the same transaction it updates
// contacts (last inbound time), applies statuses and preferences, and calls
// Options.Enqueue with the contacts that got new message events. Concurrent calls are
// grouped into one transaction (group commit); each returns after its group commits, on
// disk (see durableTx). A group that fails is retried call by call, so a bad call fails
// alone.
func (s *Store) Ingest(ctx context.Context, tenant, team string, events []InboundEvent) (IngestResult, error) {
	if len(events) == 0 {
		return IngestResult{}, nil
	}
	req := &ingestReq{ctx: ctx, tenant: tenant, team: team, events: events, done: make(chan struct{})}
	s.ingesting.Add(1)
	defer s.ingesting.Add(-1)
	select {
	case <-s.closed:
		return IngestResult{}, ErrClosed
	default:
	}
	select {
	case s.ingestCh <- req:
	case <-s.closed:
		return IngestResult{}, ErrClosed
	case <-ctx.Done():
		return IngestResult{}, ctx.Err()
	}
	select {
	case <-req.done:
		return req.res, req.err
	case <-s.done:
		select {
		case <-req.done:
			return req.res, req.err
		default:
			return IngestResult{}, ErrClosed
		}
	case <-ctx.Done():
		// The batch may still commit; the caller answers non-200 and Meta's retry is
		// deduplicated.
		return IngestResult{}, ctx.Err()
	}
}

// IngestBacklog is the number of Ingest calls waiting for their group commit: about the
// number of webhooks being acknowledged at this moment.
func (s *Store) IngestBacklog() int { return int(s.ingesting.Load()) }

// committer is the one goroutine that writes Ingest batches: it takes every request queued
// while the previous transaction ran, so load turns into bigger transactions, not more.
func (s *Store) committer() {
	defer close(s.done)
	for {
		var first *ingestReq
		select {
		case first = <-s.ingestCh:
		case <-s.stop:
			// Commit what is already queued, fail the rest.
			for {
				select {
				case r := <-s.ingestCh:
					s.commitBatch([]*ingestReq{r})
				default:
					return
				}
			}
		}
		batch := []*ingestReq{first}
		n := len(first.events)
	fill:
		for n < s.opts.MaxBatchEvents {
			select {
			case r := <-s.ingestCh:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

// commitBatch commits a group of requests in one transaction and answers each. When the
// group fails, its halves are committed apart, down to single requests, so a bad request
// (or one whose Enqueue fails) fails by itself and its neighbours are recorded, at the cost
// of about 2·log2(n) more transactions for one bad request among n, not n.
func (s *Store) commitBatch(batch []*ingestReq) {
	// Requests whose caller already gave up are still written: the caller answered non-200,
	// Meta will retry, and the retry is a duplicate. Only the live context matters for the
	// transaction itself, so use a background one bounded by a timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.commitSplit(ctx, batch)
}

func (s *Store) commitSplit(ctx context.Context, batch []*ingestReq) {
	results, err := s.commitGroup(ctx, batch)
	if err != nil && len(batch) > 1 {
		s.commitSplit(ctx, batch[:len(batch)/2])
		s.commitSplit(ctx, batch[len(batch)/2:])
		return
	}
	for i, r := range batch {
		s.answer(r, results[i], err)
	}
}

// answer wakes r's caller with its result: only after the transaction has committed (and,
// on SQLite, the WAL has been synced: the ingest connection runs with synchronous=FULL).
func (s *Store) answer(r *ingestReq, res IngestResult, err error) {
	if s.answered != nil {
		s.answered(r)
	}
	if err != nil {
		r.err = fmt.Errorf("record events: %w", err)
	} else {
		r.res = res
	}
	close(r.done)
}

// commitGroup records the events of batch in one transaction.
func (s *Store) commitGroup(ctx context.Context, batch []*ingestReq) ([]IngestResult, error) {
	results := make([]IngestResult, len(batch))
	var use *aliasUse
	err := s.durableTx(ctx, func(tx *sql.Tx) error {
		for i := range results {
			results[i] = IngestResult{}
		}
		w := newIngestWriter(ctx, tx, s.ing, s.now())
		defer w.close()
		use = &aliasUse{sqlite: !s.Postgres(), cache: s.aliasMem}
		if s.aliasMem != nil {
			if err := s.aliasMem.begin(ctx, tx); err != nil {
				return err
			}
		}
		w.aliases = use
		var work []ContactRef
		seen := map[ContactRef]bool{}
		for i, r := range batch {
			for j := range r.events {
				ev := &r.events[j]
				isNew, err := w.write(r.tenant, r.team, ev)
				if err != nil {
					return fmt.Errorf("record event %d: %w", j, err)
				}
				if !isNew {
					results[i].Duplicates++
					continue
				}
				results[i].New++
				if len(ev.Events) > 0 {
					ref := ContactRef{r.tenant, r.team, ev.ContactKey}
					if err := AddOutbox(ctx, tx, ref, ev.Events, fromMS(w.now)); err != nil {
						return err
					}
				}
				if Queued(ev.Kind) {
					ref := ContactRef{r.tenant, r.team, safeText(ev.ContactKey)}
					if !seen[ref] {
						seen[ref] = true
						work = append(work, ref)
					}
				}
			}
		}
		if len(work) > 0 && s.opts.Enqueue != nil {
			if err := s.opts.Enqueue(ctx, tx, work); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
		return nil
	})
	if err == nil && s.aliasMem != nil && use != nil {
		s.aliasMem.commit(use)
	}
	if s.grouped != nil {
		s.grouped(len(batch), err)
	}
	return results, err
}

// durableTx runs f in a transaction whose commit returns only once it is on disk. On
// PostgreSQL every session has synchronous_commit on (see openPostgres). On SQLite it runs
// on the ingest writer's own connection, opened with synchronous=FULL, which in WAL mode
// syncs the WAL inside COMMIT (River and the workers commit on the other connection with
// NORMAL, which syncs only at checkpoints).
func (s *Store) durableTx(ctx context.Context, f func(*sql.Tx) error) error {
	if s.Postgres() {
		return s.tx(ctx, f)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.idb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ingestStmts are the ingest writer's statements, prepared once on its connection (on
// PostgreSQL, on each pool connection as it is first used): SQLite would otherwise parse
// and plan each of them again in every group commit.
type ingestStmts struct {
	insEvent, upContact, insStatus, upOutbound, upUnreach, upPref, upPricing *sql.Stmt
	upTemplate, upThread, settle, findAlias                                  *sql.Stmt
	// jobs is River's job insert (InsertJobs), prepared by PrepareJobs: River's tables are
	// created after Open, by the delivery layer.
	jobsMu sync.Mutex
	jobs   *sql.Stmt
}

func prepareIngest(ctx context.Context, db *sql.DB) (*ingestStmts, error) {
	st := &ingestStmts{}
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var p *sql.Stmt
		p, err = db.PrepareContext(ctx, q)
		return p
	}
	// A message keeps its contact's last inbound time before it (read in the insert: the
	// contact is updated after).
	st.insEvent = prep(`INSERT INTO gtc_inbound_events (tenant, team, dedupe_key, kind, message_type, message_id, contact_key, event, received_at, state, processed_at, prev_inbound_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $4 = 'message' THEN COALESCE((SELECT c.last_inbound_at FROM gtc_contacts c
			WHERE c.tenant = $1 AND c.team = $2 AND c.contact_key = $7), 0) ELSE 0 END) ON CONFLICT (tenant, team, dedupe_key) DO NOTHING`)
	st.findAlias = prep(findAliasSQL)
	st.upContact = prep(`INSERT INTO gtc_contacts (tenant, team, contact_key, wa_id, user_id, name, last_inbound_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant, team, contact_key) DO UPDATE SET
			wa_id = CASE WHEN excluded.wa_id <> '' THEN excluded.wa_id ELSE gtc_contacts.wa_id END,
			user_id = CASE WHEN excluded.user_id <> '' THEN excluded.user_id ELSE gtc_contacts.user_id END,
			name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE gtc_contacts.name END,
			last_inbound_at = CASE WHEN excluded.last_inbound_at > gtc_contacts.last_inbound_at THEN excluded.last_inbound_at ELSE gtc_contacts.last_inbound_at END,
			updated_at = excluded.updated_at`)
	st.insStatus = prep(`INSERT INTO gtc_outbound_statuses (wamid, status, at, error_class, error_code) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (wamid, status) DO NOTHING`)
	// A status only moves the outbound row forward (sent < delivered < read/played), except
	// failed, which always wins: statuses arrive in any order.
	st.upOutbound = prep(`UPDATE gtc_outbound_messages SET state = $1, error_class = CASE WHEN $2 <> '' THEN $2 ELSE error_class END,
		error_code = CASE WHEN $3 <> 0 THEN $3 ELSE error_code END, updated_at = $4
		WHERE wamid = $5 AND state <> 'failed' AND ($1 = 'failed' OR ` + stateRankSQL("state") + ` < $6)`)
	st.upUnreach = prep(`INSERT INTO gtc_contacts (tenant, team, contact_key, unreachable_code, unreachable_at, created_at, updated_at)
		SELECT tenant, team, contact_key, $1, $2, $3, $4 FROM gtc_outbound_messages WHERE wamid = $5 AND true LIMIT 1
		ON CONFLICT (tenant, team, contact_key) DO UPDATE SET unreachable_code = excluded.unreachable_code,
			unreachable_at = excluded.unreachable_at, updated_at = excluded.updated_at`)
	st.upPref = prep(`INSERT INTO gtc_contacts (tenant, team, contact_key, marketing, marketing_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant, team, contact_key) DO UPDATE SET marketing = excluded.marketing, marketing_at = excluded.marketing_at,
			updated_at = excluded.updated_at WHERE ` + newerWins("excluded.marketing_at", "gtc_contacts.marketing_at"))
	st.upPricing = prep(upsertPricingSQL)
	// A status for a send whose answer was lost settles it (tenant and team must match: the
	// callback data is the sender's word, not proof).
	// The row's creation time, when the callback data carries it, tells this database's row
	// from another's with the same id (0: the older form without it).
	st.settle = prep(`UPDATE gtc_outbound_messages SET state = 'sent', wamid = $1, sender = '', next_attempt_at = 0, updated_at = $2
		WHERE id = $3 AND tenant = $4 AND team = $5 AND attempts = $6 AND state IN ('sending', 'ambiguous')
		AND (CAST($7 AS BIGINT) = 0 OR created_at = $7)`)
	st.upTemplate = prep(upsertTemplateSQL)
	st.upThread = prep(upsertThreadSQL)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("prepare ingest: %w", err)
	}
	return st, nil
}

func (st *ingestStmts) close() {
	for _, p := range []*sql.Stmt{st.insEvent, st.upContact, st.insStatus, st.upOutbound, st.upUnreach, st.upPref, st.upPricing, st.upTemplate, st.upThread, st.settle, st.findAlias, st.jobs} {
		if p != nil {
			p.Close()
		}
	}
}

// ingestWriter holds the statements of one Ingest transaction: the prepared ones, bound to
// it.
type ingestWriter struct {
	now                                                   int64
	insEvent, upContact, insStatus, upOutbound, upUnreach *sql.Stmt
	upPref, upPricing, upTemplate, upThread               *sql.Stmt
	settle, findAlias                                     *sql.Stmt
	// tx and ctx are the transaction's, for the alias links (linkAliasesWith), and aliases
	// its use of them (the cache on SQLite).
	tx      *sql.Tx
	ctx     context.Context
	aliases *aliasUse
}

func newIngestWriter(ctx context.Context, tx *sql.Tx, st *ingestStmts, now int64) *ingestWriter {
	return &ingestWriter{now: now, insEvent: tx.StmtContext(ctx, st.insEvent), upContact: tx.StmtContext(ctx, st.upContact),
		insStatus: tx.StmtContext(ctx, st.insStatus), upOutbound: tx.StmtContext(ctx, st.upOutbound),
		upUnreach: tx.StmtContext(ctx, st.upUnreach), upPref: tx.StmtContext(ctx, st.upPref),
		upPricing:  tx.StmtContext(ctx, st.upPricing),
		upTemplate: tx.StmtContext(ctx, st.upTemplate), upThread: tx.StmtContext(ctx, st.upThread),
		settle: tx.StmtContext(ctx, st.settle), findAlias: tx.StmtContext(ctx, st.findAlias), tx: tx, ctx: ctx}
}

func (w *ingestWriter) close() {
	for _, st := range []*sql.Stmt{w.insEvent, w.upContact, w.insStatus, w.upOutbound, w.upUnreach, w.upPref, w.upPricing, w.upTemplate, w.upThread, w.settle, w.findAlias} {
		st.Close()
	}
}

// Job is one row of River's job table for InsertJobs: a job of Kind with Args (its JSON),
// available now in the default queue at River's default priority.
type Job struct {
	Kind        string
	Args        []byte
	MaxAttempts int
}

// InsertJobs writes jobs into River's job table (SQLite) inside tx, which must be an Ingest
// transaction (the Options.Enqueue callback's), with one statement (prepared once by
// PrepareJobs), where River's InsertManyTx prepares its insert for every call and encodes
// the jobs as one JSON array for SQLite to take apart. The rows are the ones InsertManyTx
// writes for jobs without unique options, scheduled now (River on SQLite has no insert
// notification: its producers find them at their next fetch). On PostgreSQL use River's
// InsertManyTx.
func (s *Store) InsertJobs(ctx context.Context, tx *sql.Tx, jobs []Job) error {
	if s.Postgres() {
		return errors.New("insert jobs: SQLite only (use River's InsertManyTx)")
	}
	s.ing.jobsMu.Lock()
	st := s.ing.jobs
	s.ing.jobsMu.Unlock()
	var ins *sql.Stmt
	if st != nil {
		ins = tx.StmtContext(ctx, st)
	} else {
		var err error
		if ins, err = tx.PrepareContext(ctx, insertJobSQL); err != nil {
			return fmt.Errorf("insert jobs: %w", err)
		}
	}
	defer ins.Close()
	for _, j := range jobs {
		// Args bind as text: jsonb() reads a blob as JSONB already.
		if _, err := ins.ExecContext(ctx, string(j.Args), j.Kind, j.MaxAttempts); err != nil {
			return fmt.Errorf("insert jobs: %w", err)
		}
	}
	return nil
}

// PrepareJobs prepares InsertJobs' statement on the ingest connection, once River's tables
// exist (after its migrations); without it InsertJobs prepares the statement in every
// transaction.
func (s *Store) PrepareJobs(ctx context.Context) error {
	if s.Postgres() {
		return nil
	}
	s.ing.jobsMu.Lock()
	defer s.ing.jobsMu.Unlock()
	if s.ing.jobs != nil {
		return nil
	}
	st, err := s.idb.PrepareContext(ctx, insertJobSQL)
	if err != nil {
		return fmt.Errorf("prepare job insert: %w", err)
	}
	s.ing.jobs = st
	return nil
}

const insertJobSQL = `INSERT INTO river_job (args, created_at, kind, max_attempts, scheduled_at)
	VALUES (jsonb($1), datetime('now', 'subsec'), $2, $3, datetime('now', 'subsec'))`

// stateRankSQL orders outbound states so a late "sent" never overwrites "read".
func stateRankSQL(col string) string {
	return `(CASE ` + col + ` WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'played' THEN 4 ELSE 0 END)`
}

func stateRank(s string) int {
	switch s {
	case "sent":
		return 1
	case "delivered":
		return 2
	case "read":
		return 3
	case "played":
		return 4
	}
	return 0
}

func (w *ingestWriter) write(tenant, team string, ev *InboundEvent) (bool, error) {
	if ev.DedupeKey == "" {
		return false, fmt.Errorf("event without a dedupe key")
	}
	state, processed := EventProcessed, w.now
	if Queued(ev.Kind) {
		if ev.ContactKey == "" {
			return false, fmt.Errorf("message %s has neither from nor from_user_id", ev.MessageID)
		}
		state, processed = EventPending, 0
	}
	switch {
	case ev.Kind == KindMessage:
		// The identity the sender's aliases name.
		key, err := linkAliasesWith(w.ctx, w.tx, w.findAlias, w.aliases, tenant, team, eventAliases(ev), ev.Lookup, w.now)
		if err != nil {
			return false, fmt.Errorf("record aliases: %w", err)
		}
		ev.ContactKey = key
	case (ev.Kind == KindStandby || ev.Thread != nil) && ev.ContactKey != "":
		// A standby copy or a handover: the identity its user's aliases name, so the thread
		// follows the contact whichever alias Meta sent.
		key, err := linkAliasesWith(w.ctx, w.tx, w.findAlias, w.aliases, tenant, team, eventAliases(ev), ev.Lookup, w.now)
		if err != nil {
			return false, fmt.Errorf("record aliases: %w", err)
		}
		ev.ContactKey = key
		if ev.Thread != nil {
			ev.Thread.ContactKey = key
		}
	case ev.Preference != nil && ev.Preference.ContactKey != "":
		aliases := ev.Aliases
		if len(aliases) == 0 {
			aliases = []Alias{{Value: safeText(ev.Preference.ContactKey)}}
		}
		key, err := linkAliasesWith(w.ctx, w.tx, w.findAlias, w.aliases, tenant, team, aliases, ev.Lookup, w.now)
		if err != nil {
			return false, fmt.Errorf("record aliases: %w", err)
		}
		ev.Preference.ContactKey = key
	}
	res, err := w.insEvent.Exec(tenant, team, safeText(ev.DedupeKey), ev.Kind, safeText(ev.MessageType), safeText(ev.MessageID),
		safeText(ev.ContactKey), ev.Raw, w.now, state, processed)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	switch {
	case ev.Kind == KindMessage || (ev.Kind == KindStandby && ev.MessageID != "" && ev.ContactKey != "") || Queued(ev.Kind):
		// A standby copy of a customer's message opens the window as well: the customer
		// wrote to the number, whichever responder has the thread. Every queued event
		// upserts its contact, which locks the contact's row: a job releasing the contact
		// meanwhile waits for this commit (see releaseContacts).
		if _, err := w.upContact.Exec(tenant, team, safeText(ev.ContactKey), safeText(ev.WaID), safeText(ev.UserID), safeText(ev.Name),
			ms(ev.Timestamp), w.now, w.now); err != nil {
			return false, err
		}
	case ev.Status != nil:
		st := ev.Status
		if _, err := w.insStatus.Exec(safeText(st.WAMID), safeText(st.Status), ms(st.At), st.ErrorClass, st.ErrorCode); err != nil {
			return false, err
		}
		if st.OutboundID > 0 && (stateRank(st.Status) > 0 || st.Status == "failed") {
			if _, err := w.settle.Exec(safeText(st.WAMID), w.now, st.OutboundID, tenant, team, st.Attempt, st.OutboundCreated); err != nil {
				return false, err
			}
		}
		if _, err := w.upOutbound.Exec(safeText(st.Status), st.ErrorClass, st.ErrorCode, w.now, safeText(st.WAMID), stateRank(st.Status)); err != nil {
			return false, err
		}
		if st.Unreachable {
			if _, err := w.upUnreach.Exec(st.ErrorCode, ms(st.At), w.now, w.now, safeText(st.WAMID)); err != nil {
				return false, err
			}
		}
		if p := st.Pricing; p != nil {
			if _, err := w.upPricing.Exec(pricingArgs(tenant, team, st, w.now)...); err != nil {
				return false, err
			}
		}
	case ev.Preference != nil && ev.Preference.ContactKey != "":
		p := ev.Preference
		if _, err := w.upPref.Exec(tenant, team, safeText(p.ContactKey), safeText(p.Value), ms(p.At), w.now, w.now); err != nil {
			return false, err
		}
	}
	if ev.Template != nil && ev.Template.Name != "" {
		if _, err := w.upTemplate.Exec(templateArgs(tenant, team, ev.Template, w.now)...); err != nil {
			return false, err
		}
	}
	if ev.Thread != nil && ev.Thread.ContactKey != "" && ev.Thread.Owner != "" {
		if _, err := w.upThread.Exec(threadArgs(tenant, team, ev.Thread, w.now)...); err != nil {
			return false, err
		}
	}
	return true, nil
}

// eventAliases are the aliases of a message's sender: Aliases, or WaID and UserID, or the
// contact key.
func eventAliases(ev *InboundEvent) []Alias {
	if len(ev.Aliases) > 0 {
		out := make([]Alias, len(ev.Aliases))
		for i, a := range ev.Aliases {
			out[i] = Alias{Value: safeText(a.Value), Kind: a.Kind}
		}
		return out
	}
	var out []Alias
	if ev.WaID != "" {
		out = append(out, Alias{Value: safeText(ev.WaID), Kind: AliasWaID})
	}
	if ev.UserID != "" {
		out = append(out, Alias{Value: safeText(ev.UserID), Kind: AliasBSUID})
	}
	if len(out) == 0 {
		out = append(out, Alias{Value: safeText(ev.ContactKey)})
	}
	return out
}

// safeText makes outside text storable in a text column of either backend: PostgreSQL
// refuses NUL bytes and invalid UTF-8 in text, so a NUL is stored as the six characters
// \u0000 (as JSON writes it) and invalid bytes as U+FFFD. The raw event keeps the bytes as
// received (a BLOB or BYTEA column).
func safeText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", `\u0000`)
}
