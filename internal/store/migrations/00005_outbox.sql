-- +goose Up
-- Mail waiting for delivery, written in the same transaction as the token it
-- carries. A worker claims due rows with a lease (lease_owner, lease_until),
-- so with several instances each mail is sent once; a failed attempt sets
-- next_attempt_at later and records last_error. sent_at or failed_at (given
-- up) ends a row; ended rows are pruned after some days.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY, -- UUIDv7: ordered by time
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT NOT NULL DEFAULT '',
    sent_at         BIGINT,
    failed_at       BIGINT,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_sent_at ON mail_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX mail_outbox_failed_at ON mail_outbox (failed_at) WHERE failed_at IS NOT NULL;

-- +goose Down
DROP TABLE mail_outbox;
