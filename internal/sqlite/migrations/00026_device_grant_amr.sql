-- How the user who approved a device grant signed in (issue 15): the RFC
-- 8176 amr values (a JSON array) of the session they decided in, so that
-- the device's tokens say whether a second factor was used.

-- +goose Up
ALTER TABLE oauth_device_grants ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE oauth_device_grants DROP COLUMN amr;
