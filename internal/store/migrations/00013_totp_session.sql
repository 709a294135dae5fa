-- +goose Up
-- A pending TOTP enrolment belongs to the session that started it: only
-- that session is shown its secret, and only it confirms it. Enrolments
-- pending from before this migration have none, so they wait for no one
-- (starting again replaces them).
ALTER TABLE totp ADD COLUMN session_id TEXT;

-- +goose Down
ALTER TABLE totp DROP COLUMN session_id;
