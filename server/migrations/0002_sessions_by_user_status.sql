-- Tapprove schema v2: an index for the per-user status queries (portable SQL).
--
-- Without it, "the user's pending sessions" (superseding on create) and "the user's last
-- accepted login" (push budget) are answered through sessions_by_status, i.e. by walking
-- every `sent` / every `accepted` session of every user: each new session cost time in
-- proportion to all sessions ever accepted. With it both are a short range (the MAX a single
-- seek) of this covering index.

CREATE INDEX sessions_by_user_status ON sessions (project_id, user_name, status, decided_at);
