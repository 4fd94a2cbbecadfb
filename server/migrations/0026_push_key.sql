-- Tapprove schema: private push payloads (issue 12 point 6). Portable SQL (SQLite and PostgreSQL).
--
-- `push_key`: the device's X25519 public key (base64url, 32 bytes) sent at pairing. When set,
-- every push to the account carries the challenge sealed to it (docs/PROTOCOL.md §11) and a
-- generic alert; NULL (devices paired by older apps) keeps the readable payload.

ALTER TABLE accounts ADD COLUMN push_key TEXT;
