CREATE TABLE allowance_charges_old (
    transfer_id            BIGINT  PRIMARY KEY REFERENCES transfers (id),
    approval_id            BIGINT  NOT NULL REFERENCES approvals (id),
    remaining_after_minor  BIGINT  NOT NULL CHECK (remaining_after_minor >= 0)
);
INSERT INTO allowance_charges_old (transfer_id, approval_id, remaining_after_minor)
    SELECT transfer_id, approval_id, remaining_after_minor FROM allowance_charges;
DROP TABLE allowance_charges;
ALTER TABLE allowance_charges_old RENAME TO allowance_charges;
CREATE INDEX allowance_charges_approval ON allowance_charges (approval_id);
