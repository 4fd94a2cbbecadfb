-- Tapprove schema v3: state that several instances of the service share through the
-- database (portable SQL).

-- Request-proof ids already used (PROTOCOL.md §5), until they are too old to be accepted.
CREATE TABLE used_proofs (
    proof      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_proofs_by_expiry ON used_proofs (expires_at);

-- Attempts counted by a sliding-window limit (pairings per IP, per SDK key).
CREATE TABLE rate_events (
    bucket TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX rate_events_by_bucket ON rate_events (bucket, at);

-- Open device event streams, whichever instance holds them (a device with one is reachable
-- without push). Each instance refreshes `seen_at` of its streams every sweep.
CREATE TABLE event_streams (
    stream_id   TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    seen_at     BIGINT NOT NULL
);
CREATE INDEX event_streams_by_account ON event_streams (account_id);
CREATE INDEX event_streams_by_instance ON event_streams (instance_id);
