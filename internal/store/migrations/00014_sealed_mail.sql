-- +goose Up
-- Mail bodies carry one-time links, which a copy of the database must not
-- give away: a queued body is now sealed with the master key (sealed_body:
-- the base64 of the sealed text and HTML parts, bound to the row's id), and
-- text_body and html_body stay empty. Mails queued before are sealed by the
-- first start with a master key (delivered as they are until then); the
-- bodies of mails already sent or given up are blanked here, as they now
-- are once sent or given up.
ALTER TABLE mail_outbox ADD COLUMN sealed_body TEXT NOT NULL DEFAULT '';
UPDATE mail_outbox SET text_body = '', html_body = '' WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

-- +goose Down
-- The version before cannot open a sealed body: such mails still queued
-- are given up rather than sent empty.
UPDATE mail_outbox SET failed_at = next_attempt_at, lease_until = NULL,
    last_error = 'given up when the database was migrated down: its body is sealed'
    WHERE sealed_body <> '' AND sent_at IS NULL AND failed_at IS NULL;
ALTER TABLE mail_outbox DROP COLUMN sealed_body;
