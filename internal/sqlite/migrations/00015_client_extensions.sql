-- What the modern OAuth extensions keep per client: DPoP and pushed
-- requests required, the back-channel logout URI, the application type,
-- the token-exchange policy, and a dynamically registered client's
-- registration access token (hashed) and metadata. Existing clients get
-- the defaults: nothing required, no logout URI, web, no exchange.

-- +goose Up
ALTER TABLE oauth_clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN application_type TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN exchange_issuers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN allow_impersonation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN registration_token_hash BLOB;
ALTER TABLE oauth_clients ADD COLUMN metadata BLOB;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN metadata;
ALTER TABLE oauth_clients DROP COLUMN registration_token_hash;
ALTER TABLE oauth_clients DROP COLUMN allow_impersonation;
ALTER TABLE oauth_clients DROP COLUMN exchange_issuers;
ALTER TABLE oauth_clients DROP COLUMN application_type;
ALTER TABLE oauth_clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE oauth_clients DROP COLUMN require_par;
ALTER TABLE oauth_clients DROP COLUMN require_dpop;
