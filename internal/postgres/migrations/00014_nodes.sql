-- Cluster membership (issue 13): each running node upserts its row on
-- every heartbeat, so the nodes can count each other (a shared limit
-- falls back to limit ÷ nodes when Redis is down) and operators can list
-- them. A node's ID is new at each start.

-- +goose Up
CREATE TABLE nodes (
    id         text COLLATE "C" PRIMARY KEY,
    hostname   text NOT NULL DEFAULT '',
    version    text NOT NULL DEFAULT '',
    address    text NOT NULL DEFAULT '',
    started_at timestamptz,
    seen_at    timestamptz NOT NULL
);

-- Counting the live nodes and pruning the dead ones both read by seen_at.
CREATE INDEX nodes_seen_idx ON nodes (seen_at);

-- +goose Down
DROP TABLE nodes;
