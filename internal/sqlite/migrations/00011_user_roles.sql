-- A user's role and the owners whose keys and clients a developer may
-- manage (the dashboard, issue 12). Existing users become developers with
-- no owners: no account gains rights by the upgrade.

-- +goose Up
ALTER TABLE oauth_users ADD COLUMN role TEXT NOT NULL DEFAULT 'developer';
ALTER TABLE oauth_users ADD COLUMN owners TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE oauth_users DROP COLUMN owners;
ALTER TABLE oauth_users DROP COLUMN role;
