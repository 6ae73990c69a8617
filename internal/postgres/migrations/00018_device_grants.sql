-- Device authorizations (RFC 8628): the device code and the user code are
-- kept as keyed hashes only. status is pending, approved, denied or used;
-- user_id, auth_time, session_id and family_id are set by the user's
-- decision; interval_ns grows with slow_down and last_poll_at records the
-- latest poll, so every node throttles the same device alike.

-- +goose Up
CREATE TABLE oauth_device_grants (
    device_code_hash bytea PRIMARY KEY,
    user_code_hash   bytea  NOT NULL,
    client_id        text COLLATE "C" NOT NULL,
    scopes           text[] NOT NULL DEFAULT '{}',
    audiences        text[] NOT NULL DEFAULT '{}',
    status           text   NOT NULL,
    user_id          text COLLATE "C" NOT NULL DEFAULT '',
    auth_time        timestamptz,
    session_id       text   NOT NULL DEFAULT '',
    family_id        text COLLATE "C" NOT NULL DEFAULT '',
    interval_ns      bigint NOT NULL,
    last_poll_at     timestamptz,
    created_at       timestamptz,
    expires_at       timestamptz,
    decided_at       timestamptz,
    used_at          timestamptz
);

CREATE UNIQUE INDEX oauth_device_grants_user_code_idx ON oauth_device_grants (user_code_hash);
CREATE INDEX oauth_device_grants_client_idx ON oauth_device_grants (client_id);
CREATE INDEX oauth_device_grants_user_idx ON oauth_device_grants (user_id, client_id);
CREATE INDEX oauth_device_grants_family_idx ON oauth_device_grants (family_id);
CREATE INDEX oauth_device_grants_expires_idx ON oauth_device_grants (expires_at);

-- +goose Down
DROP TABLE oauth_device_grants;
