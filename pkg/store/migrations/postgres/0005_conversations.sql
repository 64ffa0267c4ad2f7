-- 5: conversations (flows that ask and remember). One row per contact of a tenant/team:
-- the waiting conversation (the engine's state as JSON, '' when none), what it waits for and
-- until when, how the last one ended, and the contact's user.* values (a JSON object).
CREATE TABLE gtc_conversations (
	tenant        TEXT    NOT NULL,
	team          TEXT    NOT NULL,
	contact_key   TEXT    NOT NULL,
	conversation  TEXT    NOT NULL DEFAULT '',
	flow          TEXT    NOT NULL DEFAULT '',
	node          TEXT    NOT NULL DEFAULT '',
	state         TEXT    NOT NULL DEFAULT '',
	waiting_since BIGINT  NOT NULL DEFAULT 0,
	deadline      BIGINT  NOT NULL DEFAULT 0,
	user_vars     TEXT    NOT NULL DEFAULT '{}',
	ended_flow    TEXT    NOT NULL DEFAULT '',
	ended_node    TEXT    NOT NULL DEFAULT '',
	ended_reason  TEXT    NOT NULL DEFAULT '',
	ended_detail  TEXT    NOT NULL DEFAULT '',
	ended_at      BIGINT  NOT NULL DEFAULT 0,
	updated_at    BIGINT  NOT NULL,
	PRIMARY KEY (tenant, team, contact_key)
);
CREATE INDEX gtc_conversations_deadline ON gtc_conversations (deadline) WHERE deadline > 0;
