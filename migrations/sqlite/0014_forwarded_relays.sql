-- Callbacks of forwarded requests that the operator may never send (it offers none, or one was lost): for a
-- request answered asynchronously whose client gave an X-Callback-URL, next_check_at is when the gateway asks the
-- operator for the outcome, unless the operator's callback has been relayed first (relayed_at).
ALTER TABLE forwarded_requests ADD COLUMN next_check_at INTEGER;
ALTER TABLE forwarded_requests ADD COLUMN relayed_at INTEGER;
CREATE INDEX forwarded_requests_unrelayed ON forwarded_requests (next_check_at) WHERE relayed_at IS NULL;
