-- Tapprove schema: code-to-phone (`display`) sessions and approve-only by project setting.
-- Portable SQL (SQLite and PostgreSQL).

-- 1 = sessions may ask for `none` (approve-only, for login sides that can show nothing);
-- 0 (the default) refuses them. Never 1 under `nist-aal2` (the admin commands refuse it, and
-- a stored 1 there reads as 0).
ALTER TABLE projects ADD COLUMN allow_approve_only BIGINT NOT NULL DEFAULT 0;

-- A phone's signed acknowledgement that it showed a `display` session's code to a verified
-- user (POST /v1/device/shown). Under a policy that requires user verification the code
-- typed at the login is accepted only once the session has one; the first one counts.
CREATE TABLE display_acks (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    -- How the phone verified its user (`uv`: biometric, device_credential, app_passphrase).
    uv         TEXT NOT NULL,
    shown_at   BIGINT NOT NULL
);
