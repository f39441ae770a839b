DROP TABLE notify_cursors;
ALTER TABLE transfers DROP COLUMN credit_balance_after_minor;
ALTER TABLE transfers DROP COLUMN debit_balance_after_minor;
