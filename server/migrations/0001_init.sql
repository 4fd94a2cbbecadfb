-- Tapprove schema v1. Portable SQL (SQLite and PostgreSQL): TEXT/BIGINT only, no
-- AUTOINCREMENT, no SQLite-only syntax. Times are Unix seconds.

CREATE TABLE projects (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    trust_url               TEXT NOT NULL,
    api_key_hash            TEXT NOT NULL UNIQUE,
    sdk_key                 TEXT NOT NULL UNIQUE,
    webhook_username        TEXT NOT NULL,
    webhook_password_sealed TEXT NOT NULL,
    webhook_secret_sealed   TEXT NOT NULL,
    created_at              BIGINT NOT NULL
);

CREATE TABLE service_keys (
    kid          TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL,
    sealed_pkcs8 TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE accounts (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects (id),
    user_name          TEXT NOT NULL,
    public_key         TEXT NOT NULL,
    device_name        TEXT,
    push_platform      TEXT NOT NULL,
    push_token         TEXT NOT NULL,
    push_environment   TEXT,
    push_registered_at BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    unpaired_at        BIGINT
);
CREATE INDEX accounts_by_user ON accounts (project_id, user_name);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    user_name     TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    context_json  TEXT NOT NULL,
    presence_mode TEXT NOT NULL,
    presence_code TEXT,
    status        TEXT NOT NULL,
    reason        TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    decided_at    BIGINT,
    decided_by    TEXT
);
CREATE INDEX sessions_by_user ON sessions (project_id, user_name, created_at);
CREATE INDEX sessions_by_status ON sessions (status, expires_at);

CREATE TABLE session_devices (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    nonce      TEXT NOT NULL,
    challenge  TEXT NOT NULL,
    PRIMARY KEY (session_id, account_id)
);
CREATE INDEX session_devices_by_account ON session_devices (account_id);
