-- Password-reset links made by administrators (issue 15): the token is
-- kept only as its keyed hash; a link works once (used_at), until
-- expires_at, and a new link for a user replaces the older ones.

-- +goose Up
CREATE TABLE password_reset_links (
    hash       bytea PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL REFERENCES oauth_users (id) ON DELETE CASCADE,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX password_reset_links_user_idx ON password_reset_links (user_id);
CREATE INDEX password_reset_links_expires_idx ON password_reset_links (expires_at);

-- +goose Down
DROP TABLE password_reset_links;
