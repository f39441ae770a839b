CREATE INDEX callback_events_due ON callback_events (status, next_attempt_at_ms);
DROP INDEX callback_events_pending;
ALTER TABLE merchant_callbacks DROP COLUMN failures;
ALTER TABLE merchant_callbacks DROP COLUMN lease_until_ms;
ALTER TABLE merchant_callbacks DROP COLUMN next_attempt_at_ms;
