-- The gateway routes managed through the admin API. A route's settings are
-- one JSON document (settings): the gateway reads the whole table at once
-- and never queries by a setting, so columns would only multiply the places
-- a new setting must be added. Names use the "C" collation so they sort
-- bytewise, as in Go and SQLite. NULL stands for the zero time.Time.

-- +goose Up
CREATE TABLE gateway_routes (
    name       text COLLATE "C" PRIMARY KEY,
    settings   jsonb NOT NULL,
    created_at timestamptz,
    updated_at timestamptz
);

-- +goose Down
DROP TABLE gateway_routes;
