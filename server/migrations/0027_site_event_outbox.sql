-- Tapprove schema: a durable outbox for the events the service sends the site
-- (`user.fraud_reported`, PROTOCOL.md §8a). Portable SQL.
--
-- A row is written when the event happens and deleted by retention after it was delivered
-- or given up. `msg_id` is the Standard Webhooks `webhook-id`, the same on every attempt so
-- the site can drop duplicates. `claimed_until` lets one instance at a time attempt a row.

CREATE TABLE site_events (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    delivered_at    BIGINT,
    gave_up_at      BIGINT,
    last_error      TEXT
);

CREATE INDEX site_events_due ON site_events (next_attempt_at);
