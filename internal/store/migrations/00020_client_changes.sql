-- +goose Up
-- The change feed also carries changed clients (kind 'client', subject_id
-- the client's id): every instance forgets its cached copy when it reads the
-- entry. The kind's CHECK widens by rebuilding the table (SQLite cannot
-- alter a constraint); entries keep their seq.
CREATE TABLE changes_new (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'user', 'client')),
    subject_id TEXT NOT NULL, -- the ended session's id, the changed user's or client's
    expires_at BIGINT NOT NULL -- an ended session: when its last access token expires
);
INSERT INTO changes_new (seq, kind, subject_id, expires_at) SELECT seq, kind, subject_id, expires_at FROM changes;
DROP TABLE changes;
ALTER TABLE changes_new RENAME TO changes;
CREATE INDEX changes_expires_at ON changes (expires_at);

-- +goose Down
CREATE TABLE changes_old (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'user')),
    subject_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO changes_old (seq, kind, subject_id, expires_at) SELECT seq, kind, subject_id, expires_at FROM changes WHERE kind <> 'client';
DROP TABLE changes;
ALTER TABLE changes_old RENAME TO changes;
CREATE INDEX changes_expires_at ON changes (expires_at);
