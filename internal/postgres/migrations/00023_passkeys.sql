-- Passkeys (issue 15): the WebAuthn credentials users register, several
-- per user, each named; and the server's half of a ceremony between its
-- begin and its finish, kept here so that any node can finish it, once.

-- +goose Up
CREATE TABLE passkeys (
    id                 text PRIMARY KEY,
    user_id            text NOT NULL,
    name               text NOT NULL,
    credential_id      bytea NOT NULL UNIQUE,
    public_key         bytea NOT NULL,
    attestation_type   text NOT NULL DEFAULT '',
    attestation_format text NOT NULL DEFAULT '',
    attestation        bytea,
    transports         text[] NOT NULL DEFAULT '{}',
    aaguid             bytea,
    attachment         text NOT NULL DEFAULT '',
    sign_count         bigint NOT NULL DEFAULT 0,
    backup_eligible    boolean NOT NULL DEFAULT false,
    backup_state       boolean NOT NULL DEFAULT false,
    user_verified      boolean NOT NULL DEFAULT false,
    clone_warning      boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    last_used_at       timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id, id);

CREATE TABLE passkey_ceremonies (
    hash       bytea PRIMARY KEY,
    kind       text NOT NULL,
    user_id    text NOT NULL DEFAULT '',
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);

-- +goose Down
DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
