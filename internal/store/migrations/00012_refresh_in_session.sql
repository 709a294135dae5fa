-- +goose Up
-- A session's live refresh token moves into its row, and its spent tokens
-- into a table keyed by session. A rotation then reads and writes the one
-- session row and appends one spent row next to the session's others,
-- instead of updating and inserting rows keyed by a random hash (which, at a
-- million sessions, touched a random page of a large index per rotation).
--
-- A refresh token is now "<session id>.<256 random bits>", and only the
-- SHA-256 of the whole string is kept: refresh_hash for the live one,
-- spent_refresh_tokens.hash for spent ones (reuse detection reads them; a
-- spent token is kept, with its sealed successor for the grace window,
-- until the session ends or the refresh TTL has passed since it was spent).
ALTER TABLE sessions ADD COLUMN refresh_hash TEXT;
ALTER TABLE sessions ADD COLUMN refresh_created_at BIGINT;
ALTER TABLE sessions ADD COLUMN refresh_expires_at BIGINT;

CREATE TABLE spent_refresh_tokens (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    spent_at   BIGINT NOT NULL,
    successor  TEXT,
    PRIMARY KEY (session_id, hash)
);
CREATE INDEX spent_refresh_tokens_spent_at ON spent_refresh_tokens (spent_at);

-- Tokens issued before this migration carry no session id: this finds the
-- session of one by its hash, for as long as the session keeps that token
-- (live or spent). Nothing new is written here.
CREATE TABLE legacy_refresh_tokens (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);
INSERT INTO legacy_refresh_tokens (hash, session_id)
    SELECT hash, session_id FROM refresh_tokens;
UPDATE sessions SET refresh_hash = r.hash, refresh_created_at = r.created_at, refresh_expires_at = r.expires_at
    FROM refresh_tokens r WHERE r.session_id = sessions.id AND r.spent_at IS NULL;
INSERT INTO spent_refresh_tokens (session_id, hash, spent_at, successor)
    SELECT session_id, hash, spent_at, successor FROM refresh_tokens WHERE spent_at IS NOT NULL;
DROP TABLE refresh_tokens;

-- +goose Down
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT,
    successor  TEXT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at)
    SELECT refresh_hash, id, refresh_created_at, refresh_expires_at FROM sessions WHERE refresh_hash IS NOT NULL;
-- A spent token's own expiry is not kept: it gets the default refresh TTL
-- (30 days) from its spending, so reuse detection keeps reading it.
INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, spent_at, successor)
    SELECT hash, session_id, spent_at, spent_at + 2592000000, spent_at, successor FROM spent_refresh_tokens;
DROP TABLE legacy_refresh_tokens;
DROP TABLE spent_refresh_tokens;
ALTER TABLE sessions DROP COLUMN refresh_expires_at;
ALTER TABLE sessions DROP COLUMN refresh_created_at;
ALTER TABLE sessions DROP COLUMN refresh_hash;
