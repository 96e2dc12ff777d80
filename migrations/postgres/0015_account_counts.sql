-- How many transactions each account of a client lists, kept as transactions are stored, so that an account page's
-- X-Records-Available-Count is one look-up however many transactions the account has (counting the index range
-- took seconds for an account with millions). A transaction counts once for its debit account and once for a
-- different credit account, as the page lists it. Filtered pages still count their index range.
--
-- Several writers (and instances) store transactions at once, and a busy till is on most of them: adding to one
-- count row would make them wait on each other's locks, or deadlock. So each stored transaction adds rows to
-- account_count_deltas, which no one else locks, and the reconciliation pass folds them into account_counts
-- (claimed with SKIP LOCKED). A count is the folded total plus the deltas not folded yet, read in one statement.
CREATE TABLE account_counts (
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    transactions BIGINT NOT NULL,
    PRIMARY KEY (client_id, account)
);
CREATE TABLE account_count_deltas (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL,
    account TEXT NOT NULL,
    delta BIGINT NOT NULL
);
CREATE INDEX account_count_deltas_account ON account_count_deltas (client_id, account);

INSERT INTO account_counts (client_id, account, transactions)
SELECT client_id, account, COUNT(*) FROM (
    SELECT client_id, debit_account AS account FROM transactions WHERE debit_account IS NOT NULL
    UNION ALL
    SELECT client_id, credit_account AS account FROM transactions
    WHERE credit_account IS NOT NULL AND (debit_account IS NULL OR debit_account <> credit_account)
) AS sides GROUP BY client_id, account;

CREATE FUNCTION account_count_deltas_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.debit_account IS NOT NULL THEN
        INSERT INTO account_count_deltas (client_id, account, delta) VALUES (NEW.client_id, NEW.debit_account, 1);
    END IF;
    IF NEW.credit_account IS NOT NULL AND NEW.credit_account IS DISTINCT FROM NEW.debit_account THEN
        INSERT INTO account_count_deltas (client_id, account, delta) VALUES (NEW.client_id, NEW.credit_account, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER account_count_deltas_on_insert AFTER INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION account_count_deltas_on_insert();
