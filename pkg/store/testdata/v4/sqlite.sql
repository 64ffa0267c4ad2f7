-- The sqlite schema at version 4, exactly as gtc made it before its migrations moved
-- to .sql files (the Go string slices of schema.go, applied in order by migrateLocked).
-- Captured from that code; never edit: the upgrade tests build old databases from it.
CREATE TABLE IF NOT EXISTS gtc_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
-- version 1
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
INSERT INTO gtc_schema_migrations (version, applied_at) VALUES (1, 1764000000000);
-- version 2
CREATE TABLE gtc_idempotency_keys (
	tenant     TEXT    NOT NULL,
	team       TEXT    NOT NULL,
	idem_key   TEXT    NOT NULL,
	status     INTEGER NOT NULL,
	body       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant, team, idem_key)
);
INSERT INTO gtc_schema_migrations (version, applied_at) VALUES (2, 1764000000000);
-- version 3
ALTER TABLE gtc_idempotency_keys ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
INSERT INTO gtc_schema_migrations (version, applied_at) VALUES (3, 1764000000000);
-- version 4
CREATE TABLE gtc_instances (
	id         TEXT    PRIMARY KEY,
	started_at INTEGER NOT NULL,
	seen_at    INTEGER NOT NULL
);
ALTER TABLE gtc_outbound_messages ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE gtc_contacts ADD COLUMN handover INTEGER NOT NULL DEFAULT 0;
CREATE INDEX gtc_outbound_sender ON gtc_outbound_messages (sender) WHERE sender <> '';
CREATE INDEX gtc_contacts_lease ON gtc_contacts (lease_owner) WHERE lease_owner <> '';
CREATE TABLE gtc_pacing (
	phone_number_id TEXT    NOT NULL,
	window_start    INTEGER NOT NULL,
	used            INTEGER NOT NULL,
	PRIMARY KEY (phone_number_id, window_start)
);
INSERT INTO gtc_schema_migrations (version, applied_at) VALUES (4, 1764000000000);
