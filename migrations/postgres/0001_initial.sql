-- Request states: one per asynchronous request. (client_id, client_correlation_id) is the idempotency key.
CREATE TABLE request_states (
    server_correlation_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_correlation_id TEXT,
    object_type TEXT NOT NULL,
    object_reference TEXT,
    status TEXT NOT NULL,
    notification_method TEXT NOT NULL,
    callback_url TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (client_id, client_correlation_id)
);

-- Transactions: the GSMA representation in `body`, plus the columns the engine works with.
-- dispatch_state: queued (not sent), sending (being sent), acknowledged (operator gave references),
-- in_doubt (sent, answer unknown), final.
CREATE TABLE transactions (
    transaction_reference TEXT PRIMARY KEY,
    server_correlation_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    transaction_type TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT NOT NULL,
    dispatch_state TEXT NOT NULL,
    dispatch_attempts BIGINT NOT NULL DEFAULT 0,
    provider_reference TEXT,
    provider_refs TEXT,
    next_check_at BIGINT,
    in_doubt_since BIGINT,
    check_attempts BIGINT NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX transactions_provider_reference ON transactions (provider, provider_reference);
CREATE INDEX transactions_due ON transactions (next_check_at) WHERE status = 'pending';
CREATE INDEX transactions_dispatch ON transactions (dispatch_state) WHERE status = 'pending';

-- Client callbacks still owed and their delivery log.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    server_correlation_id TEXT NOT NULL,
    url TEXT NOT NULL,
    correlation_id TEXT,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
