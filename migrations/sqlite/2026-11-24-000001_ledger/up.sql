-- The ledger: accounts with cached balances, immutable transfers, and the
-- postings (journal) that are the source of truth for every balance.

CREATE TABLE accounts (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('customer', 'agent', 'merchant', 'system')),
    -- Customers and agents are found by phone number, merchants by till,
    -- system accounts by code.
    msisdn           TEXT    UNIQUE,
    till             TEXT    UNIQUE,
    system_code      TEXT    UNIQUE,
    contact_msisdn   TEXT,
    name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    id_number        TEXT,
    tier             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked', 'suspended')),
    language         TEXT    NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'sw')),
    balance_minor    BIGINT  NOT NULL DEFAULT 0,
    allow_negative   INTEGER NOT NULL DEFAULT 0 CHECK (allow_negative IN (0, 1)),
    -- Outgoing total of the current day (day number in the operator's zone).
    out_day          BIGINT  NOT NULL DEFAULT 0,
    out_day_minor    BIGINT  NOT NULL DEFAULT 0 CHECK (out_day_minor >= 0),
    pin_hash         TEXT,
    pin_failures     INTEGER NOT NULL DEFAULT 0 CHECK (pin_failures >= 0),
    created_at_ms    BIGINT  NOT NULL,
    CHECK (allow_negative = 1 OR balance_minor >= 0),
    CHECK (allow_negative = 0 OR kind = 'system'),
    CHECK ((kind IN ('customer', 'agent')) = (msisdn IS NOT NULL)),
    CHECK ((kind = 'merchant') = (till IS NOT NULL)),
    CHECK ((kind = 'system') = (system_code IS NOT NULL))
);

CREATE TABLE transfers (
    id                   INTEGER PRIMARY KEY,
    reference            TEXT    NOT NULL UNIQUE CHECK (length(reference) = 10),
    idempotency_key      TEXT    NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    fingerprint          TEXT    NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment', 'float_issue', 'fee', 'commission', 'reversal')),
    debit_account_id     BIGINT  NOT NULL REFERENCES accounts (id),
    credit_account_id    BIGINT  NOT NULL REFERENCES accounts (id),
    amount_minor         BIGINT  NOT NULL CHECK (amount_minor > 0),
    fee_minor            BIGINT  NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    commission_minor     BIGINT  NOT NULL DEFAULT 0 CHECK (commission_minor >= 0),
    reverses_transfer_id BIGINT  UNIQUE REFERENCES transfers (id),
    created_at_ms        BIGINT  NOT NULL,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((kind = 'reversal') = (reverses_transfer_id IS NOT NULL))
);

-- One row per account per leg: a leg moving X from A to B is (A, -X) and (B, +X).
CREATE TABLE postings (
    id            INTEGER PRIMARY KEY,
    transfer_id   BIGINT  NOT NULL REFERENCES transfers (id),
    account_id    BIGINT  NOT NULL REFERENCES accounts (id),
    code          TEXT    NOT NULL CHECK (code IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment', 'float_issue', 'fee', 'commission', 'reversal')),
    amount_minor  BIGINT  NOT NULL CHECK (amount_minor <> 0)
);
CREATE INDEX postings_account ON postings (account_id, transfer_id);
CREATE INDEX postings_transfer ON postings (transfer_id);

INSERT INTO accounts (kind, system_code, name, tier, allow_negative, created_at_ms) VALUES
    ('system', 'issuance',           'E-money issuance',          'system', 1, 0),
    ('system', 'fee_revenue',        'Fee revenue',               'system', 0, 0),
    ('system', 'commission_expense', 'Agent commission expense',  'system', 1, 0),
    ('system', 'suspense',           'Suspense',                  'system', 0, 0);
