-- The OAuth/OIDC authorization server: clients, users, signing keys, and the
-- short-lived state of the token endpoint. As in 00001, times are UTC unix
-- microseconds (NULL for the zero time), lists are JSON text, and secrets
-- appear only as keyed hashes (BLOB). There are no foreign keys: DeleteClient
-- removes a client's dependent rows itself, in one transaction, and codes,
-- tokens and sessions name a client or user only to be found by them.

-- +goose Up
CREATE TABLE oauth_clients (
    id                        TEXT    NOT NULL PRIMARY KEY,
    name                      TEXT    NOT NULL,
    public                    INTEGER NOT NULL,
    auth_method               TEXT    NOT NULL,
    secret_hash               BLOB,
    secret_hint               TEXT    NOT NULL DEFAULT '',
    jwks                      BLOB,
    redirect_uris             TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
    grant_types               TEXT    NOT NULL DEFAULT '[]',
    scopes                    TEXT    NOT NULL DEFAULT '[]',
    audiences                 TEXT    NOT NULL DEFAULT '[]',
    access_token_ttl_ns       INTEGER NOT NULL DEFAULT 0,
    refresh_token_ttl_ns      INTEGER NOT NULL DEFAULT 0,
    refresh_token_max_ttl_ns  INTEGER NOT NULL DEFAULT 0,
    created_at                INTEGER,
    updated_at                INTEGER,
    secret_rotated_at         INTEGER
) STRICT;

-- username_key is the username in lower case (Go's strings.ToLower, the same
-- in every backend), which makes usernames unique case-insensitively while
-- username keeps the user's spelling.
CREATE TABLE oauth_users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    username            TEXT    NOT NULL,
    username_key        TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    email               TEXT    NOT NULL DEFAULT '',
    email_verified      INTEGER NOT NULL DEFAULT 0,
    name                TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER,
    updated_at          INTEGER,
    password_changed_at INTEGER,
    disabled_at         INTEGER
) STRICT;

CREATE UNIQUE INDEX oauth_users_username_key ON oauth_users (username_key);

CREATE TABLE signing_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    public_jwk   BLOB,
    private_key  BLOB,
    created_at   INTEGER,
    activates_at INTEGER,
    retired_at   INTEGER,
    expires_at   INTEGER
) STRICT;

CREATE TABLE oauth_codes (
    hash           BLOB NOT NULL PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL DEFAULT '[]',
    audiences      TEXT NOT NULL DEFAULT '[]',
    code_challenge TEXT NOT NULL DEFAULT '',
    nonce          TEXT NOT NULL DEFAULT '',
    auth_time      INTEGER,
    session_id     TEXT NOT NULL DEFAULT '',
    family_id      TEXT NOT NULL DEFAULT '',
    created_at     INTEGER,
    expires_at     INTEGER,
    used_at        INTEGER
) STRICT;

CREATE INDEX oauth_codes_client ON oauth_codes (client_id);
CREATE INDEX oauth_codes_family ON oauth_codes (family_id);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

CREATE TABLE refresh_tokens (
    hash              BLOB NOT NULL PRIMARY KEY,
    family_id         TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL DEFAULT '',
    scopes            TEXT NOT NULL DEFAULT '[]',
    audiences         TEXT NOT NULL DEFAULT '[]',
    auth_time         INTEGER,
    session_id        TEXT NOT NULL DEFAULT '',
    created_at        INTEGER,
    expires_at        INTEGER,
    family_expires_at INTEGER,
    used_at           INTEGER,
    revoked_at        INTEGER
) STRICT;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_user ON refresh_tokens (client_id, user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- One row per token family. Every write that adds a token to a family
-- first upserts (and so locks) its row, and revoking a family marks it:
-- a token can never join a family during or after its revocation, even
-- when a code is redeemed twice at the same moment.
CREATE TABLE token_families (
    family_id  TEXT NOT NULL PRIMARY KEY,
    created_at INTEGER,
    revoked_at INTEGER
) STRICT;

-- The access tokens issued in each family, kept until they expire so that
-- revoking the family (or deleting its client or consent) can put them on
-- the revocation list. client_id and user_id are copied from the family when
-- the token is recorded, so they outlive the family's codes and tokens.
CREATE TABLE issued_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL DEFAULT '',
    user_id    TEXT NOT NULL DEFAULT '',
    expires_at INTEGER
) STRICT;

CREATE INDEX issued_tokens_family ON issued_tokens (family_id);
CREATE INDEX issued_tokens_client_user ON issued_tokens (client_id, user_id);
CREATE INDEX issued_tokens_expires ON issued_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT;

-- Nodes poll for entries revoked since their last look.
CREATE INDEX revoked_tokens_revoked ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE used_jtis (
    jti        TEXT NOT NULL PRIMARY KEY,
    expires_at INTEGER
) STRICT;

CREATE INDEX used_jtis_expires ON used_jtis (expires_at);

CREATE TABLE oauth_consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '[]',
    granted_at INTEGER,
    PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE INDEX oauth_consents_client ON oauth_consents (client_id);

CREATE TABLE oauth_sessions (
    hash       BLOB NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    auth_time  INTEGER,
    created_at INTEGER,
    expires_at INTEGER
) STRICT;

CREATE INDEX oauth_sessions_user ON oauth_sessions (user_id);
CREATE INDEX oauth_sessions_expires ON oauth_sessions (expires_at);

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
