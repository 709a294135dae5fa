-- +goose Up
-- Webhooks. An endpoint's secret is sealed with the master key (base64 of
-- the sealed whsec_ secret, bound to the endpoint's id); after a rotation
-- the old one is kept, sealed, until old_secret_until. failing_since is the
-- first failure of the current streak (cleared by a success): three days of
-- it disable the endpoint (disabled_at, disabled_reason).
CREATE TABLE webhook_endpoints (
    id               TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL, -- space-separated types, or '*'
    description      TEXT NOT NULL DEFAULT '',
    secret           TEXT NOT NULL,
    old_secret       TEXT NOT NULL DEFAULT '',
    old_secret_until BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    disabled_at      BIGINT,
    disabled_reason  TEXT NOT NULL DEFAULT '',
    failing_since    BIGINT
);

-- The durable event queue: an event (its body exactly as every attempt sends
-- it) and one delivery per endpoint subscribed when it happened, written in
-- the transaction of the change. Deliveries are claimed with a lease as the
-- mail outbox's rows are; order_key (the user id) keeps one user's events
-- to one endpoint in order.
CREATE TABLE webhook_events (
    id         TEXT PRIMARY KEY, -- msg_<UUIDv7>: the webhook-id
    type       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY, -- UUIDv7: ordered by time
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    order_key        TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    lease_owner      TEXT NOT NULL DEFAULT '',
    delivered_at     BIGINT,
    failed_at        BIGINT,
    last_attempt_at  BIGINT,
    last_status      INTEGER NOT NULL DEFAULT 0,
    last_duration_ms INTEGER NOT NULL DEFAULT 0,
    last_response    TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, order_key, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
