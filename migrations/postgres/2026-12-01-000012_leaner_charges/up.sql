-- Each charge writes one allowance_charges row, and every index of it is
-- one more page to write. Nothing finds these rows by allowance (a charge's
-- callback and a replay find them by transfer, `ledger verify` reads them
-- all), and approvals are never deleted nor renumbered, so the foreign key
-- needs no index on this side either.
DROP INDEX allowance_charges_approval;
