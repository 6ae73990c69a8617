-- Authenticator apps and recovery codes (issue 15): one TOTP secret per
-- user, sealed by the mfa service (never stored in the clear), pending
-- until its first code confirms it; the time step of the last accepted
-- code, so that no code is accepted twice; and the keyed hashes of the
-- user's single-use recovery codes.

-- +goose Up
CREATE TABLE totp_secrets (
    user_id      text COLLATE "C" PRIMARY KEY REFERENCES oauth_users (id) ON DELETE CASCADE,
    sealed       bytea  NOT NULL,
    created_at   timestamptz,
    confirmed_at timestamptz,
    last_step    bigint NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id    text COLLATE "C" NOT NULL REFERENCES oauth_users (id) ON DELETE CASCADE,
    hash       bytea NOT NULL,
    created_at timestamptz,
    used_at    timestamptz,
    PRIMARY KEY (user_id, hash)
);

-- +goose Down
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
