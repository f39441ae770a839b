-- A reply to an inbound SMS can go out from the short code the customer
-- texted (`sender`), carrying the inbound message's `linkId` (Africa's
-- Talking's premium/on-demand SMS). NULL: the configured sms.sender_id, no
-- linkId, as for every other message.
ALTER TABLE outbox ADD COLUMN sender TEXT;
ALTER TABLE outbox ADD COLUMN link_id TEXT;
