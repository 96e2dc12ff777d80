-- Bulk disbursements (GSMA `/batchtransactions`). A batch is accepted whole: its request state, the batch and
-- every item (valid or rejected) are committed before the 202. Its GSMA fields that the client sent and the
-- gateway only echoes (title, description, requesting organisation, request date, custom data) are in `meta`.
-- status: created (waits for approval), approved (waits for its scheduled start), processing, completed.
-- lease_owner / lease_until: the gateway instance working on it (several may share a PostgreSQL database).
CREATE TABLE batches (
    batch_id TEXT PRIMARY KEY,
    server_correlation_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    meta TEXT NOT NULL,
    item_count BIGINT NOT NULL,
    parsing_success_count BIGINT NOT NULL,
    scheduled_start_at BIGINT,
    approved_at BIGINT,
    approved_by TEXT,
    completed_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX batches_open ON batches (status) WHERE status IN ('approved', 'processing');

-- The items of a batch, by their index in the posted `transactions` array.
-- status: rejected (invalid when posted: `rejection_reason`), valid (waits to be sent), submitted (an ordinary
-- disbursement transaction, `transaction_reference`, carries it; its status is the item's).
-- `item` is the posted item (JSON); `provider` the operator a valid item routes to.
-- An item becomes `submitted` in the same database transaction that creates its transaction, so a restart never
-- creates (nor pays) an item twice.
CREATE TABLE batch_items (
    batch_id TEXT NOT NULL,
    item_index BIGINT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT,
    item TEXT NOT NULL,
    rejection_reason TEXT,
    transaction_reference TEXT,
    PRIMARY KEY (batch_id, item_index)
);
CREATE INDEX batch_items_waiting ON batch_items (batch_id, item_index) WHERE status = 'valid';
