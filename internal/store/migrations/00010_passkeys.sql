-- +goose Up
-- Passkeys (WebAuthn credentials). Portable SQL; times are BIGINT Unix ms.

-- A user's passkeys. credential_id is the authenticator's credential ID
-- (base64url, unique: one credential belongs to one account); public_key
-- its COSE public key (base64). sign_count is the newest signature counter
-- accepted: an assertion is accepted with UPDATE ... WHERE sign_count = old,
-- so a counter that does not advance (a cloned authenticator) is refused,
-- whichever instance sees it first. transports are space-separated;
-- backup_eligible/backup_state are the BE/BS flags (a synced passkey).
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   TEXT NOT NULL UNIQUE,
    public_key      TEXT NOT NULL,
    sign_count      BIGINT NOT NULL DEFAULT 0,
    aaguid          TEXT NOT NULL DEFAULT '',
    transports      TEXT NOT NULL DEFAULT '',
    attestation     TEXT NOT NULL DEFAULT '',
    backup_eligible INTEGER NOT NULL DEFAULT 0,
    backup_state    INTEGER NOT NULL DEFAULT 0,
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- A WebAuthn ceremony under way (begin, then finish): the SHA-256 of its
-- challenge, what it is for (registration, login, mfa), the user it is bound
-- to (none for a passwordless login, which learns it from the credential),
-- the mfa challenge it belongs to (mfa only), and the library's session data
-- (JSON). Taking it for the finish sets used_at in one statement: each
-- challenge works once, within its 5 minutes.
CREATE TABLE webauthn_ceremonies (
    hash           TEXT PRIMARY KEY,
    purpose        TEXT NOT NULL,
    user_id        TEXT REFERENCES users (id) ON DELETE CASCADE,
    challenge_hash TEXT NOT NULL DEFAULT '',
    session_data   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
CREATE INDEX webauthn_ceremonies_user_id ON webauthn_ceremonies (user_id);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
