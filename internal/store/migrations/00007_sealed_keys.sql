-- +goose Up
-- Signing private keys are sealed at rest with the master key
-- (--master-key-file, internal/seal): private_key then holds the base64 of
-- the sealed value rather than of the PKCS #8 DER. Rows stored before have
-- sealed = 0 and are sealed by the first start with a master key.
ALTER TABLE signing_keys ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;

-- +goose Down
-- A sealed key stays sealed: the version before this one cannot open it and
-- refuses to start, rather than silently make new keys.
ALTER TABLE signing_keys DROP COLUMN sealed;
