-- API clients: who may call the gateway. The consumer key is the client's id; its secret is kept only as an
-- argon2id hash and its API key only as a SHA-256 digest. The callback signing key is derived from the secret
-- (HMAC-SHA256(secret, "mmapi-gateway callback signing v1")), so the client can compute it and the stored value
-- does not let anyone call the API. `accounts` lists the accounts (account keys, e.g. a shortcode) granted to the
-- client: their balances, and the payments the operator reports into them, are the client's.
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    api_key_digest TEXT NOT NULL UNIQUE,
    signing_key TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'client',
    allowed_providers TEXT,
    callback_hosts TEXT,
    accounts TEXT,
    rate_limit_per_sec INTEGER,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- OAuth 2.0 access tokens (client credentials), kept as SHA-256 digests so that any instance can check them.
CREATE TABLE access_tokens (
    token_digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

-- The client a callback belongs to (its signing key signs the delivery).
ALTER TABLE outbox ADD COLUMN client_id TEXT;
