-- +goose Up
-- Upstream identity providers ("Sign in with Google, GitHub, ...") and the
-- identities they vouch for. Portable SQL; times are BIGINT Unix ms.

-- A provider an administrator configured. kind is oidc or github; issuer
-- the OpenID issuer (oidc); auth_url, token_url, api_url override the
-- endpoints (github, and an oidc provider's discovery is not overridden);
-- client_secret is sealed with the master key; scopes are space-separated.
-- trust_email links a verified provider email to the account that has it
-- without asking the user to prove that account; keep_tokens keeps the
-- provider's tokens (sealed) for GET /me/identities/{id}/token.
CREATE TABLE upstream_providers (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    issuer        TEXT NOT NULL DEFAULT '',
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '',
    auth_url      TEXT NOT NULL DEFAULT '',
    token_url     TEXT NOT NULL DEFAULT '',
    api_url       TEXT NOT NULL DEFAULT '',
    trust_email   INTEGER NOT NULL DEFAULT 0,
    keep_tokens   INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- An account's identity at a provider: (provider, subject) is one person
-- there and belongs to one account here. email is what the provider said
-- at the last login (shown, never used to sign in). tokens holds the
-- provider's tokens, sealed, only for providers with keep_tokens.
CREATE TABLE user_identities (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL REFERENCES upstream_providers (id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    email       TEXT NOT NULL DEFAULT '',
    tokens      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    last_login_at BIGINT
);
CREATE UNIQUE INDEX user_identities_provider_subject ON user_identities (provider_id, subject);
CREATE INDEX user_identities_user_id ON user_identities (user_id);

-- The provider a session's user signed in through (its tokens' idp
-- claim), carried from a login's first step to its second.
ALTER TABLE sessions ADD COLUMN idp TEXT NOT NULL DEFAULT '';
ALTER TABLE mfa_challenges ADD COLUMN idp TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE mfa_challenges DROP COLUMN idp;
ALTER TABLE sessions DROP COLUMN idp;
DROP TABLE user_identities;
DROP TABLE upstream_providers;
