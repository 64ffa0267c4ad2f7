-- 9: an Idempotency-Key is reserved in the transaction that records its request's
-- messages (status 0 until the answer is saved), and names them.
ALTER TABLE gtc_idempotency_keys ADD COLUMN outbound_ids TEXT NOT NULL DEFAULT '';
