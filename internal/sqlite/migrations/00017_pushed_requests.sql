-- Pushed authorization requests (RFC 9126): the request a client pushed,
-- under a keyed hash of the request_uri that stands for it, until the
-- browser brings that request_uri to the authorization endpoint (started)
-- and a code is issued for it (used). Purged once expired.

-- +goose Up
CREATE TABLE pushed_requests (
    hash       BLOB NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL DEFAULT '',
    created_at INTEGER,
    expires_at INTEGER NOT NULL,
    started_at INTEGER,
    used_at    INTEGER
) STRICT;

CREATE INDEX pushed_requests_expires ON pushed_requests (expires_at);

-- +goose Down
DROP TABLE pushed_requests;
