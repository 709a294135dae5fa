-- +goose Up
-- API keys (personal access tokens): a user's long-lived keys for scripts
-- and CI. Only the hex SHA-256 of a key is kept (hash), with the first
-- characters shown in lists (prefix). scopes is space-separated. A revoked
-- key stays (revoked_at) until it would have expired, so introspection and
-- the admin's list can tell what happened to it; the prune job may delete it
-- then. last_used_at is written at most once a minute per key.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_user_id ON api_keys (user_id, created_at);

-- A confidential client registered with --introspect may ask
-- /oauth/introspect about any token of the server (API keys, service
-- tokens, users' access tokens), not only its own.
ALTER TABLE oauth_clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN introspect;
DROP INDEX api_keys_user_id;
DROP TABLE api_keys;
