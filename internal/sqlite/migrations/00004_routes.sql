-- The gateway routes managed through the admin API. A route's settings are
-- one JSON document (settings): the gateway reads the whole table at once
-- and never queries by a setting, so columns would only multiply the places
-- a new setting must be added. As in 00001, times are UTC unix microseconds
-- (NULL for the zero time); names sort bytewise (BINARY collation).

-- +goose Up
CREATE TABLE gateway_routes (
    name       TEXT NOT NULL PRIMARY KEY,
    settings   TEXT NOT NULL,
    created_at INTEGER,
    updated_at INTEGER
) STRICT;

-- +goose Down
DROP TABLE gateway_routes;
