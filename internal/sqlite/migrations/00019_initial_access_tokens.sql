-- Initial access tokens of dynamic client registration (RFC 7591 3): an
-- admin issues one for a number of registrations until an expiry. Only the
-- keyed hash of the token is kept.

-- +goose Up
CREATE TABLE initial_access_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    hash         BLOB    NOT NULL UNIQUE,
    hint         TEXT    NOT NULL DEFAULT '',
    created_by   TEXT    NOT NULL DEFAULT '',
    uses         INTEGER NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;

-- +goose Down
DROP TABLE initial_access_tokens;
