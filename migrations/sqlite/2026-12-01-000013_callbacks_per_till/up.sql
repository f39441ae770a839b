-- Callback delivery state per till rather than per event. Finding work
-- read every pending event (through callback_events_due) inside the
-- writer's transaction, and a failure pushed back every pending event of
-- the till one by one: with a backlog of tens of thousands of events (a
-- busy till, or one whose endpoint was down) each claim and each failure
-- took the write lock for as long as that scan, from payments too. Now
-- the till carries its next attempt, its lease and its consecutive
-- failures; its pending events are found a batch at a time, oldest
-- first, through an index that holds only pending events.
ALTER TABLE merchant_callbacks ADD COLUMN next_attempt_at_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchant_callbacks ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchant_callbacks ADD COLUMN failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0);
-- A till backing off keeps its place in the backoff.
UPDATE merchant_callbacks SET
    next_attempt_at_ms = COALESCE((SELECT MAX(e.next_attempt_at_ms) FROM callback_events e
                                   WHERE e.account_id = merchant_callbacks.account_id AND e.status = 'pending'
                                     AND e.last_error IS NOT NULL), 0),
    failures = COALESCE((SELECT MAX(e.attempts) FROM callback_events e
                         WHERE e.account_id = merchant_callbacks.account_id AND e.status = 'pending'), 0);
CREATE INDEX callback_events_pending ON callback_events (account_id, id) WHERE status = 'pending';
DROP INDEX callback_events_due;
