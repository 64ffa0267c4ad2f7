-- 4: several instances on one database: who is alive, who is sending an outbound row,
-- which contacts have replies a dead instance left, and the phone numbers' shared send ledger.
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
