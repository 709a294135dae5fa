-- +goose Up
-- Account recovery: when a user's address was proven theirs, and the
-- one-time links mailed for verification, password reset and email change.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- A link's token is stored only as its SHA-256 (hex), bound to one user and
-- one purpose. email is the address the link was mailed to (change_email:
-- the new address, which the link confirms). used_at is set when the link is
-- spent, and when a newer link of the same purpose (or, for reset, a
-- password change) voids it; spent and expired rows are pruned.
CREATE TABLE one_time_tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    email      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX one_time_tokens_user_purpose ON one_time_tokens (user_id, purpose);
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);

-- +goose Down
DROP TABLE one_time_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
