-- Receipts are rendered from the journal after the transfer commits, not
-- written into the outbox by the transaction that posts it: each transfer
-- keeps both parties' balances right after it, and a cursor says up to which
-- transfer receipts have been queued. Receipts of earlier transfers were
-- already queued by the old write path, so the cursor starts past them.
ALTER TABLE transfers ADD COLUMN debit_balance_after_minor BIGINT;
ALTER TABLE transfers ADD COLUMN credit_balance_after_minor BIGINT;

CREATE TABLE notify_cursors (
    name              TEXT   PRIMARY KEY,
    last_transfer_id  BIGINT NOT NULL CHECK (last_transfer_id >= 0)
);
INSERT INTO notify_cursors (name, last_transfer_id)
    SELECT 'receipts', COALESCE(MAX(id), 0) FROM transfers;
