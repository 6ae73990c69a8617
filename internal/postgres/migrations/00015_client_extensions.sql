-- What the modern OAuth extensions keep per client: DPoP and pushed
-- requests required, the back-channel logout URI, the application type,
-- the token-exchange policy, and a dynamically registered client's
-- registration access token (hashed) and metadata. Existing clients get
-- the defaults: nothing required, no logout URI, web, no exchange.

-- +goose Up
ALTER TABLE oauth_clients ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;
ALTER TABLE oauth_clients ADD COLUMN require_par boolean NOT NULL DEFAULT false;
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN application_type text NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN exchange_issuers text[] NOT NULL DEFAULT '{}';
ALTER TABLE oauth_clients ADD COLUMN allow_impersonation boolean NOT NULL DEFAULT false;
ALTER TABLE oauth_clients ADD COLUMN registration_token_hash bytea;
ALTER TABLE oauth_clients ADD COLUMN metadata bytea;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN metadata;
ALTER TABLE oauth_clients DROP COLUMN registration_token_hash;
ALTER TABLE oauth_clients DROP COLUMN allow_impersonation;
ALTER TABLE oauth_clients DROP COLUMN exchange_issuers;
ALTER TABLE oauth_clients DROP COLUMN application_type;
ALTER TABLE oauth_clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE oauth_clients DROP COLUMN require_par;
ALTER TABLE oauth_clients DROP COLUMN require_dpop;
