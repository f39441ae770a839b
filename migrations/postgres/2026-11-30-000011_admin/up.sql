-- The operator API (SPEC §10): admin keys with roles, an append-only audit
-- log of every admin write, and the stored answers of admin writes sent
-- with an Idempotency-Key.

-- Admin keys: shown once; only the keyed hash (HMAC-SHA256 under the
-- server's api key secret, domain-separated from merchants' keys) is kept.
CREATE TABLE admin_keys (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role           TEXT    NOT NULL CHECK (role IN ('viewer', 'operator')),
    key_hash       TEXT    NOT NULL UNIQUE,
    created_at_ms  BIGINT  NOT NULL,
    revoked_at_ms  BIGINT
);

-- Who did what to what, with what outcome, and when. Rows are only ever
-- added: the trigger below refuses any UPDATE, DELETE or TRUNCATE.
CREATE TABLE audit_log (
    id             BIGSERIAL PRIMARY KEY,
    actor          TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    detail         TEXT    NOT NULL DEFAULT '',
    created_at_ms  BIGINT  NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Answers of admin writes sent with an Idempotency-Key (keys are shared by
-- every admin key: an operator retrying another's request gets its answer).
CREATE TABLE admin_idempotency (
    idem_key       TEXT    PRIMARY KEY CHECK (length(idem_key) BETWEEN 1 AND 200),
    request_hash   TEXT    NOT NULL,
    status_code    INTEGER NOT NULL,
    response_body  TEXT    NOT NULL,
    created_at_ms  BIGINT  NOT NULL
);
