-- Where a browser session came from: the User-Agent header and the client
-- IP address of its sign-in, recorded so that a user can be shown them and
-- notice a session they did not start. Sessions created before this
-- version get empty text: nothing was recorded for them. (A constant
-- default adds the columns without rewriting the table.)

-- +goose Up
ALTER TABLE oauth_sessions
    ADD COLUMN user_agent text NOT NULL DEFAULT '',
    ADD COLUMN address    text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_sessions
    DROP COLUMN address,
    DROP COLUMN user_agent;
