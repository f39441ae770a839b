DROP TABLE digest_items;
DROP TABLE callback_events;
DROP TABLE merchant_callbacks;
DROP TABLE allowance_charges;
DROP TABLE approvals;
DROP TABLE api_idempotency;
DROP TABLE api_keys;
DROP INDEX transfers_refunds;
