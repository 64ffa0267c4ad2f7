-- 10: a contact is one identity with aliases: the numbers it was written to as typed, its
-- wa_id and its business-scoped user ids (current and previous). Every contact's key, wa_id
-- and user_id become its aliases. An inbound message keeps the time of the contact's
-- previous inbound message (a flow's last_message_time).
CREATE TABLE gtc_contact_aliases (
	tenant      TEXT    NOT NULL,
	team        TEXT    NOT NULL,
	alias       TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	contact_key TEXT    NOT NULL,
	created_at  BIGINT  NOT NULL,
	updated_at  BIGINT  NOT NULL,
	PRIMARY KEY (tenant, team, alias)
);
CREATE INDEX gtc_contact_aliases_contact ON gtc_contact_aliases (tenant, team, contact_key);
INSERT INTO gtc_contact_aliases (tenant, team, alias, kind, contact_key, created_at, updated_at)
	SELECT tenant, team, contact_key, CASE WHEN contact_key LIKE '%.%' THEN 'bsuid' ELSE 'wa_id' END, contact_key, created_at, updated_at
	FROM gtc_contacts WHERE contact_key <> ''
	ON CONFLICT (tenant, team, alias) DO NOTHING;
INSERT INTO gtc_contact_aliases (tenant, team, alias, kind, contact_key, created_at, updated_at)
	SELECT tenant, team, wa_id, 'wa_id', contact_key, created_at, updated_at FROM gtc_contacts WHERE wa_id <> ''
	ON CONFLICT (tenant, team, alias) DO NOTHING;
INSERT INTO gtc_contact_aliases (tenant, team, alias, kind, contact_key, created_at, updated_at)
	SELECT tenant, team, user_id, 'bsuid', contact_key, created_at, updated_at FROM gtc_contacts WHERE user_id <> ''
	ON CONFLICT (tenant, team, alias) DO NOTHING;
ALTER TABLE gtc_inbound_events ADD COLUMN prev_inbound_at BIGINT NOT NULL DEFAULT 0;
