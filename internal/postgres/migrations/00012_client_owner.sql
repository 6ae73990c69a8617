-- OAuth clients name an owner, as API keys do: the team or service a
-- client belongs to. Existing clients get none ('').

-- +goose Up
ALTER TABLE oauth_clients ADD COLUMN owner text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN owner;
