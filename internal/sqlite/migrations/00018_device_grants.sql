-- Device authorizations (RFC 8628): the device code and the user code are
-- kept as keyed hashes only. status is pending, approved, denied or used;
-- user_id, auth_time, session_id and family_id are set by the user's
-- decision; interval_ns grows with slow_down and last_poll_at records the
-- latest poll, so every node throttles the same device alike.

-- +goose Up
CREATE TABLE oauth_device_grants (
    device_code_hash BLOB    NOT NULL PRIMARY KEY,
    user_code_hash   BLOB    NOT NULL,
    client_id        TEXT    NOT NULL,
    scopes           TEXT    NOT NULL DEFAULT '[]',
    audiences        TEXT    NOT NULL DEFAULT '[]',
    status           TEXT    NOT NULL,
    user_id          TEXT    NOT NULL DEFAULT '',
    auth_time        INTEGER,
    session_id       TEXT    NOT NULL DEFAULT '',
    family_id        TEXT    NOT NULL DEFAULT '',
    interval_ns      INTEGER NOT NULL,
    last_poll_at     INTEGER,
    created_at       INTEGER,
    expires_at       INTEGER,
    decided_at       INTEGER,
    used_at          INTEGER
) STRICT;

CREATE UNIQUE INDEX oauth_device_grants_user_code ON oauth_device_grants (user_code_hash);
CREATE INDEX oauth_device_grants_client ON oauth_device_grants (client_id);
CREATE INDEX oauth_device_grants_user ON oauth_device_grants (user_id, client_id);
CREATE INDEX oauth_device_grants_family ON oauth_device_grants (family_id);
CREATE INDEX oauth_device_grants_expires ON oauth_device_grants (expires_at);

-- +goose Down
DROP TABLE oauth_device_grants;
