-- The OAuth/OIDC authorization server: clients, users, signing keys, and the
-- short-lived state of the token endpoint. IDs and jtis use the "C"
-- collation so they sort bytewise, as in Go and SQLite. NULL stands for the
-- zero time.Time. Secrets appear only as keyed hashes. There are no foreign
-- keys: DeleteClient removes a client's dependent rows itself, in one
-- transaction, and codes, tokens and sessions name a client or user only to
-- be found by them.

-- +goose Up
CREATE TABLE oauth_clients (
    id                        text COLLATE "C" PRIMARY KEY,
    name                      text    NOT NULL,
    public                    boolean NOT NULL,
    auth_method               text    NOT NULL,
    secret_hash               bytea,
    secret_hint               text    NOT NULL DEFAULT '',
    jwks                      bytea,
    redirect_uris             text[]  NOT NULL DEFAULT '{}',
    post_logout_redirect_uris text[]  NOT NULL DEFAULT '{}',
    grant_types               text[]  NOT NULL DEFAULT '{}',
    scopes                    text[]  NOT NULL DEFAULT '{}',
    audiences                 text[]  NOT NULL DEFAULT '{}',
    access_token_ttl_ns       bigint  NOT NULL DEFAULT 0,
    refresh_token_ttl_ns      bigint  NOT NULL DEFAULT 0,
    refresh_token_max_ttl_ns  bigint  NOT NULL DEFAULT 0,
    created_at                timestamptz,
    updated_at                timestamptz,
    secret_rotated_at         timestamptz
);

-- username_key is the username in lower case (Go's strings.ToLower, the same
-- in every backend and independent of the database's locale), which makes
-- usernames unique case-insensitively while username keeps the user's
-- spelling.
CREATE TABLE oauth_users (
    id                  text COLLATE "C" PRIMARY KEY,
    username            text    NOT NULL,
    username_key        text COLLATE "C" NOT NULL,
    password_hash       text    NOT NULL,
    email               text    NOT NULL DEFAULT '',
    email_verified      boolean NOT NULL DEFAULT false,
    name                text    NOT NULL DEFAULT '',
    created_at          timestamptz,
    updated_at          timestamptz,
    password_changed_at timestamptz,
    disabled_at         timestamptz
);

CREATE UNIQUE INDEX oauth_users_username_key ON oauth_users (username_key);

CREATE TABLE signing_keys (
    id           text COLLATE "C" PRIMARY KEY,
    algorithm    text NOT NULL,
    public_jwk   bytea,
    private_key  bytea,
    created_at   timestamptz,
    activates_at timestamptz,
    retired_at   timestamptz,
    expires_at   timestamptz
);

CREATE TABLE oauth_codes (
    hash           bytea PRIMARY KEY,
    client_id      text COLLATE "C" NOT NULL,
    user_id        text COLLATE "C" NOT NULL,
    redirect_uri   text   NOT NULL,
    scopes         text[] NOT NULL DEFAULT '{}',
    audiences      text[] NOT NULL DEFAULT '{}',
    code_challenge text   NOT NULL DEFAULT '',
    nonce          text   NOT NULL DEFAULT '',
    auth_time      timestamptz,
    session_id     text   NOT NULL DEFAULT '',
    family_id      text COLLATE "C" NOT NULL DEFAULT '',
    created_at     timestamptz,
    expires_at     timestamptz,
    used_at        timestamptz
);

CREATE INDEX oauth_codes_client_idx ON oauth_codes (client_id);
CREATE INDEX oauth_codes_family_idx ON oauth_codes (family_id);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

CREATE TABLE refresh_tokens (
    hash              bytea PRIMARY KEY,
    family_id         text COLLATE "C" NOT NULL,
    client_id         text COLLATE "C" NOT NULL,
    user_id           text COLLATE "C" NOT NULL DEFAULT '',
    scopes            text[] NOT NULL DEFAULT '{}',
    audiences         text[] NOT NULL DEFAULT '{}',
    auth_time         timestamptz,
    session_id        text   NOT NULL DEFAULT '',
    created_at        timestamptz,
    expires_at        timestamptz,
    family_expires_at timestamptz,
    used_at           timestamptz,
    revoked_at        timestamptz
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_user_idx ON refresh_tokens (client_id, user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- One row per token family. Every write that adds a token to a family
-- first upserts (and so locks) its row, and revoking a family marks it:
-- a token can never join a family during or after its revocation, even
-- when a code is redeemed twice at the same moment.
CREATE TABLE token_families (
    family_id  text COLLATE "C" PRIMARY KEY,
    created_at timestamptz,
    revoked_at timestamptz
);

-- The access tokens issued in each family, kept until they expire so that
-- revoking the family (or deleting its client or consent) can put them on
-- the revocation list. client_id and user_id are copied from the family when
-- the token is recorded, so they outlive the family's codes and tokens.
CREATE TABLE issued_tokens (
    jti        text COLLATE "C" PRIMARY KEY,
    family_id  text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL DEFAULT '',
    user_id    text COLLATE "C" NOT NULL DEFAULT '',
    expires_at timestamptz
);

CREATE INDEX issued_tokens_family_idx ON issued_tokens (family_id);
CREATE INDEX issued_tokens_client_user_idx ON issued_tokens (client_id, user_id);
CREATE INDEX issued_tokens_expires_idx ON issued_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti        text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz,
    revoked_at timestamptz
);

-- Nodes poll for entries revoked since their last look.
CREATE INDEX revoked_tokens_revoked_idx ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

CREATE TABLE used_jtis (
    jti        text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz
);

CREATE INDEX used_jtis_expires_idx ON used_jtis (expires_at);

CREATE TABLE oauth_consents (
    user_id    text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL,
    scopes     text[] NOT NULL DEFAULT '{}',
    granted_at timestamptz,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX oauth_consents_client_idx ON oauth_consents (client_id);

CREATE TABLE oauth_sessions (
    hash       bytea PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL,
    auth_time  timestamptz,
    created_at timestamptz,
    expires_at timestamptz
);

CREATE INDEX oauth_sessions_user_idx ON oauth_sessions (user_id);
CREATE INDEX oauth_sessions_expires_idx ON oauth_sessions (expires_at);

-- +goose Down
DROP TABLE oauth_sessions;
DROP TABLE oauth_consents;
DROP TABLE used_jtis;
DROP TABLE revoked_tokens;
DROP TABLE issued_tokens;
DROP TABLE token_families;
DROP TABLE refresh_tokens;
DROP TABLE oauth_codes;
DROP TABLE signing_keys;
DROP TABLE oauth_users;
DROP TABLE oauth_clients;
