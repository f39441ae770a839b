-- Fraud controls (SPEC §11).
--
-- A transfer a velocity rule holds is posted from the payer to the suspense
-- account (its principal and its fee), and waits here for an operator to
-- release it to the payee or return it to the payer. The status moves once,
-- from 'held', in the same transaction as the transfer that settles it.
CREATE TABLE holds (
    id                      BIGSERIAL PRIMARY KEY,
    hold_transfer_id        BIGINT  NOT NULL UNIQUE REFERENCES transfers (id),
    kind                    TEXT    NOT NULL CHECK (kind IN ('p2p', 'cash_out', 'merchant_payment')),
    payer_id                BIGINT  NOT NULL REFERENCES accounts (id),
    payee_id                BIGINT  NOT NULL REFERENCES accounts (id),
    amount_minor            BIGINT  NOT NULL CHECK (amount_minor > 0),
    fee_minor               BIGINT  NOT NULL CHECK (fee_minor >= 0),
    commission_minor        BIGINT  NOT NULL CHECK (commission_minor >= 0),
    rule                    TEXT    NOT NULL,
    status                  TEXT    NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'returned')),
    held_at_ms              BIGINT  NOT NULL,
    resolved_at_ms          BIGINT,
    resolution_transfer_id  BIGINT  UNIQUE REFERENCES transfers (id),
    CHECK ((status = 'held') = (resolution_transfer_id IS NULL))
);
CREATE INDEX holds_status ON holds (status, id);
CREATE INDEX holds_payer ON holds (payer_id);

-- Transfers a rule declined: they moved nothing, but the rule that fired
-- is kept, and operators are told (the alert feeder reads past a cursor).
CREATE TABLE declines (
    id               BIGSERIAL PRIMARY KEY,
    idempotency_key  TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    payer_id         BIGINT  NOT NULL REFERENCES accounts (id),
    payee_id         BIGINT  NOT NULL REFERENCES accounts (id),
    amount_minor     BIGINT  NOT NULL,
    rule             TEXT    NOT NULL,
    declined_at_ms   BIGINT  NOT NULL
);
INSERT INTO notify_cursors (name, last_transfer_id) VALUES ('declines', 0);

-- Numbers whose SIM was swapped: for sim_swap.cooloff_hours after the swap,
-- money leaving them is capped at sim_swap.max_out_minor in total.
CREATE TABLE sim_swaps (
    msisdn          TEXT    PRIMARY KEY,
    swapped_at_ms   BIGINT  NOT NULL,
    source          TEXT    NOT NULL,
    marked_at_ms    BIGINT  NOT NULL
);
