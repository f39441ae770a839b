CREATE INDEX allowance_charges_approval ON allowance_charges (approval_id);
