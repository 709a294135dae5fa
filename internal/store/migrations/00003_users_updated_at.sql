-- +goose Up
-- Instances follow user changes (name, role, disabled) by updated_at, to keep
-- their in-memory user caches current.
CREATE INDEX users_updated_at ON users (updated_at);

-- +goose Down
DROP INDEX users_updated_at;
