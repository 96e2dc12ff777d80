-- Quotations (POST /quotations): the GSMA representation in `body`; `provider` is the operator whose tariff
-- priced it and `expires_at` (ms since the epoch) when its quotes stop being honoured (quoteExpiryTime).
CREATE TABLE quotations (
    quotation_reference TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
