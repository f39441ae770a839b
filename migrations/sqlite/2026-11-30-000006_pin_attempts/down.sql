DROP TABLE pin_claims;
DROP TABLE pin_sources;
ALTER TABLE accounts DROP COLUMN pin_cleared_ticket;
ALTER TABLE accounts DROP COLUMN pin_tickets;
