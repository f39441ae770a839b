-- The transactional outbox: every message is written in the same transaction
-- as the change it reports, then sent by a background worker with retries.
CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY,
    channel            TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient          TEXT    NOT NULL,
    subject            TEXT    NOT NULL DEFAULT '',
    body               TEXT    NOT NULL,
    -- Makes an enqueue idempotent, e.g. 'transfer:42:to'.
    dedupe_key         TEXT    UNIQUE,
    status             TEXT    NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms BIGINT  NOT NULL,
    -- While 'sending': the claim expires then, so a crashed sender's
    -- messages are picked up again.
    lease_until_ms     BIGINT  NOT NULL DEFAULT 0,
    provider_id        TEXT,
    delivery_status    TEXT,
    last_error         TEXT,
    created_at_ms      BIGINT  NOT NULL,
    updated_at_ms      BIGINT  NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at_ms);
CREATE INDEX outbox_provider ON outbox (provider_id);

-- Inbound SMS already handled, so a redelivered id is processed once. The
-- text is not kept: it carries PINs.
CREATE TABLE inbound_sms (
    aggregator     TEXT   NOT NULL,
    message_id     TEXT   NOT NULL,
    msisdn         TEXT   NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (aggregator, message_id)
);
