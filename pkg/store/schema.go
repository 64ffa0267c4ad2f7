package store

// migrations are the store's schema versions, applied in order on Open, each in its own
// transaction and recorded in gtc_schema_migrations, so re-opening a database is a no-op.
// Never edit a released migration: append a new one, to both lists (pgMigrations is the
// same schema in PostgreSQL's types: BIGINT for the millisecond times, BYTEA, identity
// columns). Only pkg/store writes SQL.
var migrations = []string{
	// 1: contacts, inbound events, outbound log and statuses.
	`
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
`,
	// 2: the send API's Idempotency-Key answers.
	`
CREATE TABLE gtc_idempotency_keys (
	tenant     TEXT    NOT NULL,
	team       TEXT    NOT NULL,
	idem_key   TEXT    NOT NULL,
	status     INTEGER NOT NULL,
	body       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant, team, idem_key)
);
`,
	// 3: the request an Idempotency-Key was first used with, to refuse its reuse for another.
	`ALTER TABLE gtc_idempotency_keys ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';`,
	// 4: several instances on one database: who is alive, who is sending an outbound row,
	// which contacts have replies a dead instance left, and the phone numbers' shared send
	// ledger.
	`
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
`,
}

// pgMigrations are migrations for PostgreSQL, version for version.
var pgMigrations = []string{
	// 1
	`
CREATE TABLE gtc_contacts (
	tenant           TEXT    NOT NULL,
	team             TEXT    NOT NULL,
	contact_key      TEXT    NOT NULL,
	wa_id            TEXT    NOT NULL DEFAULT '',
	user_id          TEXT    NOT NULL DEFAULT '',
	name             TEXT    NOT NULL DEFAULT '',
	last_inbound_at  BIGINT  NOT NULL DEFAULT 0,
	opted_out        INTEGER NOT NULL DEFAULT 0,
	opted_out_at     BIGINT  NOT NULL DEFAULT 0,
	marketing        TEXT    NOT NULL DEFAULT '',
	marketing_at     BIGINT  NOT NULL DEFAULT 0,
	unreachable_code INTEGER NOT NULL DEFAULT 0,
	unreachable_at   BIGINT  NOT NULL DEFAULT 0,
	lease_owner      TEXT    NOT NULL DEFAULT '',
	lease_until      BIGINT  NOT NULL DEFAULT 0,
	created_at       BIGINT  NOT NULL,
	updated_at       BIGINT  NOT NULL,
	PRIMARY KEY (tenant, team, contact_key)
);
CREATE TABLE gtc_inbound_events (
	seq          BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	tenant       TEXT    NOT NULL,
	team         TEXT    NOT NULL,
	dedupe_key   TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	message_type TEXT    NOT NULL DEFAULT '',
	message_id   TEXT    NOT NULL DEFAULT '',
	contact_key  TEXT    NOT NULL DEFAULT '',
	event        BYTEA   NOT NULL,
	received_at  BIGINT  NOT NULL,
	state        TEXT    NOT NULL,
	processed_at BIGINT  NOT NULL DEFAULT 0,
	UNIQUE (tenant, team, dedupe_key)
);
CREATE INDEX gtc_inbound_pending ON gtc_inbound_events (tenant, team, contact_key, seq) WHERE state = 'pending';
CREATE TABLE gtc_outbound_messages (
	id                  BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	tenant              TEXT    NOT NULL,
	team                TEXT    NOT NULL,
	contact_key         TEXT    NOT NULL,
	recipient           TEXT    NOT NULL,
	inbound_seq         BIGINT  NOT NULL DEFAULT 0,
	origin              TEXT    NOT NULL,
	flow                TEXT    NOT NULL DEFAULT '',
	node                TEXT    NOT NULL DEFAULT '',
	message_type        TEXT    NOT NULL,
	request             BYTEA   NOT NULL,
	retry_on_rate_limit INTEGER NOT NULL DEFAULT 0,
	state               TEXT    NOT NULL,
	wamid               TEXT    NOT NULL DEFAULT '',
	error_class         TEXT    NOT NULL DEFAULT '',
	error_code          INTEGER NOT NULL DEFAULT 0,
	error_message       TEXT    NOT NULL DEFAULT '',
	attempts            INTEGER NOT NULL DEFAULT 0,
	next_attempt_at     BIGINT  NOT NULL DEFAULT 0,
	created_at          BIGINT  NOT NULL,
	updated_at          BIGINT  NOT NULL
);
CREATE INDEX gtc_outbound_wamid ON gtc_outbound_messages (wamid) WHERE wamid <> '';
CREATE INDEX gtc_outbound_open ON gtc_outbound_messages (state) WHERE state IN ('pending', 'retrying');
CREATE INDEX gtc_outbound_contact ON gtc_outbound_messages (tenant, team, contact_key, id);
CREATE TABLE gtc_outbound_statuses (
	wamid       TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	at          BIGINT  NOT NULL,
	error_class TEXT    NOT NULL DEFAULT '',
	error_code  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (wamid, status)
);
`,
	// 2
	`
CREATE TABLE gtc_idempotency_keys (
	tenant     TEXT    NOT NULL,
	team       TEXT    NOT NULL,
	idem_key   TEXT    NOT NULL,
	status     INTEGER NOT NULL,
	body       BYTEA   NOT NULL,
	created_at BIGINT  NOT NULL,
	PRIMARY KEY (tenant, team, idem_key)
);
`,
	// 3
	`ALTER TABLE gtc_idempotency_keys ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';`,
	// 4
	`
CREATE TABLE gtc_instances (
	id         TEXT   PRIMARY KEY,
	started_at BIGINT NOT NULL,
	seen_at    BIGINT NOT NULL
);
ALTER TABLE gtc_outbound_messages ADD COLUMN sender TEXT NOT NULL DEFAULT '';
ALTER TABLE gtc_contacts ADD COLUMN handover INTEGER NOT NULL DEFAULT 0;
CREATE INDEX gtc_outbound_sender ON gtc_outbound_messages (sender) WHERE sender <> '';
CREATE INDEX gtc_contacts_lease ON gtc_contacts (lease_owner) WHERE lease_owner <> '';
CREATE TABLE gtc_pacing (
	phone_number_id TEXT    NOT NULL,
	window_start    BIGINT  NOT NULL,
	used            INTEGER NOT NULL,
	PRIMARY KEY (phone_number_id, window_start)
);
`,
}
