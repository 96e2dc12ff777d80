-- The dashboard (issue 11). Each transaction's currency (its market) and amount (a decimal string), so that
-- reports filter and total them without reading every body; filled in for the transactions already stored.
ALTER TABLE transactions ADD COLUMN currency TEXT;
ALTER TABLE transactions ADD COLUMN amount TEXT;
UPDATE transactions SET currency = body::json ->> 'currency', amount = body::json ->> 'amount';
CREATE INDEX transactions_created ON transactions (created_at);
CREATE INDEX transactions_client_created ON transactions (client_id, created_at);

-- A transaction's story: one row per step (accepted, dispatched, acknowledged, in_doubt, retry, review,
-- completed, failed, cancelled, received, callback, callback_redeliver), written in the same database
-- transaction as the state change it records. `at_ms` is ms since the epoch; `detail` is JSON (the operator's
-- references, its own result code beside the mapped GSMA error, a callback attempt's HTTP status, …).
CREATE TABLE transaction_events (
    id BIGSERIAL PRIMARY KEY,
    transaction_reference TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX transaction_events_reference ON transaction_events (transaction_reference, id);

-- Dashboard sign-ins: the session cookie is kept only as a SHA-256 digest; `csrf_token` guards the session's
-- forms. Kept in the store so that every instance sharing a database knows every session.
CREATE TABLE dashboard_sessions (
    session_digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
