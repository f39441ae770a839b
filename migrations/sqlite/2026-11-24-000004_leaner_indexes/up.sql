-- Fewer index writes per transfer: every index entry is a B-tree write inside
-- the write lock, and a transfer writes two receipts and two or more postings.
--
-- * A transfer's receipts are written once, in the transfer's own transaction,
--   so they need no dedupe key: only keyed messages (alerts, welcome notes)
--   are indexed by it.
-- * Only messages the aggregator accepted have a provider id to look up.
-- * A transfer's postings are found through postings_account: a transfer
--   names every account it touches. verify reads postings whole.
--
-- SQLite cannot drop a column's UNIQUE, so the outbox is rebuilt.
CREATE TABLE outbox_new (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient          TEXT    NOT NULL,
    subject            TEXT    NOT NULL DEFAULT '',
    body               TEXT    NOT NULL,
    -- Makes an enqueue idempotent, e.g. 'float-low:7:42'.
    dedupe_key         TEXT,
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms BIGINT  NOT NULL,
    lease_until_ms     BIGINT  NOT NULL DEFAULT 0,
    provider_id        TEXT,
    delivery_status    TEXT,
    last_error         TEXT,
    created_at_ms      BIGINT  NOT NULL,
    updated_at_ms      BIGINT  NOT NULL
);
INSERT INTO outbox_new (id, channel, recipient, subject, body, dedupe_key, status, attempts, next_attempt_at_ms,
                        lease_until_ms, provider_id, delivery_status, last_error, created_at_ms, updated_at_ms)
    SELECT id, channel, recipient, subject, body, dedupe_key, status, attempts, next_attempt_at_ms,
           lease_until_ms, provider_id, delivery_status, last_error, created_at_ms, updated_at_ms
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at_ms);
CREATE INDEX outbox_provider ON outbox (provider_id) WHERE provider_id IS NOT NULL;

DROP INDEX postings_transfer;
