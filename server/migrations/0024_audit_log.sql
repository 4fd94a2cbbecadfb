-- Tapprove schema: the audit log (issue 11). Portable SQL.
--
-- Append-only: the service only INSERTs rows; the retention job deletes rows older than
-- `audit_retention_days`. Never a secret: no pairing codes, tokens, keys or passwords (API
-- keys appear as `key_` + the first 12 hex digits of their SHA-256, which the API-key table
-- holds in full anyway). `project_id` is NULL for service-wide events. `subject` is what the
-- action was about: an account (`acc_…`), session (`ses_…`), API key (`key_…`), project
-- (`prj_…`) or, for user-wide events, the user name (also in `user_name`, for filtering).

CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    project_id TEXT,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_name  TEXT,
    outcome    TEXT NOT NULL,
    reason     TEXT,
    source_ip  TEXT,
    request_id TEXT
);
CREATE INDEX audit_log_by_project ON audit_log (project_id, at, id);
CREATE INDEX audit_log_by_subject ON audit_log (project_id, subject, at);
CREATE INDEX audit_log_by_user ON audit_log (project_id, user_name, at, id);
CREATE INDEX audit_log_by_at ON audit_log (at, id);
