-- Pushed authorization requests (RFC 9126): the request a client pushed,
-- under a keyed hash of the request_uri that stands for it, until the
-- browser brings that request_uri to the authorization endpoint (started)
-- and a code is issued for it (used). Shared by every node, so a request
-- pushed to one can be used at another. Purged once expired.

-- +goose Up
CREATE TABLE pushed_requests (
    hash       bytea PRIMARY KEY,
    client_id  text COLLATE "C" NOT NULL,
    params     text NOT NULL DEFAULT '',
    created_at timestamptz,
    expires_at timestamptz NOT NULL,
    started_at timestamptz,
    used_at    timestamptz
);

CREATE INDEX pushed_requests_expires_idx ON pushed_requests (expires_at);

-- +goose Down
DROP TABLE pushed_requests;
