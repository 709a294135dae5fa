-- +goose Up
-- Second factors. Portable SQL; times are BIGINT Unix milliseconds.

-- One TOTP authenticator per user. secret is the base32 secret sealed with
-- the master key (AES-GCM, additional data "totp:<user id>"), base64. A row
-- without confirmed_at is an enrolment waiting for its first code.
-- last_step is the newest 30-second time step a code was accepted for:
-- accepting a code is UPDATE ... SET last_step = S WHERE last_step < S, so a
-- step (and every older one) works once, whichever instance asks.
CREATE TABLE totp (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT NOT NULL DEFAULT -1
);

-- Recovery codes: only their SHA-256; used_at marks a spent one.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, hash)
);

-- The second step of a login: the SHA-256 of the mfa_token handed out after
-- the right password, who it is for, the client that started it, what the
-- first step proved (amr, space-separated) and a fingerprint of the password
-- hash it verified (a password change in between ends it). failures counts
-- the codes tried, charged before each check.
CREATE TABLE mfa_challenges (
    hash            TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr             TEXT NOT NULL,
    pwd_fingerprint TEXT NOT NULL,
    user_agent      TEXT NOT NULL DEFAULT '',
    ip              TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    used_at         BIGINT
);
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- How the session's user authenticated (RFC 8176 amr values, space
-- separated) and when last (auth_time): refreshed access tokens keep them.
-- Sessions from before this migration were password logins.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN auth_time;
ALTER TABLE sessions DROP COLUMN amr;
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp;
