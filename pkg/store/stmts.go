package store

import (
	"context"
	"database/sql"
	"errors"
)

// The workers' hot statements: the ones every round of a delivery job runs (claim, read,
// record the flow results, mark and record each send, release). They are prepared once at
// Open on the workers' database and bound to each transaction with tx.StmtContext, which
// reuses the connection's prepared statement (database/sql prepares it again, inside the
// transaction, on a pool connection that has not seen it yet). SQLite otherwise parses and
// plans each of them again in every transaction: SQL parsing was about 7% of gtc serve's
// CPU with ten numbers (docs/benchmarks.md). The ingest writer has its own set
// (ingestStmts, on its own connection).
const (
	claimSQL = `UPDATE gtc_contacts SET lease_owner = $1, lease_until = $2
		WHERE tenant = $3 AND team = $4 AND contact_key = $5 AND (lease_owner = '' OR lease_owner = $6 OR lease_until < $7)`
	// hasWorkSQL: a message waits while the conversation waits for a call's result: it is
	// not work until the result (another queued event) is processed.
	hasWorkSQL = `SELECT CASE WHEN EXISTS (SELECT 1 FROM gtc_inbound_events e
		WHERE e.tenant = $1 AND e.team = $2 AND e.contact_key = $3 AND e.state = 'pending'
		AND (e.kind <> 'message' OR NOT EXISTS (SELECT 1 FROM gtc_conversations c
			WHERE c.tenant = e.tenant AND c.team = e.team AND c.contact_key = e.contact_key AND c.state = 'calling')))
		THEN 1 ELSE 0 END`
	releaseSQL = `UPDATE gtc_contacts SET lease_owner = '', lease_until = 0
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND lease_owner = $4`
	markProcessedSQL = `UPDATE gtc_inbound_events SET state = 'processed', processed_at = $1 WHERE seq = $2 AND state = 'pending'`
	contactSQL       = `SELECT ` + contactCols + ` FROM gtc_contacts WHERE tenant = $1 AND team = $2 AND contact_key = $3`
	pendingSQL       = `SELECT ` + eventCols + ` FROM gtc_inbound_events
		WHERE tenant = $1 AND team = $2 AND contact_key = $3 AND state = 'pending' ORDER BY seq LIMIT $4`
)

// hotSQL lists the statements prepared at Open (see above).
var hotSQL = []string{claimSQL, hasWorkSQL, lockLeaseSQL, releaseSQL, markProcessedSQL, insertOutboundSQL,
	markSendingSQL, finishMarkedSQL, finishSQL, earlyStatusesSQL, contactSQL, pendingSQL}

// prepareHot prepares hotSQL on s.db.
func (s *Store) prepareHot(ctx context.Context) error {
	s.hot = make(map[string]*sql.Stmt, len(hotSQL))
	for _, q := range hotSQL {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			s.closeHot()
			return err
		}
		s.hot[q] = st
	}
	return nil
}

// closeHot closes the hot statements (at Close; the map stays, for a late caller to get
// "statement is closed" rather than a race).
func (s *Store) closeHot() error {
	var err error
	for _, st := range s.hot {
		err = errors.Join(err, st.Close())
	}
	return err
}

// prepTx returns q for tx, a transaction on s.db (s.tx): the statement prepared at Open
// when q is hot, else prepared in tx. Closing it leaves the prepared one in place.
func (s *Store) prepTx(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st := s.hot[q]; st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

// prepRead returns q for reads outside a transaction and the function that puts it down.
func (s *Store) prepRead(ctx context.Context, q string) (*sql.Stmt, func(), error) {
	if st := s.hot[q]; st != nil && s.rdb == s.db {
		return st, func() {}, nil
	}
	st, err := s.rdb.PrepareContext(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}
