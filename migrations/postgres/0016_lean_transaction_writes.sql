-- No query needs this index: the few that filter on dispatch_state also filter on status = 'pending', and read
-- the pending rows through transactions_due. Keeping it cost index writes each time dispatch_state changed
-- (three times while a payment is pending). The account-count trigger of migration 0015 stays: on PostgreSQL it
-- writes rows no one else locks, and an instance not yet upgraded relies on it.
DROP INDEX transactions_dispatch;
