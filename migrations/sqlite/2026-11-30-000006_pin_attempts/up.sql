-- PIN attempts are reserved before argon2 runs, so that however many guesses
-- arrive at once (across channels and processes) at most pin.max_attempts are
-- checked between a right PIN and the lock.
--
-- Each reservation draws a ticket (pin_tickets counts them all); a right PIN
-- clears every ticket up to its own (pin_cleared_ticket). pin_failures is
-- kept equal to pin_tickets - pin_cleared_ticket: checks reserved since the
-- last right PIN, wrong or still running.
ALTER TABLE accounts ADD COLUMN pin_tickets BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN pin_cleared_ticket BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET pin_tickets = pin_failures;

-- Wrong PINs per source (the address a webhook came from) per window, across
-- every number: one source guessing many numbers' PINs is slowed down. A
-- reservation counts here too until its PIN turns out right.
CREATE TABLE pin_sources (
    source        TEXT    NOT NULL,
    window_no     BIGINT  NOT NULL,
    failures      INTEGER NOT NULL CHECK (failures >= 0),
    PRIMARY KEY (source, window_no)
);

-- The reservation a request made, by the request's own key (a USSD hop, an
-- inbound SMS id): an aggregator that repeats a request repeats the same
-- guess, which must not cost a second attempt.
CREATE TABLE pin_claims (
    claim          TEXT    PRIMARY KEY,
    account_id     BIGINT  NOT NULL REFERENCES accounts (id),
    ticket         BIGINT  NOT NULL,
    created_at_ms  BIGINT  NOT NULL
);
