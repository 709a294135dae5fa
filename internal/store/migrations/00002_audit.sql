-- +goose Up
-- Security events. user_id is not a foreign key: the record of what happened
-- to an account outlives the account.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY, -- UUIDv7: ordered by time
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    actor_id   TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_event ON audit_events (event, id);

-- +goose Down
DROP TABLE audit_events;
