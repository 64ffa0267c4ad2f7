-- 8: what Meta bills, the messaging limit's ledger, and the indexes retention deletes by.
-- gtc_message_pricing holds one row per outbound message whose status webhooks carried
-- pricing (counted once however many statuses carry it): the pricing of the highest status
-- seen (sent < delivered < read) and the time of the first. gtc_limit_contacts holds, per
-- messaging-limit scope ("portfolio:<id>" or "phone:<phone_number_id>"), each recipient
-- reached outside a customer service window and when last: the rows of the last 24 hours
-- are the limit's use.
CREATE TABLE gtc_message_pricing (
	tenant               TEXT    NOT NULL,
	team                 TEXT    NOT NULL,
	wamid                TEXT    NOT NULL,
	status               TEXT    NOT NULL,
	billable             INTEGER NOT NULL DEFAULT 0,
	pricing_model        TEXT    NOT NULL DEFAULT '',
	category             TEXT    NOT NULL DEFAULT '',
	pricing_type         TEXT    NOT NULL DEFAULT '',
	conversation_id      TEXT    NOT NULL DEFAULT '',
	conversation_origin  TEXT    NOT NULL DEFAULT '',
	conversation_expires INTEGER NOT NULL DEFAULT 0,
	at                   INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL,
	PRIMARY KEY (tenant, team, wamid)
);
CREATE INDEX gtc_message_pricing_at ON gtc_message_pricing (tenant, team, at);
CREATE TABLE gtc_limit_contacts (
	scope       TEXT    NOT NULL,
	contact_key TEXT    NOT NULL,
	last_at     INTEGER NOT NULL,
	PRIMARY KEY (scope, contact_key)
);
CREATE INDEX gtc_limit_contacts_at ON gtc_limit_contacts (scope, last_at);
CREATE INDEX gtc_inbound_received ON gtc_inbound_events (received_at);
CREATE INDEX gtc_outbound_created ON gtc_outbound_messages (created_at);
CREATE INDEX gtc_outbound_statuses_at ON gtc_outbound_statuses (at);
CREATE INDEX gtc_idempotency_created ON gtc_idempotency_keys (created_at);
