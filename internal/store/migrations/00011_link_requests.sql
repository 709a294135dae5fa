-- +goose Up
-- Links asked for without being signed in (POST /password/forgot, and the
-- login page's "send the link again"), written before the answer, one row
-- per accepted request and the same for every account: the account lookup,
-- the per-account limit and the link with its mail come later, in the
-- background, so the answer tells nothing of the account. A worker claims a
-- row with a lease (lease_owner, lease_until), so with several instances
-- each request is handled once, and deletes it in the transaction that
-- writes the link and its mail (or alone when nothing is to be mailed); a
-- crash before that leaves the row for the sweep of the next start. ip and
-- user_agent are the caller's, for the audit log. Rows older than a day are
-- pruned.
CREATE TABLE link_requests (
    id          TEXT PRIMARY KEY, -- UUIDv7: ordered by time
    kind        TEXT NOT NULL CHECK (kind IN ('reset', 'verify')),
    identifier  TEXT NOT NULL, -- canonical (auth.CanonicalIdentifier)
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    lease_until BIGINT,
    lease_owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX link_requests_created_at ON link_requests (created_at);

-- +goose Down
DROP TABLE link_requests;
