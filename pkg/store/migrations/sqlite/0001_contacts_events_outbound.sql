-- 1: contacts, inbound events, outbound log and statuses.
CREATE TABLE gtc_contacts (
	tenant           TEXT    NOT NULL,
	team             TEXT    NOT NULL,
	contact_key      TEXT    NOT NULL,
	wa_id            TEXT    NOT NULL DEFAULT '',
	user_id          TEXT    NOT NULL DEFAULT '',
	name             TEXT    NOT NULL DEFAULT '',
	last_inbound_at  INTEGER NOT NULL DEFAULT 0,
	opted_out        INTEGER NOT NULL DEFAULT 0,
	opted_out_at     INTEGER NOT NULL DEFAULT 0,
	marketing        TEXT    NOT NULL DEFAULT '',
	marketing_at     INTEGER NOT NULL DEFAULT 0,
	unreachable_code INTEGER NOT NULL DEFAULT 0,
	unreachable_at   INTEGER NOT NULL DEFAULT 0,
	lease_owner      TEXT    NOT NULL DEFAULT '',
	lease_until      INTEGER NOT NULL DEFAULT 0,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	PRIMARY KEY (tenant, team, contact_key)
);
CREATE TABLE gtc_inbound_events (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant       TEXT    NOT NULL,
	team         TEXT    NOT NULL,
	dedupe_key   TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	message_type TEXT    NOT NULL DEFAULT '',
	message_id   TEXT    NOT NULL DEFAULT '',
	contact_key  TEXT    NOT NULL DEFAULT '',
	event        BLOB    NOT NULL,
	received_at  INTEGER NOT NULL,
	state        TEXT    NOT NULL,
	processed_at INTEGER NOT NULL DEFAULT 0,
	UNIQUE (tenant, team, dedupe_key)
);
CREATE INDEX gtc_inbound_pending ON gtc_inbound_events (tenant, team, contact_key, seq) WHERE state = 'pending';
CREATE TABLE gtc_outbound_messages (
	id                  INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant              TEXT    NOT NULL,
	team                TEXT    NOT NULL,
	contact_key         TEXT    NOT NULL,
	recipient           TEXT    NOT NULL,
	inbound_seq         INTEGER NOT NULL DEFAULT 0,
	origin              TEXT    NOT NULL,
	flow                TEXT    NOT NULL DEFAULT '',
	node                TEXT    NOT NULL DEFAULT '',
	message_type        TEXT    NOT NULL,
	request             BLOB    NOT NULL,
	retry_on_rate_limit INTEGER NOT NULL DEFAULT 0,
	state               TEXT    NOT NULL,
	wamid               TEXT    NOT NULL DEFAULT '',
	error_class         TEXT    NOT NULL DEFAULT '',
	error_code          INTEGER NOT NULL DEFAULT 0,
	error_message       TEXT    NOT NULL DEFAULT '',
	attempts            INTEGER NOT NULL DEFAULT 0,
	next_attempt_at     INTEGER NOT NULL DEFAULT 0,
	created_at          INTEGER NOT NULL,
	updated_at          INTEGER NOT NULL
);
CREATE INDEX gtc_outbound_wamid ON gtc_outbound_messages (wamid) WHERE wamid <> '';
CREATE INDEX gtc_outbound_open ON gtc_outbound_messages (state) WHERE state IN ('pending', 'retrying');
CREATE INDEX gtc_outbound_contact ON gtc_outbound_messages (tenant, team, contact_key, id);
CREATE TABLE gtc_outbound_statuses (
	wamid       TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	at          INTEGER NOT NULL,
	error_class TEXT    NOT NULL DEFAULT '',
	error_code  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (wamid, status)
);
