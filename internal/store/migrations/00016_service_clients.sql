-- +goose Up
-- Service clients: confidential clients of the client_credentials grant
-- (no user, no redirect URI), with the scopes and audiences an
-- administrator allows them, and for private_key_jwt their public JWK Set
-- (registered as a document, or as a URI fetched when needed).
--
-- grant_types: space-separated; 'authorization_code refresh_token' for the
-- user-facing clients there were, 'client_credentials' for service clients.
-- revocation_id is the "sid" of a service client's access tokens: disabling
-- the client, rotating its secret or removing it puts it in the change feed
-- (so every instance and guard refuses those tokens) and, but for removal,
-- gives the client a new one.
ALTER TABLE oauth_clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT 'authorization_code refresh_token';
ALTER TABLE oauth_clients ADD COLUMN audiences TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN revocation_id TEXT NOT NULL DEFAULT '';

-- The jti of every private_key_jwt assertion accepted, until the assertion
-- expires: a second use within its lifetime, at any instance, is refused
-- by the primary key. Expired rows are pruned (and may be taken over).
CREATE TABLE oauth_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth_assertions_expires_at ON oauth_assertions (expires_at);

-- +goose Down
DROP INDEX oauth_assertions_expires_at;
DROP TABLE oauth_assertions;
ALTER TABLE oauth_clients DROP COLUMN revocation_id;
ALTER TABLE oauth_clients DROP COLUMN disabled;
ALTER TABLE oauth_clients DROP COLUMN jwks_uri;
ALTER TABLE oauth_clients DROP COLUMN jwks;
ALTER TABLE oauth_clients DROP COLUMN audiences;
ALTER TABLE oauth_clients DROP COLUMN grant_types;
