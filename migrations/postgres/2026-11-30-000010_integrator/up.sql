-- The integrator API (SPEC §9): API keys per till, payment requests and
-- allowances the customer approves on the phone, charges, payouts and
-- refunds on the ledger, signed callbacks and daily digest receipts.
-- A refund names the payment it returns part of.
ALTER TABLE transfers DROP CONSTRAINT transfers_kind_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_kind_check CHECK (kind IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment', 'float_issue', 'fee', 'commission', 'reversal', 'charge', 'payout', 'refund'));
ALTER TABLE transfers ADD COLUMN refunds_transfer_id BIGINT REFERENCES transfers (id);
ALTER TABLE transfers ADD CONSTRAINT transfers_refund_check CHECK ((kind = 'refund') = (refunds_transfer_id IS NOT NULL));
CREATE INDEX transfers_refunds ON transfers (refunds_transfer_id) WHERE refunds_transfer_id IS NOT NULL;
ALTER TABLE postings DROP CONSTRAINT postings_code_check;
ALTER TABLE postings ADD CONSTRAINT postings_code_check CHECK (code IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment', 'float_issue', 'fee', 'commission', 'reversal', 'charge', 'payout', 'refund'));

-- API keys: the key is shown once; only its keyed hash (HMAC-SHA256 under
-- the server's api key secret) is kept. `key_id` is the public handle.
CREATE TABLE api_keys (
    id             BIGSERIAL PRIMARY KEY,
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
    id               BIGSERIAL PRIMARY KEY,
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
    id                  BIGSERIAL PRIMARY KEY,
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
    id               BIGSERIAL PRIMARY KEY,
    account_id       BIGINT  NOT NULL REFERENCES accounts (id),
    transfer_id      BIGINT  NOT NULL UNIQUE REFERENCES transfers (id),
    counterparty_id  BIGINT  NOT NULL REFERENCES accounts (id),
    amount_minor     BIGINT  NOT NULL CHECK (amount_minor > 0),
    created_at_ms    BIGINT  NOT NULL,
    -- The local day number of the digest that carried it.
    digest_day       BIGINT
);
CREATE INDEX digest_items_waiting ON digest_items (digest_day, account_id);
