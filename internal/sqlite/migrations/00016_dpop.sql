-- DPoP (RFC 9449): an authorization code may be bound to the thumbprint
-- of a client's DPoP key (the dpop_jkt authorization parameter), and a
-- public client's refresh tokens are bound to the key their family was
-- issued under. Existing codes and tokens are bound to nothing.

-- +goose Up
ALTER TABLE oauth_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE oauth_codes DROP COLUMN dpop_jkt;
