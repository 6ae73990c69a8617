-- Cluster membership (issue 13): each running node upserts its row on
-- every heartbeat, so the nodes can count each other (a shared limit
-- falls back to limit ÷ nodes when Redis is down) and operators can list
-- them. A node's ID is new at each start. Times are UTC unix
-- microseconds, as in every table.

-- +goose Up
CREATE TABLE nodes (
    id         TEXT    NOT NULL PRIMARY KEY,
    hostname   TEXT    NOT NULL DEFAULT '',
    version    TEXT    NOT NULL DEFAULT '',
    address    TEXT    NOT NULL DEFAULT '',
    started_at INTEGER,
    seen_at    INTEGER NOT NULL
) STRICT;

-- Counting the live nodes and pruning the dead ones both read by seen_at.
CREATE INDEX nodes_seen ON nodes (seen_at);

-- +goose Down
DROP TABLE nodes;
