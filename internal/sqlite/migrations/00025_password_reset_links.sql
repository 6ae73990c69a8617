-- Password-reset links made by administrators (issue 15): the token is
-- kept only as its keyed hash; a link works once (used_at), until
-- expires_at, and a new link for a user replaces the older ones. Times are
-- UTC unix microseconds, as in every table.

-- +goose Up
CREATE TABLE password_reset_links (
    hash       BLOB    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES oauth_users (id) ON DELETE CASCADE,
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX password_reset_links_user ON password_reset_links (user_id);
CREATE INDEX password_reset_links_expires ON password_reset_links (expires_at);

-- +goose Down
DROP TABLE password_reset_links;
