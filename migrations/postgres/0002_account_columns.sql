-- The account on each side of a transaction (the value of its first party, normalised), so that an account's
-- transactions can be listed newest first without scanning.
ALTER TABLE transactions ADD COLUMN debit_account TEXT;
ALTER TABLE transactions ADD COLUMN credit_account TEXT;
CREATE INDEX transactions_debit_account ON transactions (debit_account, created_at);
CREATE INDEX transactions_credit_account ON transactions (credit_account, created_at);
