-- How a user signed in (issue 15): the authentication methods (RFC 8176
-- amr values, a text array) of a browser session, and of the codes and
-- refresh tokens issued from it, so that tokens can say whether a second
-- factor was used; a client's second-factor policy ('' follows the
-- server's). A route's require_mfa lives in its settings document.

-- +goose Up
ALTER TABLE oauth_sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{}';
ALTER TABLE oauth_codes ADD COLUMN amr text[] NOT NULL DEFAULT '{}';
ALTER TABLE refresh_tokens ADD COLUMN amr text[] NOT NULL DEFAULT '{}';
ALTER TABLE oauth_clients ADD COLUMN mfa text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN mfa;
ALTER TABLE refresh_tokens DROP COLUMN amr;
ALTER TABLE oauth_codes DROP COLUMN amr;
ALTER TABLE oauth_sessions DROP COLUMN amr;
