CREATE INDEX postings_transfer ON postings (transfer_id);

CREATE TABLE outbox_old (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient          TEXT    NOT NULL,
    subject            TEXT    NOT NULL DEFAULT '',
    body               TEXT    NOT NULL,
    dedupe_key         TEXT    UNIQUE,
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
INSERT INTO outbox_old SELECT id, channel, recipient, subject, body, dedupe_key, status, attempts,
    next_attempt_at_ms, lease_until_ms, provider_id, delivery_status, last_error, created_at_ms, updated_at_ms
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_old RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at_ms);
CREATE INDEX outbox_provider ON outbox (provider_id);
