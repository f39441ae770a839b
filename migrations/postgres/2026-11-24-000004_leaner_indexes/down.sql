CREATE INDEX postings_transfer ON postings (transfer_id);
DROP INDEX outbox_provider;
CREATE INDEX outbox_provider ON outbox (provider_id);
DROP INDEX outbox_dedupe;
ALTER TABLE outbox ADD CONSTRAINT outbox_dedupe_key_key UNIQUE (dedupe_key);
