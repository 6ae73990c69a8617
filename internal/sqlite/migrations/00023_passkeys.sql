-- Passkeys (issue 15): the WebAuthn credentials users register, several
-- per user, each named; and the server's half of a ceremony between its
-- begin and its finish, kept here so that any node can finish it, once.

-- +goose Up
CREATE TABLE passkeys (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL,
    name               TEXT NOT NULL,
    credential_id      BLOB NOT NULL UNIQUE,
    public_key         BLOB NOT NULL,
    attestation_type   TEXT NOT NULL DEFAULT '',
    attestation_format TEXT NOT NULL DEFAULT '',
    attestation        BLOB,
    transports         TEXT NOT NULL DEFAULT '[]',
    aaguid             BLOB,
    attachment         TEXT NOT NULL DEFAULT '',
    sign_count         INTEGER NOT NULL DEFAULT 0,
    backup_eligible    INTEGER NOT NULL DEFAULT 0,
    backup_state       INTEGER NOT NULL DEFAULT 0,
    user_verified      INTEGER NOT NULL DEFAULT 0,
    clone_warning      INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id, id);

CREATE TABLE passkey_ceremonies (
    hash       BLOB PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);

-- +goose Down
DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
