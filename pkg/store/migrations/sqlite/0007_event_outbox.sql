-- 7: the event webhooks' outbox. An event is inserted in the transaction that makes the
-- change it reports and delivered from here, in id order per contact, until a 2xx (or given
-- up after a day). next_at is the due time and, while an instance delivers it, the lease's
-- end; leased is 1 during a delivery (a start on SQLite makes such rows due at once).
CREATE TABLE gtc_event_outbox (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant       TEXT    NOT NULL,
	team         TEXT    NOT NULL,
	contact_key  TEXT    NOT NULL,
	type         TEXT    NOT NULL,
	body         BLOB    NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	next_at      INTEGER NOT NULL,
	delivered_at INTEGER,
	gave_up_at   INTEGER,
	leased       INTEGER NOT NULL DEFAULT 0,
	last_status  INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX gtc_event_outbox_open ON gtc_event_outbox (tenant, team, contact_key, id)
	WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX gtc_event_outbox_due ON gtc_event_outbox (next_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
