-- +goose Up
-- Organizations: teams of users with a role each, custom roles (named sets
-- of permission strings), invitations by mail, and the organization a
-- session acts in. internal/orgs holds the rules.

-- slug is lowercase letters, digits and hyphens (the service checks it);
-- its uniqueness is the index's.
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX orgs_slug_key ON orgs (slug);

-- A custom role: permissions is a space-separated set of permission strings.
CREATE TABLE org_roles (
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, name)
);

-- A membership. grant_id names the claims that access tokens issued for it
-- carry (org_grant): every change of the membership replaces it and adds the
-- old one to the change feed, so tokens carrying the old claims are refused
-- everywhere, as those of an ended session are.
CREATE TABLE org_members (
    org_id    TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    grant_id  TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_id ON org_members (user_id);

-- An invitation: only the SHA-256 of its token is kept. email is the
-- invited address, lowercase; at most one open (neither accepted nor
-- revoked) invitation per organization and address: re-sending replaces it.
CREATE TABLE org_invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT,
    revoked_at  BIGINT
);
CREATE UNIQUE INDEX org_invitations_hash_key ON org_invitations (hash);
CREATE UNIQUE INDEX org_invitations_open_key ON org_invitations (org_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- The organization a session acts in: its access tokens carry the
-- membership's claims as they are when each is issued.
CREATE TABLE session_orgs (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE
);
CREATE INDEX session_orgs_org_id ON session_orgs (org_id);

-- A book created in an organization belongs to it (NULL: a personal book).
-- No foreign key (SQLite cannot drop such a column): deleting an
-- organization deletes its books in the same transaction.
ALTER TABLE books ADD COLUMN org_id TEXT;
CREATE INDEX books_org_id ON books (org_id, id);

-- +goose Down
DROP INDEX books_org_id;
ALTER TABLE books DROP COLUMN org_id;
DROP TABLE session_orgs;
DROP TABLE org_invitations;
DROP TABLE org_members;
DROP TABLE org_roles;
DROP TABLE orgs;
