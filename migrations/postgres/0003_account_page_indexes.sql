-- An account's page is read side by side from two indexes (merged newest first), and its count from the same
-- indexes alone: each carries the client, the ordering and, on the credit side, the debit account (a transaction
-- between two sides of one account is listed once).
DROP INDEX transactions_debit_account;
DROP INDEX transactions_credit_account;
CREATE INDEX transactions_debit_account ON transactions (client_id, debit_account, created_at, transaction_reference);
CREATE INDEX transactions_credit_account ON transactions (client_id, credit_account, created_at, transaction_reference, debit_account);
