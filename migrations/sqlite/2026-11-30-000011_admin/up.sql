-- The operator API (SPEC §10): admin keys with roles, an append-only audit
-- log of every admin write, and the stored answers of admin writes sent
-- with an Idempotency-Key.

-- Admin keys: shown once; only the keyed hash (HMAC-SHA256 under the
-- server's api key secret, domain-separated from merchants' keys) is kept.
CREATE TABLE admin_keys (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role           TEXT    NOT NULL CHECK (role IN ('viewer', 'operator')),
    key_hash       TEXT    NOT NULL UNIQUE,
    created_at_ms  BIGINT  NOT NULL,
    revoked_at_ms  BIGINT
);

-- Who did what to what, with what outcome, and when. Rows are only ever
-- added: the triggers below refuse any UPDATE or DELETE.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    detail         TEXT    NOT NULL DEFAULT '',
    created_at_ms  BIGINT  NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Answers of admin writes sent with an Idempotency-Key (keys are shared by
-- every admin key: an operator retrying another's request gets its answer).
CREATE TABLE admin_idempotency (
    idem_key       TEXT    PRIMARY KEY CHECK (length(idem_key) BETWEEN 1 AND 200),
    request_hash   TEXT    NOT NULL,
    status_code    INTEGER NOT NULL,
    response_body  TEXT    NOT NULL,
    created_at_ms  BIGINT  NOT NULL
);
