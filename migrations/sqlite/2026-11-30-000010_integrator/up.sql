-- The integrator API (SPEC §9): API keys per till, payment requests and
-- allowances the customer approves on the phone, charges, payouts and
-- refunds on the ledger, signed callbacks and daily digest receipts.
--
-- SQLite cannot widen a CHECK, so transfers and postings are rebuilt with
-- the new kinds (the documented twelve-step procedure: mkoba runs SQLite
-- migrations with foreign keys off and checks them afterwards). A refund
-- names the payment it returns part of.
CREATE TABLE transfers_new (
    id                          INTEGER PRIMARY KEY,
    reference                   TEXT    NOT NULL UNIQUE CHECK (length(reference) = 10),
    idempotency_key             TEXT    NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    fingerprint                 TEXT    NOT NULL,
    kind                        TEXT    NOT NULL CHECK (kind IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment', 'float_issue', 'fee', 'commission', 'reversal', 'charge', 'payout', 'refund')),
    debit_account_id            BIGINT  NOT NULL REFERENCES accounts (id),
    credit_account_id           BIGINT  NOT NULL REFERENCES accounts (id),
    amount_minor                BIGINT  NOT NULL CHECK (amount_minor > 0),
    fee_minor                   BIGINT  NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    commission_minor            BIGINT  NOT NULL DEFAULT 0 CHECK (commission_minor >= 0),
    reverses_transfer_id        BIGINT  UNIQUE REFERENCES transfers (id),
    created_at_ms               BIGINT  NOT NULL,
    debit_balance_after_minor   BIGINT,
    credit_balance_after_minor  BIGINT,
    refunds_transfer_id         BIGINT  REFERENCES transfers (id),
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((kind = 'reversal') = (reverses_transfer_id IS NOT NULL)),
    CHECK ((kind = 'refund') = (refunds_transfer_id IS NOT NULL))
);
INSERT INTO transfers_new (id, reference, idempotency_key, fingerprint, kind, debit_account_id, credit_account_id,
                           amount_minor, fee_minor, commission_minor, reverses_transfer_id, created_at_ms,
                           debit_balance_after_minor, credit_balance_after_minor)
    SELECT id, reference, idempotency_key, fingerprint, kind, debit_account_id, credit_account_id,
           amount_minor, fee_minor, commission_minor, reverses_transfer_id, created_at_ms,
           debit_balance_after_minor, credit_balance_after_minor
    FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_new RENAME TO transfers;
CREATE INDEX transfers_refunds ON transfers (refunds_transfer_id) WHERE refunds_transfer_id IS NOT NULL;

CREATE TABLE postings_new (
    id            INTEGER PRIMARY KEY,
    transfer_id   BIGINT  NOT NULL REFERENCES transfers (id),
    account_id    BIGINT  NOT NULL REFERENCES accounts (id),
    code          TEXT    NOT NULL CHECK (code IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment', 'float_issue', 'fee', 'commission', 'reversal', 'charge', 'payout', 'refund')),
    amount_minor  BIGINT  NOT NULL CHECK (amount_minor <> 0)
);
INSERT INTO postings_new (id, transfer_id, account_id, code, amount_minor)
    SELECT id, transfer_id, account_id, code, amount_minor FROM postings;
DROP TABLE postings;
ALTER TABLE postings_new RENAME TO postings;
CREATE INDEX postings_account ON postings (account_id, transfer_id);

-- API keys: the key is shown once; only its keyed hash (HMAC-SHA256 under
-- the server's api key secret) is kept. `key_id` is the public handle.
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY,
    account_id     BIGINT  NOT NULL REFERENCES accounts (id),
    key_id         TEXT    NOT NULL UNIQUE,
    key_hash       TEXT    NOT NULL UNIQUE,
    created_at_ms  BIGINT  NOT NULL,
    revoked_at_ms  BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- Responses of API POSTs that do not move money (payment requests,
-- allowances), written in the transaction that creates what they answer.
-- Money-moving POSTs are kept by the transfer's own idempotency key.
CREATE TABLE api_idempotency (
    account_id     BIGINT  NOT NULL REFERENCES accounts (id),
    idem_key       TEXT    NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 200),
    request_hash   TEXT    NOT NULL,
    status_code    INTEGER NOT NULL,
    response_body  TEXT    NOT NULL,
    created_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (account_id, idem_key)
);

-- What a merchant asks a customer to approve: one payment, or an allowance
-- (a limit per period the till may then charge without a PIN). `code` is
-- what the customer types in `APPROVE <code> <PIN>`.
CREATE TABLE approvals (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL CHECK (kind IN ('payment', 'allowance')),
    code             TEXT    NOT NULL CHECK (length(code) BETWEEN 4 AND 6),
    till_id          BIGINT  NOT NULL REFERENCES accounts (id),
    customer_id      BIGINT  NOT NULL REFERENCES accounts (id),
    -- The payment's amount, or the allowance's limit per period.
    amount_minor     BIGINT  NOT NULL CHECK (amount_minor > 0),
    period           TEXT    CHECK (period IN ('day', 'week', 'month')),
    description      TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'active', 'declined', 'revoked', 'expired')),
    -- The payment's transfer, once approved.
    transfer_id      BIGINT  UNIQUE REFERENCES transfers (id),
    -- An allowance's spending in its current period (period number).
    period_no        BIGINT  NOT NULL DEFAULT 0,
    spent_minor      BIGINT  NOT NULL DEFAULT 0 CHECK (spent_minor >= 0),
    created_at_ms    BIGINT  NOT NULL,
    expires_at_ms    BIGINT  NOT NULL,
    decided_at_ms    BIGINT,
    CHECK ((kind = 'allowance') = (period IS NOT NULL)),
    CHECK (spent_minor <= amount_minor),
    CHECK ((status = 'approved') = (transfer_id IS NOT NULL)),
    CHECK (kind = 'allowance' OR status NOT IN ('active', 'revoked')),
    CHECK (kind = 'payment' OR status <> 'approved'),
    UNIQUE (customer_id, code)
);
CREATE INDEX approvals_customer ON approvals (customer_id, status, id);
CREATE INDEX approvals_pending ON approvals (expires_at_ms) WHERE status = 'pending';

