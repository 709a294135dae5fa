-- +goose Up
-- The change feed: every ended session and every changed user, numbered in
-- commit order. Instances (SyncChanges) and remote guards (GET /revocations)
-- read it from a cursor, the seq of the last entry they saw.
--
-- seq is assigned by the store as MAX(seq) + 1 while it holds the change
-- log's writer lock (SQLite's only writer; on PostgreSQL an advisory lock held
-- until commit), so entries become visible in seq order and none is ever
-- skipped by a reader. No dialect-specific column type is needed.
CREATE TABLE changes (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'user')),
    subject_id TEXT NOT NULL, -- the ended session's id, or the changed user's
    expires_at BIGINT NOT NULL -- an ended session: when its last access token expires
);
CREATE INDEX changes_expires_at ON changes (expires_at);

-- The old clock-ordered log moves into the feed, oldest first.
INSERT INTO changes (seq, kind, subject_id, expires_at)
    SELECT ROW_NUMBER() OVER (ORDER BY revoked_at, session_id), 'session', session_id, expires_at FROM revocations;
DROP TABLE revocations;

-- When the newest access token issued for a session (plus leeway) expires: a
-- revocation of the session is kept until then, whatever --access-ttl is now.
ALTER TABLE sessions ADD COLUMN tokens_live_until BIGINT;

-- The users_updated_at index served the clock-ordered user feed; the prune
-- job deletes audit events by age.
DROP INDEX users_updated_at;
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
DROP INDEX audit_events_at;
CREATE INDEX users_updated_at ON users (updated_at);
ALTER TABLE sessions DROP COLUMN tokens_live_until;
CREATE TABLE revocations (
    session_id TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
INSERT INTO revocations (session_id, revoked_at, expires_at)
    SELECT subject_id, 0, MAX(expires_at) FROM changes WHERE kind = 'session' GROUP BY subject_id;
DROP TABLE changes;
