-- The outbox worker claims the row that is due first (ORDER BY next_attempt_at, id LIMIT 1).
-- An index on next_attempt_at alone made Postgres read and sort every queued row for each
-- claim: 7.5 ms a claim with 10,000 queued (a burst), 0.05 ms with the order in the index.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'queued';
