-- 3: the request an Idempotency-Key was first used with, to refuse its reuse for another.
ALTER TABLE gtc_idempotency_keys ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
