-- Tapprove schema: the push budget's lookups become index ranges. Portable SQL.
--
-- The budget counts a user's sessions created after their last approval, ordered by
-- (created_at, id) because times are whole seconds and ids sort by creation time within one.
-- With `id` in both indexes, "the last approved session" is the end of one range and "created
-- after it" is a range `(created_at, id) > (…)`, so neither walks the user's history.
DROP INDEX sessions_by_user;
CREATE INDEX sessions_by_user ON sessions (project_id, user_name, created_at, id);
DROP INDEX sessions_by_user_status;
CREATE INDEX sessions_by_user_status ON sessions (project_id, user_name, status, decided_at, id);
