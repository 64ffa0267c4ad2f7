-- 2: the send API's Idempotency-Key answers.
CREATE TABLE gtc_idempotency_keys (
	tenant     TEXT    NOT NULL,
	team       TEXT    NOT NULL,
	idem_key   TEXT    NOT NULL,
	status     INTEGER NOT NULL,
	body       BYTEA   NOT NULL,
	created_at BIGINT  NOT NULL,
	PRIMARY KEY (tenant, team, idem_key)
);