-- Each charge under an allowance: what was left of it right after, so a
-- replayed charge answers as the first did.
CREATE TABLE allowance_charges (
    transfer_id            BIGINT  PRIMARY KEY REFERENCES transfers (id),
    approval_id            BIGINT  NOT NULL REFERENCES approvals (id),
    remaining_after_minor  BIGINT  NOT NULL CHECK (remaining_after_minor >= 0)
);
CREATE INDEX allowance_charges_approval ON allowance_charges (approval_id);

-- Where a till's callbacks go. The secret is the HMAC key, kept as printed.
CREATE TABLE merchant_callbacks (
    account_id     BIGINT  PRIMARY KEY REFERENCES accounts (id),
    url            TEXT    NOT NULL,
    secret         TEXT    NOT NULL,
    updated_at_ms  BIGINT  NOT NULL
);

-- Callback events, each delivered at least once with its own id.
CREATE TABLE callback_events (
    id                  INTEGER PRIMARY KEY,
    event_id            TEXT    NOT NULL UNIQUE,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id),
    type                TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms  BIGINT  NOT NULL,
    lease_until_ms      BIGINT  NOT NULL DEFAULT 0,
    last_error          TEXT,
    created_at_ms       BIGINT  NOT NULL,
    delivered_at_ms     BIGINT
);
CREATE INDEX callback_events_due ON callback_events (status, next_attempt_at_ms);

-- Payments whose payer receipt waits for the daily digest SMS.
CREATE TABLE digest_items (
    id               INTEGER PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts (id),
    transfer_id      BIGINT  NOT NULL UNIQUE REFERENCES transfers (id),
    counterparty_id  BIGINT  NOT NULL REFERENCES accounts (id),
    amount_minor     BIGINT  NOT NULL CHECK (amount_minor > 0),
    created_at_ms    BIGINT  NOT NULL,
    -- The local day number of the digest that carried it.
    digest_day       BIGINT
);
CREATE INDEX digest_items_waiting ON digest_items (digest_day, account_id);
