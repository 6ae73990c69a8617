-- OpenID Connect Back-Channel Logout. oauth_session_clients records which
-- clients were issued a code in which browser session (by the session's
-- keyed hash, and its public sid); ending a session moves its records, for
-- clients with a back-channel logout URI, into logout_deliveries in the
-- same transaction. The node holding the "backchannel-logout" lease of
-- webhook_leases delivers them; a NULL next_attempt_at is due at once.
-- NULL stands for the zero time.Time.

-- +goose Up
CREATE TABLE oauth_session_clients (
    session_hash bytea NOT NULL,
    client_id    text  NOT NULL,
    sid          text  NOT NULL,
    user_id      text  NOT NULL,
    created_at   timestamptz,
    expires_at   timestamptz,
    PRIMARY KEY (session_hash, client_id)
);

CREATE INDEX oauth_session_clients_expires ON oauth_session_clients (expires_at);

CREATE TABLE logout_deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    client_id       text        NOT NULL,
    user_id         text        NOT NULL,
    sid             text        NOT NULL,
    created_at      timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text        NOT NULL DEFAULT ''
);

CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);

-- What an authorization code carries to the ID token besides its scopes:
-- the claims the claims parameter asked for, and the acr satisfied.
ALTER TABLE oauth_codes ADD COLUMN id_token_claims text[] NOT NULL DEFAULT '{}';
ALTER TABLE oauth_codes ADD COLUMN acr text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_codes DROP COLUMN acr;
ALTER TABLE oauth_codes DROP COLUMN id_token_claims;
DROP TABLE logout_deliveries;
DROP TABLE oauth_session_clients;
