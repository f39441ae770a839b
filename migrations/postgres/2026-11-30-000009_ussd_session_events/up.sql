-- How each USSD session ended, from Africa's Talking's session-end
-- notification (SPEC §12). Never a menu hop: it changes no session's state.
-- Its `input` (every input of the session, PINs included) is not stored.
-- A caller whose session ended Incomplete may be offered to resume it once.
CREATE TABLE ussd_session_events (
    aggregator      TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    msisdn          TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('success', 'incomplete', 'failed')),
    hops_count      INTEGER NOT NULL,
    duration_ms     BIGINT  NOT NULL,
    cost            TEXT    NOT NULL,
    error_message   TEXT    NOT NULL,
    service_code    TEXT    NOT NULL,
    network_code    TEXT    NOT NULL,
    received_at_ms  BIGINT  NOT NULL,
    -- Set once the caller has been offered to resume this session.
    resume_offered  INTEGER NOT NULL DEFAULT 0 CHECK (resume_offered IN (0, 1)),
    PRIMARY KEY (aggregator, session_id)
);
CREATE INDEX ussd_session_events_msisdn ON ussd_session_events (msisdn, received_at_ms);
