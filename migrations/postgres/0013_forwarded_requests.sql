-- Requests forwarded to a GSMA-speaking operator (providers/mmapi): which client sent each, to which operator,
-- and what the operator answered. The client's idempotency key is claimed in request_states (object_type
-- 'forwarded', server_correlation_id = operator_correlation_id), so one X-CorrelationID namespace per client covers
-- both the gateway's own requests and forwarded ones. operator_correlation_id is the X-CorrelationID the gateway
-- sent the operator: one per client request, so that clients never share the operator's idempotency keys.
CREATE TABLE forwarded_requests (
    operator_correlation_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    operator TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    -- NULL until the operator answered (a stop or a timeout in between leaves it NULL: the request is sent again,
    -- under the same operator_correlation_id, when the client repeats it).
    answer_status BIGINT,
    -- The operator's serverCorrelationId of an asynchronous answer, and the reference of what it created.
    operator_server_correlation_id TEXT,
    object_reference TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX forwarded_requests_server_correlation ON forwarded_requests (operator_server_correlation_id);
CREATE INDEX forwarded_requests_object ON forwarded_requests (object_reference);
