-- The X-Request-ID of the request that created a request state, carried into the operator call it causes and
-- into the client callback it ends with (outbox).
ALTER TABLE request_states ADD COLUMN request_id TEXT;
ALTER TABLE outbox ADD COLUMN request_id TEXT;
