-- Tapprove schema: device lifecycle (issue 11). Portable SQL (SQLite and PostgreSQL).
--
-- A revoked device (removed by the site or an operator) also gets `unpaired_at`, so every
-- "paired devices" query stays `unpaired_at IS NULL`; `revoked_at` is what tells the device
-- `403 revoked` instead of `401 not_paired`. `last_used_at`: its last authenticated call.
-- `key_protection`: what it reported at pairing. `pairing_code_hash`: makes a repeated
-- pairing (same device key, same code) return the same account.

ALTER TABLE accounts ADD COLUMN key_protection TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE accounts ADD COLUMN last_used_at BIGINT;
ALTER TABLE accounts ADD COLUMN revoked_at BIGINT;
ALTER TABLE accounts ADD COLUMN revoked_by TEXT;
ALTER TABLE accounts ADD COLUMN pairing_code_hash TEXT;
CREATE INDEX accounts_by_public_key ON accounts (project_id, public_key);
