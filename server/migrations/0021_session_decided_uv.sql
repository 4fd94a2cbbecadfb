-- Tapprove schema: how the deciding device verified its user (`uv` of the answer:
-- biometric, device_credential, app_passphrase), recorded with the decision; NULL = not
-- verified or not decided by a device. Portable SQL.

ALTER TABLE sessions ADD COLUMN decided_uv TEXT;
