-- USSD sessions live in the database so that they survive a restart and
-- several mkoba processes can serve one session. No PIN is ever stored:
-- replays are recognised by a keyed MAC of the aggregator's text.
CREATE TABLE ussd_sessions (
    aggregator     TEXT    NOT NULL,
    session_id     TEXT    NOT NULL CHECK (length(session_id) BETWEEN 1 AND 128),
    msisdn         TEXT    NOT NULL,
    language       TEXT    NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'sw')),
    -- The menu state as JSON: the screen and what was chosen so far.
    screen         TEXT    NOT NULL,
    inputs_seen    INTEGER NOT NULL DEFAULT 0 CHECK (inputs_seen >= 0),
    hop_count      INTEGER NOT NULL DEFAULT 0 CHECK (hop_count >= 0),
    last_mac       TEXT    NOT NULL,
    last_reply     TEXT    NOT NULL,
    ended          INTEGER NOT NULL DEFAULT 0 CHECK (ended IN (0, 1)),
    created_at_ms  BIGINT  NOT NULL,
    updated_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (aggregator, session_id)
);
CREATE INDEX ussd_sessions_idle ON ussd_sessions (updated_at_ms);

-- A language chosen before registering.
CREATE TABLE msisdn_preferences (
    msisdn         TEXT    PRIMARY KEY,
    language       TEXT    NOT NULL CHECK (language IN ('en', 'sw')),
    updated_at_ms  BIGINT  NOT NULL
);
