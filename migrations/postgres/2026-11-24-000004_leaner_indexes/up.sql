-- Fewer index writes per transfer (see the SQLite migration of the same name):
-- receipts carry no dedupe key, only accepted messages have a provider id,
-- and a transfer's postings are found through postings_account.
ALTER TABLE outbox DROP CONSTRAINT outbox_dedupe_key_key;
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe_key) WHERE dedupe_key IS NOT NULL;
DROP INDEX outbox_provider;
CREATE INDEX outbox_provider ON outbox (provider_id) WHERE provider_id IS NOT NULL;
DROP INDEX postings_transfer;
