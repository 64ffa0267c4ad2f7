-- 6: people in the loop. The instance takeover mark gets its own word ("handover" now
-- means nothing in gtc: a takeover is an instance taking a dead one's work, a handoff is a
-- contact handed to a person). A conversation with a person keeps its queue, the note for
-- agents and when an agent last read it (unread counts); notes are internal, never sent.
ALTER TABLE gtc_contacts RENAME COLUMN handover TO takeover;
ALTER TABLE gtc_conversations ADD COLUMN queue TEXT NOT NULL DEFAULT '';
ALTER TABLE gtc_conversations ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE gtc_conversations ADD COLUMN agent_read_at INTEGER NOT NULL DEFAULT 0;
CREATE TABLE gtc_notes (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant      TEXT    NOT NULL,
	team        TEXT    NOT NULL,
	contact_key TEXT    NOT NULL,
	author      TEXT    NOT NULL DEFAULT '',
	text        TEXT    NOT NULL,
	created_at  INTEGER  NOT NULL
);
CREATE INDEX gtc_notes_contact ON gtc_notes (tenant, team, contact_key, created_at);
