-- Tapprove schema v4: decided sessions by decision time, for the retention job (portable SQL).
CREATE INDEX sessions_by_decided_at ON sessions (decided_at);
