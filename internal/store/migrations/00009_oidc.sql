-- +goose Up
-- OpenID Connect provider: registered clients, authorization codes, the
-- consents users gave, and the link from a session to the client it serves.

-- A client application. secret_hash is the hex SHA-256 of a 256-bit random
-- secret (NULL for public clients). Lists are space-separated: neither URIs
-- nor scopes may contain a space.
CREATE TABLE oauth_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_hash               TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '',
    public                    INTEGER NOT NULL DEFAULT 0,
    scopes                    TEXT NOT NULL,
    id_token_alg              TEXT NOT NULL,
    require_consent           INTEGER NOT NULL DEFAULT 1,
    require_pkce              INTEGER NOT NULL DEFAULT 1,
    created_at                BIGINT NOT NULL
);

-- Authorization codes: only their SHA-256 is kept. A code is bound to its
-- client, redirect URI and PKCE challenge, lives 60 seconds and works once;
-- issued_session_id is the session its exchange created, ended if the code
-- is presented again.
CREATE TABLE oauth_codes (
    hash              TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id        TEXT NOT NULL, -- the browser session that authorized
    redirect_uri      TEXT NOT NULL,
    code_challenge    TEXT NOT NULL DEFAULT '',
    scope             TEXT NOT NULL,
    nonce             TEXT NOT NULL DEFAULT '',
    auth_time         BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT,
    issued_session_id TEXT
);
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);

-- What a user consented to give a client: the scope set, remembered until
-- the user revokes the app.
CREATE TABLE oauth_grants (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A client's tokens live in a session of their own, child of the browser
-- session that authorized them (parent_id): logout, disabling the user, a
-- password reset, revoking the app or deleting the client end it through
-- the change feed like any session. (sessions.auth_time, when the user
-- authenticated, comes with 00008.)
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN parent_id TEXT;
CREATE INDEX sessions_client_id ON sessions (client_id);
CREATE INDEX sessions_parent_id ON sessions (parent_id);

-- +goose Down
DROP INDEX sessions_parent_id;
DROP INDEX sessions_client_id;
ALTER TABLE sessions DROP COLUMN parent_id;
ALTER TABLE sessions DROP COLUMN scope;
ALTER TABLE sessions DROP COLUMN client_id;
DROP TABLE oauth_grants;
DROP TABLE oauth_codes;
DROP TABLE oauth_clients;
