-- Each charge writes one allowance_charges row, and every index of it is a
-- page more in the commit's WAL. Nothing finds these rows by allowance (a
-- charge's callback and a replay find them by transfer, `ledger verify`
-- reads them all), so the index by approval goes; and keyed by transfer
-- without a rowid, the row is one b-tree rather than a table and its key's
-- index. Together a charge's commit wrote about a third fewer bytes (16 KB
-- against 11 KB of WAL per charge, BENCHMARKS.md).
CREATE TABLE allowance_charges_new (
    transfer_id            BIGINT  PRIMARY KEY REFERENCES transfers (id),
    approval_id            BIGINT  NOT NULL REFERENCES approvals (id),
    remaining_after_minor  BIGINT  NOT NULL CHECK (remaining_after_minor >= 0)
) WITHOUT ROWID;
INSERT INTO allowance_charges_new (transfer_id, approval_id, remaining_after_minor)
    SELECT transfer_id, approval_id, remaining_after_minor FROM allowance_charges;
DROP TABLE allowance_charges;
ALTER TABLE allowance_charges_new RENAME TO allowance_charges;
