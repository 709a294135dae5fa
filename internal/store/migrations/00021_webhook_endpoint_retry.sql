-- +goose Up
-- A failing endpoint's backoff: after a failed attempt none of its
-- deliveries is claimed before retry_at (the wait as long as it has been
-- failing, from the first retry to the longest), so its other due
-- deliveries do not each call it at once. Cleared by a success, by
-- enabling it again, and by an administrator's retry.
ALTER TABLE webhook_endpoints ADD COLUMN retry_at BIGINT;

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN retry_at;
