-- Tapprove schema: presence policy and events URL per project, and each user's push guard
-- (issue 12). Portable SQL (SQLite and PostgreSQL).

-- `choose`, `entry` or `nist-aal2`; `entry_digits` is the typed code's length under `entry`
-- and `nist-aal2` (and for a session that asks for `entry` under `choose`).
ALTER TABLE projects ADD COLUMN presence_policy TEXT NOT NULL DEFAULT 'choose';
ALTER TABLE projects ADD COLUMN entry_digits BIGINT NOT NULL DEFAULT 6;
-- Where `user.fraud_reported` events go (signed like the trust webhook); NULL = nowhere.
ALTER TABLE projects ADD COLUMN events_url TEXT;

-- One row per (project, user) that ever had a push decided or was locked. The row is also
-- the lock that makes a user's session creations take turns (budget checked with the insert).
CREATE TABLE user_guards (
    project_id    TEXT NOT NULL REFERENCES projects (id),
    user_name     TEXT NOT NULL,
    -- Rejections and expiries since the last approved login; a new session never resets it.
    failures      BIGINT NOT NULL DEFAULT 0,
    -- Cooldowns since the last approved login: each one lasts twice the previous.
    cooldowns     BIGINT NOT NULL DEFAULT 0,
    -- No pushes before this time (Unix seconds); NULL = not blocked.
    blocked_until BIGINT,
    -- `fraud_reported` (a lock the relying party may lift) or `cooldown`.
    block_reason  TEXT,
    PRIMARY KEY (project_id, user_name)
);
