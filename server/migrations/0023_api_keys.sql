-- Tapprove schema: up to two active API keys per project (issue 11). Portable SQL.
--
-- Each key is stored as its SHA-256 (hex), like `projects.api_key_hash`, which now only holds
-- the project's first key (it is UNIQUE NOT NULL, so SQLite cannot drop it); lookups use this
-- table. `retires_at`: the key stops working then (NULL = active until a rotation).

CREATE TABLE api_keys (
    key_hash   TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    created_at BIGINT NOT NULL,
    retires_at BIGINT
);
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at);
INSERT INTO api_keys (key_hash, project_id, created_at, retires_at)
    SELECT api_key_hash, id, created_at, NULL FROM projects;
