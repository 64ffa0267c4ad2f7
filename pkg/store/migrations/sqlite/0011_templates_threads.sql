-- 11: the template lifecycle and Conversation Routing. gtc_templates keeps, per tenant/team
-- and template name and language, what gtc last saw of each template: its status and
-- Meta's reason (message_template_status_update webhooks, or Graph's template list), its
-- category (template_category_update) and its quality (message_template_quality_update),
-- each with the time it was seen, so a late redelivery never overwrites a newer state.
-- gtc_threads keeps who controls each contact's thread: gtc, another responder (standby
-- copies, control_taken) or nobody since gtc released it.
CREATE TABLE gtc_templates (
	tenant        TEXT    NOT NULL,
	team          TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	language      TEXT    NOT NULL,
	waba_id       TEXT    NOT NULL DEFAULT '',
	template_id   TEXT    NOT NULL DEFAULT '',
	status        TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL DEFAULT '',
	status_at     INTEGER NOT NULL DEFAULT 0,
	status_source TEXT    NOT NULL DEFAULT '',
	category      TEXT    NOT NULL DEFAULT '',
	category_at   INTEGER NOT NULL DEFAULT 0,
	quality       TEXT    NOT NULL DEFAULT '',
	quality_at    INTEGER NOT NULL DEFAULT 0,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (tenant, team, name, language)
);
CREATE TABLE gtc_threads (
	tenant      TEXT    NOT NULL,
	team        TEXT    NOT NULL,
	contact_key TEXT    NOT NULL,
	owner       TEXT    NOT NULL,
	why         TEXT    NOT NULL DEFAULT '',
	role        TEXT    NOT NULL DEFAULT '',
	at          INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (tenant, team, contact_key)
);
