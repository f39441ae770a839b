DROP TABLE inbound_sms; DROP TABLE outbox;
