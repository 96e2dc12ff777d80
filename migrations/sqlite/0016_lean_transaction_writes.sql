-- Fewer B-tree writes for each payment the writer stores.
--
-- The account counts of migration 0015 are now added by the group-commit writer itself, with two upserts beside
-- each transaction insert (store::writer::count_accounts). A trigger on the insert made SQLite keep a statement
-- journal for it: a copy of every page the insert touched (the row, its eight index entries, the counts), taken
-- in case the statement had to be undone half-way. The writer never needs that: a failed change rolls back its
-- whole database transaction. That copy and the trigger program took a sixth of SQLite's work per payment.
DROP TRIGGER account_counts_on_insert;

-- No query needs this index: the few that filter on dispatch_state also filter on status = 'pending', and read
-- the pending rows through transactions_due. Keeping it cost six B-tree writes per payment (dispatch_state
-- changes three times while a payment is pending).
DROP INDEX transactions_dispatch;
