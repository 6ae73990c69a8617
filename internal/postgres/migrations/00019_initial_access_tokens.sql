-- Initial access tokens of dynamic client registration (RFC 7591 3): an
-- admin issues one for a number of registrations until an expiry. Only the
-- keyed hash of the token is kept.

-- +goose Up
CREATE TABLE initial_access_tokens (
    id           text COLLATE "C" PRIMARY KEY,
    hash         bytea       NOT NULL UNIQUE,
    hint         text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL DEFAULT '',
    uses         integer     NOT NULL,
    used         integer     NOT NULL DEFAULT 0,
    created_at   timestamptz,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- +goose Down
DROP TABLE initial_access_tokens;
