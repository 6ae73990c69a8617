-- Authenticator apps and recovery codes (issue 15): one TOTP secret per
-- user, sealed by the mfa service (never stored in the clear), pending
-- until its first code confirms it; the time step of the last accepted
-- code, so that no code is accepted twice; and the keyed hashes of the
-- user's single-use recovery codes.

-- +goose Up
CREATE TABLE totp_secrets (
    user_id      TEXT    NOT NULL PRIMARY KEY REFERENCES oauth_users (id) ON DELETE CASCADE,
    sealed       BLOB    NOT NULL,
    created_at   INTEGER,
    confirmed_at INTEGER,
    last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES oauth_users (id) ON DELETE CASCADE,
    hash       BLOB    NOT NULL,
    created_at INTEGER,
    used_at    INTEGER,
    PRIMARY KEY (user_id, hash)
) STRICT;

-- +goose Down
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
