-- Tapprove schema: service signing-key rollover (docs/PROTOCOL.md §5a). Portable SQL.
--
-- `service_keys`: the signing key is the one without `retires_at`. A rotation gives the
-- previous one `retires_at` (the end of its grace period) and `key_update`, the token signed by
-- it that names its successor; every older key retires at once. `accounts.service_kid`: the key
-- the device pinned at pairing (or the one the service last moved it to); a device whose kid is
-- a key in its grace period gets that key's `key_update`. `seq` orders the keys (a rotation
-- gives the new key the next number; two keys may be made in the same second).

ALTER TABLE service_keys ADD COLUMN retires_at BIGINT;
ALTER TABLE service_keys ADD COLUMN key_update TEXT;
ALTER TABLE service_keys ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
-- Before this, the oldest key signed everything; a second row could only come from two
-- processes racing on first start, and was never used.
UPDATE service_keys SET retires_at = created_at
    WHERE kid <> (SELECT kid FROM service_keys ORDER BY created_at, kid LIMIT 1);
ALTER TABLE accounts ADD COLUMN service_kid TEXT;
UPDATE accounts SET service_kid = (SELECT kid FROM service_keys ORDER BY created_at, kid LIMIT 1);
