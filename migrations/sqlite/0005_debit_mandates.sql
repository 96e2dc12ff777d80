-- Debit mandates (GSMA recurring payments). The GSMA representation is in `body`; `payer` is the JSON array of the
-- payer's identifiers (the account in the creation's path) and `payer_account` the account key of its first one.
-- status: pending (creation under way at the operator), active, inactive, failed.
-- provider_refs: the operator's references of the mandate (JSON of ProviderRefs), once created.
CREATE TABLE debit_mandates (
    mandate_reference TEXT PRIMARY KEY,
    server_correlation_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    payer TEXT NOT NULL,
    payer_account TEXT NOT NULL,
    body TEXT NOT NULL,
    provider_refs TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX debit_mandates_pending ON debit_mandates (created_at) WHERE status = 'pending';
