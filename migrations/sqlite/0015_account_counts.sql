-- How many transactions each account of a client lists, kept as transactions are stored, so that an account page's
-- X-Records-Available-Count is one look-up however many transactions the account has (counting the index range
-- took seconds for an account with millions). A transaction counts once for its debit account and once for a
-- different credit account, as the page lists it. Filtered pages still count their index range.
--
-- SQLite has one writer, so the trigger adds to the count itself. account_count_deltas is PostgreSQL's way (its
-- writers add rows there, folded into account_counts later); here it stays empty, so that both stores read a count
-- with the same statement.
CREATE TABLE account_counts (
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    transactions INTEGER NOT NULL,
    PRIMARY KEY (client_id, account)
) WITHOUT ROWID;
CREATE TABLE account_count_deltas (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    delta INTEGER NOT NULL
);
CREATE INDEX account_count_deltas_account ON account_count_deltas (client_id, account);

INSERT INTO account_counts (client_id, account, transactions)
SELECT client_id, account, COUNT(*) FROM (
    SELECT client_id, debit_account AS account FROM transactions WHERE debit_account IS NOT NULL
    UNION ALL
    SELECT client_id, credit_account AS account FROM transactions
    WHERE credit_account IS NOT NULL AND (debit_account IS NULL OR debit_account <> credit_account)
) GROUP BY client_id, account;

CREATE TRIGGER account_counts_on_insert AFTER INSERT ON transactions
BEGIN
    INSERT INTO account_counts (client_id, account, transactions)
    SELECT NEW.client_id, NEW.debit_account, 1 WHERE NEW.debit_account IS NOT NULL
    ON CONFLICT (client_id, account) DO UPDATE SET transactions = transactions + 1;
    INSERT INTO account_counts (client_id, account, transactions)
    SELECT NEW.client_id, NEW.credit_account, 1
    WHERE NEW.credit_account IS NOT NULL AND (NEW.debit_account IS NULL OR NEW.debit_account <> NEW.credit_account)
    ON CONFLICT (client_id, account) DO UPDATE SET transactions = transactions + 1;
END;
