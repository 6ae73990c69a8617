-- Usage counts of verifications, rolled up at write time into minute, hour
-- and day buckets (granularity 'minute', 'hour', 'day'; bucket_start in Unix
-- seconds, UTC). Every node adds its own counts to the same rows
-- (count = count + n), so the totals are exact across nodes.
--
-- The primary key leads with (granularity, bucket_start): retention deletes
-- a prefix of it, and a query without a subject reads a range of it. Each
-- subject a query filters by has an index of its own, ending with the
-- bucket so the range is read in order.

-- +goose Up
CREATE TABLE usage_counts (
    granularity  TEXT    NOT NULL,
    bucket_start INTEGER NOT NULL,
    key_id       TEXT    NOT NULL DEFAULT '',
    client_id    TEXT    NOT NULL DEFAULT '',
    user_id      TEXT    NOT NULL DEFAULT '',
    route        TEXT    NOT NULL DEFAULT '',
    owner        TEXT    NOT NULL DEFAULT '',
    outcome      TEXT    NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (granularity, bucket_start, key_id, client_id, user_id, route, owner, outcome)
) STRICT, WITHOUT ROWID;

CREATE INDEX usage_counts_key_id    ON usage_counts (key_id, granularity, bucket_start);
CREATE INDEX usage_counts_client_id ON usage_counts (client_id, granularity, bucket_start);
CREATE INDEX usage_counts_user_id   ON usage_counts (user_id, granularity, bucket_start);
CREATE INDEX usage_counts_route     ON usage_counts (route, granularity, bucket_start);
CREATE INDEX usage_counts_owner     ON usage_counts (owner, granularity, bucket_start);

-- +goose Down
DROP TABLE usage_counts;
